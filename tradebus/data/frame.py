"""A pandas DataFrame of bars into :class:`~framework.history.BarData` (``pip install 'tradebus[pandas]'``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from framework.errors import DataError
from framework.history import BarData
from tradebus.data.columns import Columns
from tradebus.data.columns import RowCollector
from tradebus.data.columns import bar_data
from tradebus.data.layout import PRICE_FIELDS
from tradebus.data.layout import resolve
from tradebus.data.timestamps import NAIVE_HINT
from tradebus.data.timestamps import TimeParser
from tradebus.data.timestamps import zone
from tradebus.frames import require_pandas

SOURCE = "DataFrame"


def bars_from_frame(
    df: Any,
    symbol: str | None = None,
    tz: str | None = None,
    duration: timedelta | None = None,
    columns: Mapping[str, str] | None = None,
) -> BarData:
    """Validate a pandas DataFrame of bars into :class:`BarData`.

    The bar start is the ``timestamp`` column (or ``Date``, ``Datetime``..., or ``columns["timestamp"]``)
    or else the index (a ``DatetimeIndex``, or a ``(symbol, timestamp)`` MultiIndex). Prices come from
    ``open``, ``high``, ``low``, ``close``, ``volume`` (any case, or as ``columns`` maps them). Rows of
    several symbols need a ``symbol`` column (or the MultiIndex); otherwise give ``symbol``. A frame
    from ``yfinance.download`` (columns ``(Price, Ticker)``) gives one series per ticker.

    Args:
        df: The frame.
        symbol: The symbol of every row when there is no symbol column or level.
        tz: Zone of naive timestamps (e.g. ``America/New_York``); naive ones are refused without it.
        duration: Bar length; None infers it (:func:`~tradebus.data.infer_bar_duration`).
        columns: Field name to the frame's column name, e.g. ``{"close": "Last"}``.

    Raises:
        ImportError: If pandas is not installed.
        DataError: Naming the 1-based row and reason for a bad row, or what is missing.
    """
    pd = require_pandas("bars_from_frame")
    frame = _flat(df, pd)
    layout = resolve([str(c) for c in frame.columns], SOURCE, format="columns", columns=columns)
    if "symbol" not in layout.names and symbol is None:
        raise DataError("give symbol= (or a symbol column) for the rows' symbol", source=SOURCE)
    times = frame[layout.names["timestamp"]]
    starts = _starts(times, tz, pd) if pd.api.types.is_datetime64_any_dtype(times) else None
    series = None if starts is None else _fast(frame, layout.names, starts, symbol)
    if series is None:  # text timestamps, or a bad row to name: row by row, as in files
        cells = [starts.tolist() if starts is not None and name == layout.names["timestamp"] else
                 frame[name].tolist() for name in layout.header]
        collector = RowCollector(layout, TimeParser(tz), symbol, SOURCE)
        series = collector.add_all(enumerate(zip(*cells, strict=True), start=1))
    return bar_data(series, duration, SOURCE)


def _flat(df: Any, pd: Any) -> Any:
    """The frame with its index levels as columns (a plain RangeIndex is dropped)."""
    if not isinstance(df, pd.DataFrame):
        msg = f"expected a pandas DataFrame, received {type(df).__name__}"
        raise TypeError(msg)
    if isinstance(df.columns, pd.MultiIndex) and df.columns.nlevels == 2:
        df = _by_ticker(df, pd)
    if isinstance(df.index, pd.MultiIndex):
        names = [n or ("symbol" if i == 0 else "timestamp") for i, n in enumerate(df.index.names)]
        return df.rename_axis(names).reset_index()
    if isinstance(df.index, pd.DatetimeIndex):
        return df.rename_axis(df.index.name or "timestamp").reset_index()
    return df.reset_index(drop=True)


def _by_ticker(df: Any, pd: Any) -> Any:
    """The ``(Price, Ticker)`` columns of a yfinance frame into rows indexed by ``(symbol, time)``.

    A ticker's rows that are empty in every column are the padding yfinance adds where another
    ticker has a bar and this one has none; they are left out.
    """
    tickers = list(dict.fromkeys(df.columns.get_level_values(1)))
    parts = {str(t): df.xs(t, axis=1, level=1).dropna(how="all") for t in tickers}
    return pd.concat(parts, names=["symbol", df.index.name or "timestamp"])


def _starts(column: Any, tz: str | None, pd: Any) -> Any:
    """Epoch seconds (int64) of a datetime column; naive values are read in ``tz``."""
    times = pd.DatetimeIndex(column)
    if times.hasnans:
        raise DataError(f"row {int(times.isna().argmax()) + 1}: timestamp is missing", source=SOURCE)
    if times.tz is None:
        if tz is None:
            raise DataError(f"timestamps have no timezone: {NAIVE_HINT}", source=SOURCE)
        zone(tz)
        try:  # the file loaders' rules: a repeated local time is the first one, a skipped one is an error
            times = times.tz_localize(tz, ambiguous=[True] * len(times), nonexistent="raise")
        except Exception as e:
            raise DataError(f"a local time does not exist in {tz} (the clocks moved forward): {e}",
                            source=SOURCE) from e
    nanos = times.tz_convert("UTC").as_unit("ns").asi8
    whole = nanos // 1_000_000_000
    if (whole * 1_000_000_000 != nanos).any():
        row = int((whole * 1_000_000_000 != nanos).argmax()) + 1
        raise DataError("timestamp has a fraction of a second", source=SOURCE, line=row)
    return whole


def _fast(frame: Any, names: Mapping[str, str], starts: Any, symbol: str | None) -> dict[str, Columns] | None:
    import numpy as np  # noqa: PLC0415 - arrives with pandas

    from tradebus.data.vectors import columns_from_arrays  # noqa: PLC0415

    try:
        prices = [np.asarray(frame[names[f]], dtype=np.float64) for f in PRICE_FIELDS]
    except (ValueError, TypeError):
        return None
    if "symbol" not in names:
        return columns_from_arrays(starts, str(symbol), prices)
    codes, uniques = frame[names["symbol"]].factorize()
    labels = [str(u).strip() for u in uniques]
    if (codes < 0).any() or "" in labels or len(set(labels)) != len(labels):
        return None
    return columns_from_arrays(starts, (codes, labels), prices)
