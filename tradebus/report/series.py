"""The report's curves: reduced to a few thousand points, and the buy-and-hold benchmark.

The benchmark is an equal-weight buy-and-hold of the traded symbols (every symbol with prices when
nothing traded): the starting cash is split equally at the first equity sample, each part buys its
symbol at the last close known then (fractional shares, no costs) and is held to the end; its value
at each sample is the sum of the parts at the last closes known then.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from collections.abc import Sequence

from tradebus.price_history import PriceHistory

MAX_POINTS = 4000
"""Samples drawn at most per curve; longer curves keep each bucket's first, lowest, highest and last value."""


def downsample(
    seconds: Sequence[float], values: Sequence[float], limit: int = MAX_POINTS
) -> tuple[list[float], list[float]]:
    """Reduce a series to about ``limit`` points, keeping every bucket's extremes (so drawdowns stay visible)."""
    n = len(values)
    if n <= limit:
        return list(seconds), list(values)
    bucket = -(-n // (limit // 4))  # ceiling division: four points per bucket
    xs: list[float] = []
    ys: list[float] = []
    for start in range(0, n, bucket):
        stop = min(start + bucket, n)
        chunk = range(start, stop)
        low = min(chunk, key=values.__getitem__)
        high = max(chunk, key=values.__getitem__)
        for i in sorted({start, low, high, stop - 1}):
            xs.append(seconds[i])
            ys.append(values[i])
    return xs, ys


Closes = PriceHistory
"""A symbol's closing prices (see :class:`tradebus.price_history.PriceHistory`)."""


def benchmark(
    seconds: Sequence[float], closes: Mapping[str, Closes], symbols: Sequence[str], capital: float
) -> list[float] | None:
    """Value of ``capital`` split equally over ``symbols`` and held, at each of ``seconds``.

    A symbol joins at the first sample it has a price for, with its share of the capital held in
    cash until then. Returns None without samples, symbols or prices.
    """
    names = [s for s in symbols if s in closes and len(closes[s].times)]
    if not seconds or not names or capital <= 0:
        return None
    share = capital / len(names)
    entry: dict[str, float] = {}
    values: list[float] = []
    for t in seconds:
        total = 0.0
        for name in names:
            price = closes[name].at(t)
            if price is not None and name not in entry and price > 0:
                entry[name] = price
            total += share * price / entry[name] if name in entry and price is not None else share
        values.append(total)
    return values


_DAY = 86_400
_MIN_GAP = 2 * 3_600  # a daily pause shorter than this (a lunch break) stays on the axis


def quiet_times(seconds: Sequence[float]) -> list[dict[str, object]]:
    """Plotly range breaks hiding the times a run never sampled: weekends, and the daily closed hours.

    Without them a chart of an exchange-hours run is mostly straight lines across nights and weekends.
    The daily break is the longest stretch of the UTC day without a sample, if it is two hours or more.
    """
    if len(seconds) < 2:
        return []
    breaks: list[dict[str, object]] = []
    days = {int(s // _DAY) for s in seconds}
    if all((day + 3) % 7 < 5 for day in days):  # epoch day 0 was a Thursday; Monday is 0
        breaks.append({"bounds": ["sat", "mon"]})
    minutes = sorted({int(s % _DAY) // 60 for s in seconds})
    gaps = [(b - a, a, b) for a, b in itertools.pairwise(minutes)]
    gaps.append((minutes[0] + 1440 - minutes[-1], minutes[-1], minutes[0]))
    length, last, first = max(gaps)
    if length * 60 >= _MIN_GAP:
        breaks.append({"pattern": "hour", "bounds": [(last + 1) / 60, first / 60]})
    return breaks
