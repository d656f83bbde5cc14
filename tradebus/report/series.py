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
from datetime import UTC
from datetime import datetime

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


MAX_TICKS = 8
"""At most this many labelled ticks on a time axis with range breaks."""


def time_ticks(seconds: Sequence[float], most: int = MAX_TICKS) -> tuple[list[float], list[str]]:
    """Ticks for a time axis with range breaks: positions (epoch seconds, on samples) and their labels.

    Plotly places its own ticks on the calendar and drops those inside a break, so a run of two or three
    sessions could show a single label (its ticks at midnight or noon, all in the night's break). These sit
    on samples: at the first of each UTC day when the run spans four days or more (``Jan 2``), else at the
    first of each hour (``15:00``, with its date at the first tick of a day; a day's last sample, a close
    that would sit beside the next day's first tick, gets none); every k-th is kept, so at most ``most``.
    The first label carries the year.
    """
    if not seconds:
        return [], []
    days: dict[int, float] = {}
    hours: dict[int, float] = {}
    ends: set[float] = set()  # each day's last sample (a close), which sits beside the next day's first tick
    for i, s in enumerate(seconds):
        days.setdefault(int(s // _DAY), s)
        hours.setdefault(int(s // 3_600), s)
        if i + 1 == len(seconds) or int(seconds[i + 1] // _DAY) != int(s // _DAY):
            ends.add(s)
    daily = len(days) >= 4
    picked = list(days.values()) if daily else [s for s in hours.values() if s not in ends or s in days.values()]
    picked = picked[:: -(-len(picked) // most)]
    labels, last_day = [], None
    for i, s in enumerate(picked):
        moment = datetime.fromtimestamp(s, UTC)
        day = f"{moment:%b} {moment.day}" + (f" {moment.year}" if i == 0 else "")
        labels.append(day if daily else f"{moment:%H:%M}" if moment.date() == last_day else f"{day} {moment:%H:%M}")
        last_day = moment.date()
    return picked, labels


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
