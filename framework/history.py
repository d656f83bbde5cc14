"""Historical bars: load, validate and store them compactly, and replay them lazily.

Bars are kept per symbol as columns (:class:`BarSeries`: ``array('q')`` epoch seconds of each bar's
start, ``array('d')`` open/high/low/close/volume), about 48 bytes a bar, instead of a list of
:class:`~framework.marketdata.Bar` tuples (~170 bytes plus two datetimes each). A million bars fit in
about 50 MB and are turned into ``Bar`` objects one at a time as they are replayed.

Every row is checked once, when it enters a series: timestamps strictly increasing per symbol (so
sorted, no duplicates), whole seconds, prices positive and finite, ``high >= max(open, close)``,
``low <= min(open, close)``, volume non-negative. A bad row raises
:class:`~framework.errors.DataError` naming the source, the line (CSV, counting the header as line
1) or row (other sources, 1-based) and the reason. Because of that check, replay builds bars without
validating them again (see :meth:`BarSeries.events`).

Sources:

* CSV with the header ``timestamp,symbol,open,high,low,close,volume`` and ISO-8601 UTC timestamps of
  the bar *start* (``2024-01-02T14:30:00Z``); several symbols may be interleaved.
* Parquet with the same columns, when ``pyarrow`` is installed (``timestamp`` as text or as a
  timezone-aware timestamp column).
* Any :class:`~framework.broker.MarketData` through :func:`bars_from_source`, e.g. a broker's
  history endpoint.
"""

from __future__ import annotations

import csv
import math
from array import array
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

from framework.broker import MarketData
from framework.errors import DataError
from framework.events import BarClosed
from framework.marketdata import Bar
from framework.models import Instrument

