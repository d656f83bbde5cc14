"""Time seam: the one place that reads the wall clock.

Framework, broker and strategy code never call ``datetime.now()`` or ``time.time()``; they take a
:class:`Clock`. Live runs use :class:`SystemClock`; tests and backtests use :class:`SimulatedClock`,
which only moves when told to.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Protocol
from typing import runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """Source of the current time, always timezone-aware UTC."""

    def now(self) -> datetime:
        """Return the current time as an aware UTC datetime."""
        ...

    def monotonic(self) -> float:
        """Return seconds from an arbitrary origin that never go backwards (for timeouts)."""
        ...


class SystemClock:
    """Wall-clock time for live and paper trading."""

    def now(self) -> datetime:
        """Return the current wall-clock time in UTC."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """Return :func:`time.monotonic`, immune to NTP jumps."""
        return time.monotonic()


class SimulatedClock:
    """A clock that moves only when :meth:`advance` or :meth:`set` is called.

    The one simulated clock: backtests drive it from data timestamps (once per bar time, so
    :meth:`set` is kept cheap), tests drive it by hand. Thread-safe: readers never lock (reading one
    attribute is atomic), writers serialise on a lock, so broker threads may read it while a test
    thread advances it.

    Args:
        start: The initial time; must be timezone-aware.
    """

    def __init__(self, start: datetime) -> None:
        _require_aware(start, "start")
        self._now = start.astimezone(UTC)
        self._origin = self._now
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """Return the simulated current time."""
        return self._now

    def monotonic(self) -> float:
        """Return simulated seconds elapsed since the clock was created."""
        return (self._now - self._origin).total_seconds()

    def advance(self, delta: timedelta) -> datetime:
        """Move time forward by ``delta`` and return the new time.

        Raises:
            ValueError: If ``delta`` is negative.
        """
        if delta < timedelta(0):
            msg = f"delta must not be negative, received {delta}"
            raise ValueError(msg)
        with self._lock:
            self._now += delta
            return self._now

    def set(self, when: datetime) -> None:
        """Jump to ``when``; time never moves backwards.

        Raises:
            ValueError: If ``when`` is naive or earlier than the current time.
        """
        if when.tzinfo is not UTC:  # the replay passes UTC datetimes: skip the zone work for them
            _require_aware(when, "when")
            when = when.astimezone(UTC)
        with self._lock:
            if when < self._now:
                msg = f"clock cannot move backwards: {when.isoformat()} < {self._now.isoformat()}"
                raise ValueError(msg)
            self._now = when

    def replay_to(self, when: datetime) -> None:
        """Jump to ``when`` without taking the writers' lock: for a replay loop that is the clock's only writer.

        A backtest sets the clock once per bar time, from bars that were validated (aware UTC) and
        sorted when loaded; skipping the lock and the zone check there saves a twentieth of the
        per-bar cost. Anything else that moves the clock uses :meth:`set` or :meth:`advance`.

        Raises:
            ValueError: If ``when`` is earlier than the current time.
        """
        if when < self._now:
            msg = f"clock cannot move backwards: {when.isoformat()} < {self._now.isoformat()}"
            raise ValueError(msg)
        self._now = when


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        msg = f"{name} must be timezone-aware, received naive {value.isoformat()}"
        raise ValueError(msg)
