"""Bar files and broker history into :class:`~framework.history.BarData`.

Sources:

* CSV with the header ``timestamp,symbol,open,high,low,close,volume`` and ISO-8601 UTC timestamps of
  the bar *start* (``2024-01-02T14:30:00Z``); several symbols may be interleaved.
* Parquet with the same columns, when ``pyarrow`` is installed (``timestamp`` as text or as a
  timezone-aware timestamp column).
* Any :class:`~framework.broker.MarketData` through :func:`bars_from_source`, e.g. a broker's
  history endpoint.

Every row is validated as it enters its series (see :mod:`framework.history`); a bad row raises
:class:`~framework.errors.DataError` naming the file and line (CSV, counting the header as line 1)
or row (other sources, 1-based).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

from framework.broker import MarketData
from framework.errors import DataError
from framework.history import BarData
from framework.history import BarSeries
from framework.history import BarSeriesBuilder
from framework.history import series_from_bars
from framework.models import Instrument

CSV_COLUMNS = ("timestamp", "symbol", "open", "high", "low", "close", "volume")
"""The required columns of a bar file, in this order for files we write."""

_ONE_MINUTE = timedelta(minutes=1)


def parse_timestamp(text: str) -> int:
    """Parse an ISO-8601 timestamp with a UTC offset into whole epoch seconds.

    Raises:
        ValueError: If it is malformed, has no offset, or has a fraction of a second.
    """
    ts = datetime.fromisoformat(text)
    if ts.tzinfo is None:
        msg = f"timestamp {text!r} has no timezone (write it as UTC, e.g. 2024-01-02T14:30:00Z)"
        raise ValueError(msg)
    if ts.microsecond:
        msg = f"timestamp {text!r} has a fraction of a second"
        raise ValueError(msg)
    return int(ts.timestamp())


def _rows_to_data(rows: Iterable[tuple[int, Any]], source: str, duration: timedelta) -> BarData:
    # rows: (line, sequence of the seven columns in CSV_COLUMNS order)
    builders: dict[str, BarSeriesBuilder] = {}
    for line, row in rows:
        try:
            start = row[0] if isinstance(row[0], int) else parse_timestamp(row[0])
            symbol = str(row[1]).strip()
            o, h, low, c, v = (float(x) for x in row[2:7])
        except (ValueError, TypeError) as e:
            raise DataError(f"cannot parse row: {e}", source=source, line=line) from e
        if not symbol:
            raise DataError("symbol is empty", source=source, line=line)
        builder = builders.get(symbol)
        if builder is None:
            builder = builders[symbol] = BarSeriesBuilder(symbol, duration, source)
        builder.append((start, o, h, low, c, v), line)
    return BarData(b.build() for b in builders.values())


def load_csv(path: str | Path, duration: timedelta = _ONE_MINUTE) -> BarData:
    """Load and validate bars from a CSV file (format in the module docstring).

    Raises:
        DataError: If the header or any row is invalid; names the file and line.
    """
    source = str(path)
    with Path(path).open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = [h.strip().lower() for h in next(reader, [])]
        missing = [c for c in CSV_COLUMNS if c not in header]
        if missing:
            raise DataError(
                f"missing column(s) {', '.join(missing)}; expected {','.join(CSV_COLUMNS)}", source=source, line=1
            )
        index = [header.index(c) for c in CSV_COLUMNS]

        def rows() -> Iterator[tuple[int, list[str]]]:
            for row in reader:
                if len(row) != len(header):
                    raise DataError(
                        f"expected {len(header)} fields, found {len(row)}", source=source, line=reader.line_num
                    )
                yield reader.line_num, [row[i] for i in index]

        return _rows_to_data(rows(), source, duration)


def load_parquet(path: str | Path, duration: timedelta = _ONE_MINUTE) -> BarData:
    """Load and validate bars from a Parquet file with the CSV's columns (needs ``pyarrow``).

    Raises:
        ImportError: If pyarrow is not installed.
        DataError: If a column is missing or a row is invalid; names the file and 1-based row.
    """
    try:
        import pyarrow.parquet as pq  # noqa: PLC0415 - optional dependency
    except ImportError as e:
        msg = "reading Parquet needs pyarrow: pip install pyarrow"
        raise ImportError(msg) from e
    source = str(path)
    table = pq.read_table(source)
    missing = [c for c in CSV_COLUMNS if c not in table.column_names]
    if missing:
        raise DataError(f"missing column(s) {', '.join(missing)}", source=source)
    columns = [table.column(c).to_pylist() for c in CSV_COLUMNS]
    columns[0] = [_parquet_time(t) for t in columns[0]]
    return _rows_to_data(enumerate(zip(*columns, strict=True), start=1), source, duration)


def _parquet_time(value: object) -> int | str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.isoformat()  # rejected by parse_timestamp as naive, with the value shown
        return parse_timestamp(value.isoformat())
    return str(value)


def load_bars(path: str | Path, duration: timedelta = _ONE_MINUTE) -> BarData:
    """Load a ``.csv`` or ``.parquet`` bar file (chosen by suffix).

    Raises:
        DataError: If the suffix is unknown or the data is invalid.
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return load_csv(path, duration)
    if suffix in (".parquet", ".pq"):
        return load_parquet(path, duration)
    raise DataError(f"unknown bar file type {suffix!r} (expected .csv or .parquet)", source=str(path))


def bars_from_source(
    source: MarketData, instrument: Instrument, duration: timedelta, start: datetime, end: datetime
) -> BarSeries:
    """Fetch history through any market-data source (a broker adapter's history endpoint) and validate it.

    Raises:
        DataError: If the source returns invalid or unordered bars.
    """
    bars = source.historical_bars(instrument, duration, start, end)
    name = f"{getattr(source, 'name', type(source).__name__)} history {instrument.symbol}"
    return series_from_bars(bars, instrument.symbol, duration, name)


def write_csv(data: BarData, path: str | Path) -> None:
    """Write bars in the loader's CSV format, ordered by time then symbol (round-trips with :func:`load_csv`)."""
    rows = sorted((s.starts[i], symbol, i) for symbol, s in data.items() for i in range(len(s)))
    with Path(path).open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for start, symbol, i in rows:
            s = data[symbol]
            ts = datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            volume = s.volumes[i]
            prices = (repr(col[i]) for col in (s.opens, s.highs, s.lows, s.closes))
            writer.writerow([ts, symbol, *prices, str(int(volume)) if volume.is_integer() else repr(volume)])
