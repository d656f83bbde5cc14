"""Bar files (CSV, Parquet, IBKR JSON, folders of them) into :class:`~framework.history.BarData`."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import replace
from datetime import timedelta
from importlib import import_module
from pathlib import Path
from types import ModuleType
from typing import Any

from framework.errors import DataError
from framework.history import BarData
from framework.history import BarSeries
from tradebus.data.columns import Columns
from tradebus.data.columns import RowCollector
from tradebus.data.columns import bar_data
from tradebus.data.layout import EXPECTED_ANY
from tradebus.data.layout import Layout
from tradebus.data.layout import resolve
from tradebus.data.timestamps import TimeParser

SUFFIXES = (".csv", ".parquet", ".pq", ".json")
"""File types :func:`load_bars` reads (a folder: the files with these suffixes)."""
ENGINES = ("auto", "arrow", "python")


@dataclass(frozen=True)
class Options:
    """How to read a file (the loaders' keyword arguments; see :func:`tradebus.data.load_bars`)."""

    duration: timedelta | None = None
    symbol: str | None = None
    tz: str | None = None
    format: str | None = None
    columns: Mapping[str, str] | None = None
    adjusted: bool = False
    engine: str = "auto"

    def symbol_for(self, path: Path) -> str:
        """The symbol of a file without a symbol column: the ``symbol`` option or the file's stem."""
        return self.symbol or path.stem

    def fast_path(self) -> ModuleType | None:
        """The pyarrow path (:mod:`tradebus.data.arrow`) if it is to be tried, else None.

        Raises:
            ImportError: If ``engine="arrow"`` and pyarrow (or numpy) is missing.
            ValueError: If ``engine`` is not one of :data:`ENGINES`.
        """
        if self.engine not in ENGINES:
            msg = f"engine must be one of {', '.join(ENGINES)}, received {self.engine!r}"
            raise ValueError(msg)
        if self.engine == "python":
            return None
        try:
            return import_module("tradebus.data.arrow")
        except ImportError as e:
            if self.engine == "arrow":
                msg = "engine='arrow' needs pyarrow and numpy: pip install 'tradebus[data]'"
                raise ImportError(msg) from e
            return None


def read_csv(path: Path, options: Options) -> BarData:
    """Load a CSV file (see :func:`tradebus.data.load_csv`)."""
    source = str(path)
    head = _head(path, source)
    layout = resolve(head.header, source, format=options.format or head.format, columns=options.columns,
                     adjusted=options.adjusted)
    symbol = options.symbol or head.symbol or path.stem
    series: dict[str, Columns] | None = None
    arrow = options.fast_path()
    if arrow is not None and head.first:
        at = layout.index("timestamp") or 0
        sample = head.first[at] if at < len(head.first) else ""
        series = arrow.read_csv(path, layout, options.tz, symbol, sample, header_rows=head.rows)
    if series is None:
        collector = RowCollector(layout, TimeParser(options.tz), symbol, source)
        series = collector.add_all(_csv_rows(path, source, len(layout.header), head.rows))
    return bar_data(series, options.duration, source)


@dataclass(frozen=True)
class Head:
    """The start of a CSV file.

    Attributes:
        header: Column names.
        first: The first row of data, if any.
        rows: How many rows the header takes (3 in yfinance's ``Price``/``Ticker``/``Date`` header).
        symbol: The symbol the header names (yfinance's ``Ticker`` row), if any.
        format: The format the header's shape shows (yfinance: ``yahoo``), if any.
    """

    header: list[str]
    first: list[str] | None
    rows: int = 1
    symbol: str | None = None
    format: str | None = None


def _head(path: Path, source: str) -> Head:
    """Read the header and the first row.

    Raises:
        DataError: If the file is empty or binary (NUL bytes or not UTF-8 near its start), or a
            yfinance export holds several tickers.
    """
    with _text(path, source) as f:
        if "\x00" in f.buffer.peek(8192)[:8192].decode("latin-1"):
            raise _not_text(source, csv.Error("NUL"))
        reader = csv.reader(f)
        try:
            header = _non_blank(reader)
            first = next(reader, None)
            if header and first and header[0].strip().lower() == "price" and first[0].strip().lower() == "ticker":
                return _yfinance_head(header, first, reader, source)
        except (UnicodeDecodeError, csv.Error) as e:
            raise _not_text(source, e) from e
    if not header or not any(h.strip() for h in header):
        raise DataError(f"the file is empty; expected a CSV header: {EXPECTED_ANY}", source=source)
    return Head(header, first)


def _yfinance_head(header: list[str], tickers: list[str], reader: Iterator[list[str]], source: str) -> Head:
    # yfinance's DataFrame.to_csv: "Price,Close,High,...", "Ticker,AAPL,AAPL,...", "Date,,,..."
    names = {t.strip() for t in tickers[1:]}
    if len(names) != 1:
        msg = ("a yfinance export of several tickers: save one ticker per file, or pass the DataFrame to "
               "bars_from_frame")
        raise DataError(msg, source=source, line=2)
    index_row = next(reader, None)
    time_name = index_row[0].strip() if index_row and index_row[0].strip() else "Date"
    return Head([time_name, *header[1:]], next(reader, None), rows=3, symbol=names.pop(), format="yahoo")


def _csv_rows(path: Path, source: str, width: int, header_rows: int) -> Iterator[tuple[int, list[str]]]:
    with _text(path, source) as f:
        reader = csv.reader(f)
        try:
            for _ in range(header_rows):
                _non_blank(reader)
            for row in reader:
                if len(row) != width:
                    if not row:
                        continue  # a blank line
                    raise DataError(f"expected {width} fields, found {len(row)}", source=source, line=reader.line_num)
                yield reader.line_num, row
        except (UnicodeDecodeError, csv.Error) as e:
            raise _not_text(source, e, reader.line_num + 1) from e


def _non_blank(reader: Iterator[list[str]]) -> list[str] | None:
    """The next row that is not a blank line (None at the end)."""
    return next((row for row in reader if row), None)


def _text(path: Path, source: str) -> Any:
    try:
        return path.open(newline="", encoding="utf-8-sig")  # a UTF-8 byte-order mark is skipped
    except IsADirectoryError as e:
        raise DataError("is a folder; load it with load_bars", source=source) from e


def _not_text(source: str, error: Exception, line: int | None = None) -> DataError:
    if isinstance(error, UnicodeDecodeError):
        what = "it is not UTF-8 text"
    else:
        what = "it contains NUL bytes" if "NUL" in str(error) else f"unreadable CSV ({error})"
    return DataError(f"not a CSV text file: {what}; expected a CSV with a header such as {EXPECTED_ANY}",
                     source=source, line=line)


def read_parquet(path: Path, options: Options) -> BarData:
    """Load a Parquet file (see :func:`tradebus.data.load_parquet`)."""
    try:
        import pyarrow as pa  # noqa: PLC0415 - optional dependency
        import pyarrow.parquet as pq  # noqa: PLC0415

        from tradebus.data import arrow  # noqa: PLC0415
    except ImportError as e:
        msg = "reading Parquet needs pyarrow: pip install 'tradebus[data]'"
        raise ImportError(msg) from e
    source = str(path)
    try:
        table = pq.read_table(source)
    except (pa.ArrowException, OSError) as e:
        raise DataError(f"not a Parquet file ({e}); expected a Parquet table with the columns {EXPECTED_ANY}",
                        source=source) from e
    layout = resolve(table.column_names, source, format=options.format, columns=options.columns,
                     adjusted=options.adjusted)
    series = None
    if options.fast_path() is not None:
        series = arrow.table_columns(table, layout, options.tz, options.symbol_for(path))
    if series is None:
        cells = [table.column(name).to_pylist() for name in layout.header]
        collector = RowCollector(layout, TimeParser(options.tz), options.symbol_for(path), source)
        series = collector.add_all(enumerate(zip(*cells, strict=True), start=1))
    return bar_data(series, options.duration, source)


_JSON_LAYOUT = Layout("ibkr", {f: f for f in ("timestamp", "open", "high", "low", "close", "volume")},
                      ["timestamp", "open", "high", "low", "close", "volume"])


def read_json(path: Path, options: Options) -> BarData:
    """Load an IBKR Client Portal history response (see :func:`tradebus.data.load_json`)."""
    source = str(path)
    try:
        document = json.loads(path.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError as e:
        raise DataError("not a JSON text file (it is not UTF-8)", source=source) from e
    except json.JSONDecodeError as e:
        raise DataError(f"not valid JSON: {e.msg}", source=source, line=e.lineno) from e
    bars = document.get("data") if isinstance(document, dict) else None
    if not isinstance(bars, list) or not all(isinstance(b, dict) for b in bars):
        raise DataError('expected an IBKR history response {"symbol": ..., "data": [{"t", "o", "h", "l", "c", '
                        '"v"}, ...]}', source=source)
    symbol = options.symbol or document.get("symbol") or path.stem
    bar_length = document.get("barLength")
    if options.duration is None and isinstance(bar_length, int) and bar_length > 0:
        options = replace(options, duration=timedelta(seconds=bar_length))
    collector = RowCollector(_JSON_LAYOUT, TimeParser(None), str(symbol), source)
    rows = ((i, [_seconds(b.get("t")), b.get("o"), b.get("h"), b.get("l"), b.get("c"), b.get("v", 0)])
            for i, b in enumerate(bars, start=1))
    return bar_data(collector.add_all(rows), options.duration, source)


def _seconds(ms: object) -> object:
    # "t" is the bar start in epoch milliseconds; anything else is left for the parser to refuse
    if isinstance(ms, int) and not isinstance(ms, bool) and ms % 1000 == 0:
        return ms // 1000
    return f"{ms} (t must be whole seconds in epoch milliseconds)"


def read_path(path: Path, options: Options) -> BarData:
    """Load a bar file by its suffix, or every bar file of a folder.

    Raises:
        DataError: If the suffix is unknown, a folder has no bar files or two files hold one symbol.
    """
    if path.is_dir():
        return _read_folder(path, options)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return read_csv(path, options)
    if suffix in (".parquet", ".pq"):
        return read_parquet(path, options)
    if suffix == ".json":
        return read_json(path, options)
    raise DataError(f"unknown bar file type {suffix!r} (expected .csv, .parquet or .json, or a folder of them)",
                    source=str(path))


def _read_folder(folder: Path, options: Options) -> BarData:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in SUFFIXES and p.is_file())
    if not files:
        raise DataError(f"no bar files ({', '.join(SUFFIXES)}) in the folder", source=str(folder))
    series: dict[str, BarSeries] = {}
    origin: dict[str, Path] = {}
    for path in files:
        for symbol, bars in read_path(path, replace(options, symbol=None)).items():
            if symbol in series:
                raise DataError(f"{symbol} is also in {origin[symbol]}", source=str(path))
            series[symbol], origin[symbol] = bars, path
    return BarData(series.values())
