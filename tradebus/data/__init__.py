"""Bar files, DataFrames and broker history into :class:`~framework.history.BarData`.

Sources (details in ``docs/backtesting.md``, "Data files"):

* CSV: the tradebus format ``timestamp,symbol,open,high,low,close,volume``, Yahoo Finance exports,
  IBKR TWS / ib_insync exports, or any header with a ``columns=`` mapping (see
  :mod:`tradebus.data.layout`); the format is detected from the header unless ``format=`` is given.
* Parquet with the same columns (needs pyarrow); IBKR Client Portal history JSON.
* A folder: every ``.csv``, ``.parquet`` and ``.json`` file in it.
* A pandas DataFrame (:func:`bars_from_frame`), and any :class:`~framework.broker.MarketData`
  history endpoint (:func:`bars_from_source`).

Timestamps are bar starts; those without an offset need ``tz`` (see :mod:`tradebus.data.timestamps`).
A file without a symbol column holds the bars of ``symbol=``, or else of its file name's stem
(``AAPL.csv``: AAPL). The bar length is inferred from the data unless ``duration`` is given
(:func:`infer_bar_duration`).

Every row is checked (:func:`~framework.history.check_bar`); a bad row raises
:class:`~framework.errors.DataError` naming the file and line (CSV, counting the header as line 1)
or row (Parquet, JSON, DataFrame: 1-based). With pyarrow installed files are parsed and checked a
column at a time (:mod:`tradebus.data.arrow`); without it, or when that path finds a problem, row by
row in pure Python, which names the bad line. Both give the same bars and the same errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

from framework.history import BarData
from tradebus.data.files import Options
from tradebus.data.files import read_csv
from tradebus.data.files import read_json
from tradebus.data.files import read_parquet
from tradebus.data.files import read_path
from tradebus.data.frame import bars_from_frame
from tradebus.data.inference import infer_bar_duration
from tradebus.data.sources import CSV_COLUMNS
from tradebus.data.sources import bars_from_source
from tradebus.data.sources import write_csv
from tradebus.data.timestamps import parse_timestamp

__all__ = [
    "CSV_COLUMNS",
    "bars_from_frame",
    "bars_from_source",
    "infer_bar_duration",
    "load_bars",
    "load_csv",
    "load_json",
    "load_parquet",
    "parse_timestamp",
    "write_csv",
]


def load_bars(
    path: str | Path,
    duration: timedelta | None = None,
    *,
    symbol: str | None = None,
    tz: str | None = None,
    format: str | None = None,
    columns: Mapping[str, str] | None = None,
    adjusted: bool = False,
    engine: str = "auto",
) -> BarData:
    """Load a bar file (``.csv``, ``.parquet``, ``.json``, chosen by suffix) or a folder of them.

    Args:
        path: The file, or a folder whose bar files are each loaded (symbol from the file's stem when
            it has no symbol column; one symbol in two files is an error).
        duration: Bar length; None infers it per file from the most common gap between bar starts.
        symbol: Symbol of a file without a symbol column (default: the file's stem).
        tz: IANA zone of timestamps without an offset, and of dates (default for dates: UTC).
        format: ``tradebus``, ``yahoo``, ``ibkr`` or ``columns``; None detects it from the header.
        columns: Field to column name, e.g. ``{"timestamp": "Date", "close": "Last"}``.
        adjusted: Yahoo files: use ``Adj Close`` (open, high and low scaled alike) instead of ``Close``.
        engine: ``auto`` (pyarrow when installed), ``arrow`` or ``python``.

    Raises:
        DataError: If the file is unreadable, of an unknown type or format, or holds a bad row (named).
    """
    options = Options(duration, symbol, tz, format, columns, adjusted, engine)
    return read_path(Path(path), options)


def load_csv(
    path: str | Path,
    duration: timedelta | None = None,
    *,
    symbol: str | None = None,
    tz: str | None = None,
    format: str | None = None,
    columns: Mapping[str, str] | None = None,
    adjusted: bool = False,
    engine: str = "auto",
) -> BarData:
    """Load and validate a CSV bar file (arguments as :func:`load_bars`).

    Raises:
        DataError: If the file is empty or not text, the header lacks a column, or a row is bad; names
            the file and line.
    """
    return read_csv(Path(path), Options(duration, symbol, tz, format, columns, adjusted, engine))


def load_parquet(
    path: str | Path,
    duration: timedelta | None = None,
    *,
    symbol: str | None = None,
    tz: str | None = None,
    columns: Mapping[str, str] | None = None,
    engine: str = "auto",
) -> BarData:
    """Load and validate a Parquet file with the CSV's columns (needs pyarrow; arguments as :func:`load_bars`).

    Raises:
        ImportError: If pyarrow is not installed.
        DataError: If a column is missing or a row is invalid; names the file and 1-based row.
    """
    return read_parquet(Path(path), Options(duration, symbol, tz, None, columns, False, engine))


def load_json(path: str | Path, duration: timedelta | None = None, *, symbol: str | None = None) -> BarData:
    """Load an IBKR Client Portal ``/iserver/marketdata/history`` response saved as JSON.

    The shape is ``{"symbol": "AAPL", "barLength": 60, "data": [{"t": <epoch ms>, "o", "h", "l", "c",
    "v"}, ...]}``; ``symbol`` overrides the file's, and ``barLength`` (seconds) is used when
    ``duration`` is not given.

    Raises:
        DataError: If the file is not such a response or a bar is invalid; names the file and 1-based bar.
    """
    return read_json(Path(path), Options(duration, symbol))
