"""Bar sizes, and coarser bars built from the data's own bars, aligned to the exchange's sessions.

A strategy may subscribe to bars coarser than its data delivers (5-minute, hourly or daily bars on
1-minute data). When the data source says which sizes it has (:class:`BarSizes`: a backtest's bar
file), the engine subscribes to the data's bars and merges them with a
:class:`~framework.bars.BarAggregator` per symbol and size (:class:`Resampler`). A size no data can
give is refused at start with a :class:`~framework.errors.SubscriptionError` (:func:`base_size`).

Conventions (the instrument's exchange calendar, :mod:`framework.trading_hours`):

* **Intraday sizes** are aligned to the start of the session phase a bar falls in (regular hours
  09:30-16:00 New York; pre-market and after-hours are sessions of their own), not to the epoch:
  hourly bars of a regular session are 09:30-10:30, ..., 14:30-15:30 and a **short last bar**
  15:30-16:00. No bar straddles two sessions; the last one is delivered at the session's end, with
  the finer bar that reaches it. Its ``duration`` is still the subscribed size (it is the key
  strategies receive bars by): only its delivery time says it was short.
* **Daily bars** (exactly one day) are one per trading day of the calendar: the finer bars from the
  previous regular close up to the day's regular close (so nothing is left out: after-hours bars go
  to the next trading day), stamped with the day's midnight UTC as their start, as daily bar files
  are, and delivered at the day's regular close (early closes included).
* **Delivery**: a coarse bar is queued behind the finer bar that completes it, so at one time the
  finer bars (of every symbol) come first. When the session's last finer bar is missing, the coarse
  bar is delivered (stamped with the session end) just before the next finer bar, which is the first
  moment the data shows the session is over.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import NamedTuple
from typing import Protocol
from typing import runtime_checkable

from framework.bars import BarAggregator
from framework.events import BarClosed
from framework.marketdata import Bar
from framework.models import Instrument
from framework.trading_hours import TradingHours

ONE_DAY = timedelta(days=1)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_SIZE = re.compile(r"\s*(\d+)\s*([smhdw])\s*", re.IGNORECASE)


@runtime_checkable
class BarSizes(Protocol):
    """A data source that delivers bars of some sizes only (a bar file), and says which."""

    def bar_sizes(self, instrument: Instrument) -> tuple[timedelta, ...] | None:
        """The bar sizes delivered for ``instrument``; None if the source builds bars of any size."""
        ...


def format_size(size: timedelta) -> str:
    """A bar size as written on the command line: ``60s`` -> ``1m``, ``3600s`` -> ``1h``, ``1d``, ``90s``."""
    seconds = int(size.total_seconds())
    for unit in ("w", "d", "h", "m"):
        if seconds and seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


def parse_bar_size(text: str) -> timedelta:
    """Parse a bar size: a whole number and a unit, ``s``, ``m``, ``h``, ``d`` or ``w`` (``60s``, ``5m``, ``1d``).

    Raises:
        ValueError: If ``text`` is not such a size, or is zero.
    """
    found = _SIZE.fullmatch(text)
    if found is None or int(found.group(1)) == 0:
        msg = f"{text!r} is not a bar size: give a whole number and a unit s, m, h, d or w (e.g. 60s, 5m, 1h, 1d)"
        raise ValueError(msg)
    return timedelta(seconds=int(found.group(1)) * _UNITS[found.group(2).lower()])


def base_size(wanted: timedelta, sizes: Sequence[timedelta]) -> timedelta | str:
    """The data size to build ``wanted`` bars from, or why none can.

    ``wanted`` itself when the data has it; else the largest size that divides it (intraday), or
    divides a day (daily bars); else a reason, in words.
    """
    if wanted in sizes:
        return wanted
    have = ", ".join(format_size(s) for s in sorted(sizes)) or "none"
    finer = [s for s in sizes if s < wanted]
    if not finer:
        return f"finer than the data's {have} bars"
    if wanted > ONE_DAY:
        return f"bars longer than a day are not built from finer ones (the data has {have} bars)"
    whole = [s for s in finer if (ONE_DAY if wanted == ONE_DAY else wanted) % s == timedelta(0)]
    if not whole:
        return f"not a whole multiple of the data's {have} bars"
    return max(whole)


class Slot(NamedTuple):
    """The coarse bar a finer bar belongs to: its start, and when it is complete (delivered)."""

    start: datetime
    end: datetime


def session_slot(hours: TradingHours, ts: datetime, size: timedelta) -> Slot:
    """The ``size`` bar, aligned to the session (see the module docstring), holding a finer bar starting at ``ts``."""
    if size >= ONE_DAY:
        close = hours.session_end_after(ts)  # the first regular close strictly after ts
        day = close.astimezone(hours.zone).date()
        return Slot(datetime(day.year, day.month, day.day, tzinfo=UTC), close)
    window = hours.window(ts)
    start = window.start + (ts - window.start) // size * size
    return Slot(start, min(start + size, window.end))


class Resampler:
    """Builds session-aligned bars of one size for one symbol from its finer bars.

    Args:
        symbol: The instrument's symbol.
        size: The coarse bar size (at most a day).
        hours: The instrument's exchange calendar.
    """

    def __init__(self, symbol: str, size: timedelta, hours: TradingHours) -> None:
        self.symbol = symbol
        self.size = size
        self._hours = hours
        self._aggregator = BarAggregator(symbol, size)
        self._slot: Slot | None = None

    def overdue(self, bar: Bar) -> BarClosed | None:
        """The bar being built, if ``bar`` starts at or after its end (its last finer bar is missing)."""
        if self._slot is not None and bar.start >= self._slot.end:
            return self._close()
        return None

    def add(self, bar: Bar) -> BarClosed | None:
        """Merge a finer bar (after :meth:`overdue`); return the coarse bar it completes, if it does."""
        slot = self._slot
        if slot is None:
            slot = self._slot = session_slot(self._hours, bar.start, self.size)
        self._aggregator.add_bar(bar, slot.start)
        if bar.start + bar.duration >= slot.end:
            return self._close()
        return None

    def _close(self) -> BarClosed:
        slot, self._slot = self._slot, None
        bar = self._aggregator.close()
        assert slot is not None and bar is not None  # noqa: PT018 - only called with a bar being built
        return BarClosed(ts=slot.end, bar=bar)
