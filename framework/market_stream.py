"""What :func:`framework.testing.run_strategy` accepts as market data, as one time-ordered list.

A test may pass a list of :class:`~framework.marketdata.Quote` and :class:`~framework.marketdata.Bar`,
one :class:`~framework.history.BarSeries`, or the :class:`~framework.history.BarData` that
``tradebus.load_bars`` returns. ``BarData`` is a mapping from symbol to series, so iterating it
yields symbols: it is merged here into bars ordered by end time, then symbol (as a backtest replays
them). Anything else is refused with one line naming what was passed and what is expected.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from collections.abc import Mapping
from datetime import datetime
from os import PathLike

from framework.history import BarSeries
from framework.marketdata import Bar
from framework.marketdata import Quote

EXPECTED = (
    "a list of framework.Quote / framework.Bar, a BarSeries, or the BarData that tradebus.load_bars(path) returns"
)
"""What ``run_strategy`` accepts, as its error messages say it."""


def market_items(market: object) -> list[Quote | Bar]:
    """Return the quotes and bars of ``market`` in delivery order.

    Args:
        market: Quotes and bars (delivered in the order given), a ``BarSeries``, or a mapping of
            symbol to ``BarSeries`` (``BarData``), merged by bar end time, then symbol.

    Raises:
        TypeError: If ``market`` is a path or text, or holds anything but quotes and bars.
    """
    if isinstance(market, str | bytes | PathLike):
        msg = f"run_strategy: market is a path or text ({market!r}); expected {EXPECTED}"
        raise TypeError(msg)
    if isinstance(market, Mapping):
        return _merged(market)
    if not isinstance(market, Iterable):
        msg = f"run_strategy: market is of type {type(market).__name__}; expected {EXPECTED}"
        raise TypeError(msg)
    items = list(market)
    for index, item in enumerate(items):
        if not isinstance(item, Quote | Bar):
            kind = type(item).__name__
            msg = f"run_strategy: market item {index} is of type {kind} ({item!r:.60}); expected {EXPECTED}"
            raise TypeError(msg)
    return items


def _merged(data: Mapping[object, object]) -> list[Quote | Bar]:
    series: list[BarSeries] = []
    for symbol, value in data.items():
        if not isinstance(value, BarSeries):
            kind = type(value).__name__
            msg = f"run_strategy: market[{symbol!r}] is of type {kind}, not a BarSeries; expected {EXPECTED}"
            raise TypeError(msg)
        series.append(value)
    bars: list[Bar] = list(heapq.merge(*series, key=_delivery_order))
    return [*bars]


def _delivery_order(bar: Bar) -> tuple[datetime, str]:
    return bar.end, bar.symbol
