"""Timers driven by the injected clock: once at a time, or every interval.

The engine owns one :class:`Timers`; its dispatcher asks it, after each batch of events and while
idle, to fire what is due at ``clock.now()``. Nothing here reads the wall clock, so timers fire
identically in a backtest, a test and live trading.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timedelta

from framework.bus import EventBus
from framework.events import TimerFired


@dataclass(order=True)
class Timer:
    """One scheduled timer.

    Attributes:
        due: When it fires next.
        seq: Tie-breaker so timers due together fire in the order they were set.
        owner: The strategy id it belongs to.
        name: The name given by the strategy (unique per owner).
        interval: Repeat period, or None for a one-shot timer.
    """

    due: datetime
    seq: int
    owner: str = field(compare=False)
    name: str = field(compare=False)
    interval: timedelta | None = field(compare=False, default=None)
    cancelled: bool = field(compare=False, default=False)


class TimerQueue:
    """Earliest-first queue of timers; cancel is lazy (O(1))."""

    def __init__(self) -> None:
        self._heap: list[Timer] = []
        self._by_key: dict[tuple[str, str], Timer] = {}
        self._seq = itertools.count()

    def schedule(self, owner: str, name: str, due: datetime, interval: timedelta | None = None) -> Timer:
        """Add (or replace) the timer ``name`` of ``owner``.

        Raises:
            ValueError: If ``interval`` is not positive.
        """
        if interval is not None and interval <= timedelta(0):
            msg = f"interval must be positive, received {interval}"
            raise ValueError(msg)
        self.cancel(owner, name)
        timer = Timer(due, next(self._seq), owner, name, interval)
        heapq.heappush(self._heap, timer)
        self._by_key[(owner, name)] = timer
        return timer

    def cancel(self, owner: str, name: str) -> bool:
        """Cancel a timer; return whether one was pending."""
        timer = self._by_key.pop((owner, name), None)
        if timer is None:
            return False
        timer.cancelled = True
        return True

    def cancel_owner(self, owner: str) -> None:
        """Cancel every timer of ``owner``."""
        for key in [k for k in self._by_key if k[0] == owner]:
            self.cancel(*key)

    def next_due(self) -> datetime | None:
        """When the earliest live timer fires, or None."""
        while self._heap and self._heap[0].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0].due if self._heap else None

    def pop_due(self, now: datetime) -> list[tuple[Timer, datetime]]:
        """Remove and return ``(timer, scheduled_time)`` for every firing due at or before ``now``.

        A repeating timer that is several periods late fires once per missed period, in order.
        """
        fired: list[tuple[Timer, datetime]] = []
        while self._heap and self._heap[0].due <= now:
            timer = heapq.heappop(self._heap)
            if timer.cancelled:
                continue
            fired.append((timer, timer.due))
            if timer.interval is None:
                del self._by_key[(timer.owner, timer.name)]
            else:
                timer.due += timer.interval
                timer.seq = next(self._seq)
                heapq.heappush(self._heap, timer)
        return fired

    def __len__(self) -> int:
        return len(self._by_key)

    @property
    def scheduled(self) -> Mapping[tuple[str, str], Timer]:
        """The pending timers by (owner, name) (a live, read-only view of the queue's index)."""
        return self._by_key


class Timers:
    """Strategy timers on the engine clock: scheduled by owner and name, fired by the dispatcher.

    Args:
        bus: Where ``TimerFired`` is published (sender: the timer's owner).
    """

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self._queue = TimerQueue()

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def scheduled(self) -> Mapping[tuple[str, str], Timer]:
        """The pending timers by (owner, name); the dispatcher tests its truth once per batch."""
        return self._queue.scheduled

    def schedule(self, owner: str, name: str, due: datetime, interval: timedelta | None = None) -> None:
        """Fire ``TimerFired(name)`` to ``owner`` at ``due`` (and every ``interval`` after).

        Raises:
            ValueError: If ``interval`` is not positive.
        """
        self._queue.schedule(owner, name, due, interval)

    def cancel(self, owner: str, name: str) -> bool:
        """Cancel a timer; return whether it was pending."""
        return self._queue.cancel(owner, name)

    def cancel_owner(self, owner: str) -> None:
        """Cancel every timer of ``owner``."""
        self._queue.cancel_owner(owner)

    def next_due(self) -> datetime | None:
        """When the earliest timer fires, or None."""
        return self._queue.next_due()

    def fire_due(self, now: datetime) -> None:
        """Publish every firing due at or before ``now`` (dispatcher thread only)."""
        for timer, scheduled in self._queue.pop_due(now):
            self._bus.publish(TimerFired(ts=now, name=timer.name, scheduled=scheduled), timer.owner)
