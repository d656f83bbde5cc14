"""Historical bars: the ``period``/``bar`` grammar, limits and the response shapes (spec 5.3, 5.5).

Bars are generated deterministically from the seed, the conid and the bar size, walking backwards
from the current price so the newest bar closes at the live last price. Symbols replayed from a bars
CSV are served from the bars replayed so far, bucketed to the requested bar size.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from decimal import Decimal
from typing import Any

from simulators.ibkr.instruments import BarRow
from simulators.ibkr.instruments import Instrument

MAX_BARS = 1000
_UNIT_SECONDS = {"min": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "m": 30 * 86400, "y": 365 * 86400}
_PERIOD_LIMITS = {"min": 30, "h": 8, "d": 1000, "w": 792, "m": 182, "y": 15}
BAR_SIZES = ("1min", "2min", "3min", "5min", "10min", "15min", "30min", "1h", "2h", "3h", "4h", "8h", "1d", "1w",
             "1m")
_GRAMMAR = re.compile(r"^(\d+)(mins?|h|d|w|m|y)$")


class HistoryError(ValueError):
    """A history request is invalid; the message is the error text."""


@dataclass(frozen=True)
class Bar:
    """One OHLCV bar (float prices, as on the wire)."""

    start: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float


def _split(text: str) -> tuple[int, str]:
    match = _GRAMMAR.match(text.strip().lower()) if text else None
    if match is None:
        raise HistoryError(f"invalid duration: {text!r}")
    unit = "min" if match.group(2).startswith("min") else match.group(2)
    return int(match.group(1)), unit


def period_seconds(period: str) -> int:
    """Return the length of a ``period`` such as ``1d`` or ``30min``.

    Raises:
        HistoryError: If the text does not follow the grammar or is out of range.
    """
    count, unit = _split(period)
    if not 1 <= count <= _PERIOD_LIMITS[unit]:
        raise HistoryError(f"period {period!r} out of range 1-{_PERIOD_LIMITS[unit]}{unit}")
    return count * _UNIT_SECONDS[unit]


def bar_seconds(bar: str) -> int:
    """Return the length of a ``bar`` such as ``5min`` or ``1d``.

    Raises:
        HistoryError: If the bar size is not one IBKR offers.
    """
    count, unit = _split(bar)
    if f"{count}{unit}" not in BAR_SIZES:
        raise HistoryError(f"invalid bar size: {bar!r}")
    return count * _UNIT_SECONDS[unit]


def bar_count(period: str, bar: str) -> tuple[int, int]:
    """Return ``(number of bars, bar seconds)`` for a request, capped at :data:`MAX_BARS`.

    Raises:
        HistoryError: If either part is invalid or the bar is longer than the period.
    """
    span, size = period_seconds(period), bar_seconds(bar)
    if size > span:
        raise HistoryError(f"bar size {bar!r} is larger than period {period!r}")
    return min(MAX_BARS, max(1, span // size)), size


Keep = Callable[[datetime], bool]
"""Which bar starts a request may return (the trading sessions, with exchange hours); None keeps all."""


def bar_starts(reference: datetime, count: int, size: int, *, forward: bool = False,
               keep: Keep | None = None, latest: datetime | None = None) -> list[datetime]:
    """Starts of up to ``count`` bars of ``size`` seconds, oldest first.

    Backward (the default): ending with the bar that contains ``reference``; ``forward``: beginning
    with it. Only starts ``keep`` accepts are used (the search gives up after many refused ones), and
    none after ``latest`` (the present: there are no bars from the future).
    """
    step = -size if not forward else size
    at = int(reference.timestamp()) // size * size
    limit = None if latest is None else int(latest.timestamp())
    starts: list[datetime] = []
    for _ in range(count * 50 + 10_000):
        if len(starts) == count or (forward and limit is not None and at > limit):
            break
        start = datetime.fromtimestamp(at, UTC)
        if (limit is None or at <= limit) and (keep is None or keep(start)):
            starts.append(start)
        at += step
    return starts if forward else starts[::-1]


def generate(seed: int, inst: Instrument, *, last: Decimal, starts: list[datetime], size: int) -> list[Bar]:
    """Generate bars of ``size`` seconds at ``starts`` (oldest first), the newest closing at ``last``."""
    rng = random.Random(f"{seed}:{inst.conid}:{size}")
    step_vol = 0.0015 * math.sqrt(size / 60)
    close = float(last)
    bars: list[Bar] = []
    for start in reversed(starts):
        open_ = close * math.exp(rng.gauss(0.0, step_vol))
        high = max(open_, close) * (1 + abs(rng.gauss(0.0, step_vol / 2)))
        low = min(open_, close) * (1 - abs(rng.gauss(0.0, step_vol / 2)))
        volume = float(rng.randint(50, 400) * size)
        bars.append(Bar(start, round(open_, 2), round(high, 2), round(low, 2), round(close, 2), volume))
        close = open_
    bars.reverse()
    return bars


def parse_start_time(text: str) -> datetime:
    """Parse a ``startTime`` parameter, ``YYYYMMDD-hh:mm:ss`` in UTC.

    Raises:
        HistoryError: If the text has another form.
    """
    try:
        return datetime.strptime(text.strip(), "%Y%m%d-%H:%M:%S").replace(tzinfo=UTC)
    except ValueError as e:
        raise HistoryError(f"invalid startTime {text!r}: expected YYYYMMDD-hh:mm:ss (UTC)") from e


def resample(rows: list[BarRow], size: int, count: int, *, reference: datetime | None = None,
             forward: bool = False) -> list[Bar]:
    """Bucket replayed CSV bars into bars of ``size`` seconds, keeping ``count`` of them.

    The newest ``count``, or with a ``reference`` those ending with the bucket that contains it
    (``forward``: beginning with it).
    """
    buckets: dict[int, list[BarRow]] = {}
    anchor = None if reference is None else int(reference.timestamp()) // size * size
    for row in rows:
        key = int(row.timestamp.timestamp()) // size * size
        if anchor is not None and (key < anchor if forward else key > anchor):
            continue
        buckets.setdefault(key, []).append(row)
    bars = [
        Bar(group[0].timestamp - timedelta(seconds=int(group[0].timestamp.timestamp()) - key),
            float(group[0].open), float(max(r.high for r in group)), float(min(r.low for r in group)),
            float(group[-1].close), float(sum(r.volume for r in group)))
        for key, group in sorted(buckets.items())
    ]
    return bars[:count] if forward else bars[-count:]


def _extreme(bars: list[Bar], pick: str, volume_divisor: int) -> str:
    values = [b.high for b in bars] if pick == "high" else [b.low for b in bars]
    best = max(values) if pick == "high" else min(values)
    index = values.index(best)
    minutes = int((bars[index].start - bars[0].start).total_seconds() // 60)
    return f"{round(best * 100)}/{bars[index].volume / volume_divisor:.2f}/{minutes}"


def response(inst: Instrument, bars: list[Bar], *, period: str, size: int, outside_rth: bool,
             in_hundreds: bool, server_id: str) -> dict[str, Any]:
    """Return the ``/iserver/marketdata/history`` body."""
    divisor = 100 if in_hundreds else 1
    return {
        "serverId": server_id, "symbol": inst.symbol, "text": inst.name, "priceFactor": 100,
        "startTime": bars[0].start.strftime("%Y%m%d-%H:%M:%S"),
        "high": _extreme(bars, "high", divisor), "low": _extreme(bars, "low", divisor),
        "timePeriod": period, "barLength": size, "mdAvailability": "S", "mktDataDelay": 0,
        "outsideRth": outside_rth, "volumeFactor": 1, "priceDisplayRule": 1, "priceDisplayValue": "2",
        "negativeCapable": False, "messageVersion": 2,
        "data": [
            {"o": b.open, "c": b.close, "h": b.high, "l": b.low, "v": round(b.volume / divisor, 2),
             "t": int(b.start.timestamp() * 1000)}
            for b in bars
        ],
        "points": len(bars) - 1, "travelTime": 3,
    }


def hmds_response(bars: list[Bar]) -> dict[str, Any]:
    """Return the ``/hmds/history`` body."""
    first, last = bars[0].start, bars[-1].start
    return {
        "startTime": first.strftime("%Y%m%d-%H:%M:%S"), "startTimeVal": int(first.timestamp() * 1000),
        "endTime": last.strftime("%Y%m%d-%H:%M:%S"), "endTimeVal": int(last.timestamp() * 1000),
        "data": [{"t": int(b.start.timestamp() * 1000), "o": b.open, "h": b.high, "l": b.low, "c": b.close,
                  "v": b.volume} for b in bars],
        "points": len(bars), "mktDataDelay": 0,
    }