CSV_COLUMNS = ("timestamp", "symbol", "open", "high", "low", "close", "volume")
"""The required columns of a bar file, in this order for files we write."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MINUTE = timedelta(minutes=1)


Row = tuple[int, float, float, float, float, float]
"""One bar as stored: (start in epoch seconds, open, high, low, close, volume)."""


def check_bar(row: Row, previous: int | None) -> str | None:
    """Return why a bar row is invalid, or None if it is fine.

    Args:
        row: The bar (see :data:`Row`).
        previous: Start of the symbol's previous bar, if any.
    """
    start, o, h, low, c, v = row
    if previous is not None and start <= previous:
        return "duplicate timestamp" if start == previous else "timestamps are not in ascending order"
    problems = (
        (not all(math.isfinite(x) for x in (o, h, low, c, v)), "prices and volume must be finite numbers"),
        (min(o, h, low, c) <= 0, "prices must be positive"),
        (h < max(o, c), f"high {h} is below max(open, close) {max(o, c)}"),
        (low > min(o, c), f"low {low} is above min(open, close) {min(o, c)}"),
        (v < 0, f"volume {v} is negative"),
    )
    return next((reason for failed, reason in problems if failed), None)


class BarSeries:
    """Validated bars of one symbol and one duration, stored as columns.

    Build one with :class:`BarSeriesBuilder` (or a loader); the columns are read-only by convention
    (replay trusts them, see the module docstring).

    Args:
        symbol: Instrument symbol.
        duration: Length of every bar.
        columns: ``(starts, opens, highs, lows, closes, volumes)`` as built by the builder.
    """

    __slots__ = ("closes", "duration", "highs", "lows", "opens", "starts", "symbol", "volumes")

    def __init__(
        self,
        symbol: str,
        duration: timedelta,
        columns: tuple[array[int], array[float], array[float], array[float], array[float], array[float]],
    ) -> None:
        self.symbol = symbol
        self.duration = duration
        self.starts, self.opens, self.highs, self.lows, self.closes, self.volumes = columns

    def __len__(self) -> int:
        return len(self.starts)

    def __iter__(self) -> Iterator[Bar]:
        for event in self.events():
            yield event.bar

    def bar(self, index: int) -> Bar:
        """The bar at ``index`` (negative indexes count from the end)."""
        start = _EPOCH + timedelta(seconds=self.starts[index])
        return Bar(
            self.symbol, start, self.duration, self.opens[index], self.highs[index], self.lows[index],
            self.closes[index], self.volumes[index],
        )  # fmt: skip

    def events(self) -> Iterator[BarClosed]:
        """Yield ``BarClosed(end, bar)`` for every bar, oldest first, building each bar lazily.

        Hot path of every backtest: rows were validated when stored, so bars are built with
        ``tuple.__new__`` (0.25 µs) rather than ``Bar(...)`` (1 µs), and a bar that starts where the
        previous one ended reuses that datetime.
        """
        new, bar_type, event_type = tuple.__new__, Bar, BarClosed
        symbol, duration = self.symbol, self.duration
        step = int(duration.total_seconds())
        last_end, last_end_dt = None, _EPOCH
        columns = zip(self.starts, self.opens, self.highs, self.lows, self.closes, self.volumes, strict=True)
        for start, o, h, low, c, v in columns:
            start_dt = last_end_dt if start == last_end else datetime.fromtimestamp(start, UTC)
            last_end, last_end_dt = start + step, start_dt + duration
            yield new(event_type, (last_end_dt, new(bar_type, (symbol, start_dt, duration, o, h, low, c, v))))

    def between(self, start: datetime, end: datetime) -> list[Bar]:
        """Bars starting in ``[start, end)``, oldest first."""
        first, last = start.timestamp(), end.timestamp()
        return [self.bar(i) for i, s in enumerate(self.starts) if first <= s < last]


class BarSeriesBuilder:
    """Accumulates validated rows of one symbol into a :class:`BarSeries`.

    Args:
        symbol: Instrument symbol.
        duration: Length of every bar.
        source: Name of the data source, used in errors.
    """

    def __init__(self, symbol: str, duration: timedelta = _ONE_MINUTE, source: str | None = None) -> None:
        if duration <= timedelta(0) or duration % timedelta(seconds=1):
            msg = f"duration must be a positive whole number of seconds, received {duration}"
            raise ValueError(msg)
        self.symbol = symbol
        self.duration = duration
        self.source = source
        self._columns = (array("q"), array("d"), array("d"), array("d"), array("d"), array("d"))
        self._previous: int | None = None

    def append(self, row: Row, line: int | None) -> None:
        """Check one row and store it.

        Raises:
            DataError: If the row is invalid (names the source and ``line``).
        """
        reason = check_bar(row, self._previous)
        if reason is not None:
            raise DataError(f"{self.symbol}: {reason}", source=self.source, line=line)
        start, o, h, low, c, v = row
        self._previous = start
        starts, opens, highs, lows, closes, volumes = self._columns
        starts.append(start)
        opens.append(o)
        highs.append(h)
        lows.append(low)
        closes.append(c)
        volumes.append(v)

    def build(self) -> BarSeries:
        """Return the series built so far."""
        return BarSeries(self.symbol, self.duration, self._columns)


class BarData(Mapping[str, BarSeries]):
    """Bars of several symbols: a read-only mapping ``symbol -> BarSeries``, iterated by symbol.

    Args:
        series: The series; symbols must be unique.
    """

    def __init__(self, series: Iterable[BarSeries]) -> None:
        self._series: dict[str, BarSeries] = {}
        for s in sorted(series, key=lambda s: s.symbol):
            if s.symbol in self._series:
                msg = f"two series for symbol {s.symbol!r}"
                raise ValueError(msg)
            self._series[s.symbol] = s

    def __getitem__(self, symbol: str) -> BarSeries:
        return self._series[symbol]

    def __iter__(self) -> Iterator[str]:
        return iter(self._series)

    def __len__(self) -> int:
        return len(self._series)

    @property
    def bar_count(self) -> int:
        """Number of bars over all symbols."""
        return sum(len(s) for s in self._series.values())


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


def series_from_bars(bars: Iterable[Bar], symbol: str, duration: timedelta, source: str) -> BarSeries:
    """Validate bars (e.g. from a broker) into a series; they must all be ``symbol`` and ``duration``.

    Raises:
        DataError: If a bar is of another symbol or duration, or out of order; names the 1-based row.
    """
    builder = BarSeriesBuilder(symbol, duration, source)
    for row, bar in enumerate(bars, start=1):
        if bar.symbol != symbol or bar.duration != duration:
            raise DataError(
                f"expected {symbol} bars of {duration}, found {bar.symbol} of {bar.duration}", source=source, line=row
            )
        if bar.start.microsecond:
            raise DataError("bar start has a fraction of a second", source=source, line=row)
        start = int(bar.start.timestamp())
        builder.append((start, bar.open, bar.high, bar.low, bar.close, bar.volume), row)
    return builder.build()


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
