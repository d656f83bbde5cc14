"""A run's results as pandas objects, for notebooks and the quant's own tools.

``result.frames`` (a :class:`RunFrames`) turns a :class:`~tradebus.results.RunResult` into Series
and DataFrames indexed by aware UTC timestamps:

* ``equity``, ``returns``, ``daily_returns`` and ``drawdown`` (Series);
* ``trades``, ``orders``, ``fills`` and ``positions`` (DataFrames, one row per item).

:func:`bars_to_frame` turns bars (:class:`~framework.history.BarData`) into a DataFrame with the
columns :func:`tradebus.data.bars_from_frame` reads, so bars go out to pandas and back unchanged.

``returns`` holds the simple return of every equity sample (one per bar), ``daily_returns`` the
return of each UTC calendar day from the last equity of the day before (the first day from the
first sample); both go into empyrical and quantstats as they are, e.g.
``empyrical.sharpe_ratio(result.frames.returns, annualization=stats.periods_per_year)`` or
``quantstats.stats.sharpe(result.frames.daily_returns)``. Money columns are floats here, for
analysis; the exact Decimals stay on the result itself and in its exports.

pandas is optional (the ``pandas`` extra: ``pip install 'tradebus[pandas]'``); it is imported
when a frame is first asked for, and its absence is one clear :class:`ImportError` naming the extra.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING
from typing import Any
from typing import cast

if TYPE_CHECKING:
    import pandas as pd

    from framework.history import BarData
    from tradebus.results import RunResult

_TIME_COLUMNS = frozenset({"entry_time", "exit_time", "ts", "updated"})


def require_pandas(user: str = "result.frames") -> Any:
    """Import and return pandas.

    Args:
        user: What needs it, named in the error.

    Raises:
        ImportError: ``<user> needs pandas: pip install 'tradebus[pandas]'`` when pandas is not installed.
    """
    try:
        import pandas  # noqa: PLC0415 - optional dependency, imported on first use
    except ImportError as e:
        msg = f"{user} needs pandas: pip install 'tradebus[pandas]'"
        raise ImportError(msg) from e
    return pandas


def bars_to_frame(data: BarData) -> pd.DataFrame:
    """Bars as one DataFrame: a ``symbol`` column, bar start times (UTC) as the index, then OHLCV.

    Rows are ordered by symbol, then time; ``bars_from_frame(bars_to_frame(data))`` gives ``data`` back.
    """
    lib = require_pandas("bars_to_frame")
    parts = []
    for symbol, series in sorted(data.items()):
        index = lib.to_datetime(list(series.starts), unit="s", utc=True)
        columns = {"symbol": symbol, "open": list(series.opens), "high": list(series.highs),
                   "low": list(series.lows), "close": list(series.closes), "volume": list(series.volumes)}  # fmt: skip
        parts.append(lib.DataFrame(columns, index=index))
    empty = ["symbol", "open", "high", "low", "close", "volume"]
    frame: pd.DataFrame = lib.concat(parts) if parts else lib.DataFrame(columns=empty)
    return frame.rename_axis("timestamp")


def _number(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def _frame(rows: Iterable[dict[str, Any]], columns: list[str], index: str | None) -> pd.DataFrame:
    lib = require_pandas()
    frame: pd.DataFrame = lib.DataFrame([{k: _number(v) for k, v in row.items()} for row in rows], columns=columns)
    for name in columns:
        if name in _TIME_COLUMNS:
            frame[name] = lib.to_datetime(frame[name], utc=True)
    return frame.set_index(index) if index else frame


class RunFrames:
    """pandas views of one run (see the module docstring); each is built when asked for.

    Args:
        result: The run.
    """

    def __init__(self, result: RunResult) -> None:
        self._result = result

    @property
    def equity(self) -> pd.Series:
        """Equity at every sample, indexed by sample time (UTC)."""
        lib = require_pandas()
        curve = self._result.curve
        index = lib.to_datetime(list(curve.seconds), unit="s", utc=True).rename("timestamp")
        series: pd.Series = lib.Series(list(curve.equity), index=index, name="equity", dtype="float64")
        return series

    @property
    def returns(self) -> pd.Series:
        """Simple return of every sample from the one before (the first sample has none)."""
        equity = self.equity
        return equity.pct_change().iloc[1:].rename("returns")

    @property
    def daily_returns(self) -> pd.Series:
        """Return of each UTC calendar day from the previous day's last equity (first day: from the first sample)."""
        equity = self.equity
        if equity.empty:
            return equity.rename("returns")
        days = cast("pd.DatetimeIndex", equity.index).normalize()
        closes = equity.groupby(days).last()
        previous = closes.shift(1)
        previous.iloc[0] = equity.iloc[0]
        return (closes / previous - 1.0).rename("returns").rename_axis("date")

    @property
    def drawdown(self) -> pd.Series:
        """Fall of every sample from its running peak, as a fraction <= 0."""
        lib = require_pandas()
        equity = self.equity
        drawdown: pd.Series = lib.Series(
            list(self._result.curve.drawdowns()), index=equity.index, name="drawdown", dtype="float64"
        )
        return drawdown

    @property
    def trades(self) -> pd.DataFrame:
        """Closed round trips, with holding time, in the order they closed."""
        columns = ["symbol", "side", "quantity", "entry_time", "exit_time", "entry_price", "exit_price",
                   "commission", "pnl", "holding_time"]  # fmt: skip
        rows = ({**t.model_dump(), "side": t.side.value, "holding_time": t.holding_time} for t in self._result.trades)
        return _frame(rows, columns, None)

    @property
    def orders(self) -> pd.DataFrame:
        """The final state of every order, indexed by client order id."""
        from tradebus.results import ORDER_COLUMNS  # noqa: PLC0415 - results imports this module lazily too
        from tradebus.results import order_row  # noqa: PLC0415

        return _frame((order_row(o) for o in self._result.orders), list(ORDER_COLUMNS), "client_order_id")

    @property
    def fills(self) -> pd.DataFrame:
        """Every fill in execution order."""
        columns = ["ts", "execution_id", "client_order_id", "symbol", "side", "quantity", "price", "commission"]
        rows = ({**{c: getattr(f, c) for c in columns}, "side": f.side.value} for f in self._result.fills)
        return _frame(rows, columns, None)

    @property
    def positions(self) -> pd.DataFrame:
        """Positions still held at the end, indexed by symbol."""
        columns = ["symbol", "quantity", "average_price", "last_price", "market_value", "unrealized_pnl"]
        rows = (p.model_dump() for p in self._result.open_positions)
        return _frame(rows, columns, "symbol")

