"""Timed callbacks on the injected clock.

Everything that happens "later" in the simulator (order acknowledgements, cancellations, heartbeats,
re-authentication, P&L pushes) is a job here, keyed on ``clock.monotonic()``. :meth:`Scheduler.run_due`
runs whatever is due; the server calls it from a background task and before every request, and
tests call it through ``advance``. So with a :class:`~framework.clock.SimulatedClock` nothing happens
until the test moves time, and then it happens in due order.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import time
from datetime import timedelta
from datetime import tzinfo

from framework.clock import Clock

Job = Callable[[], None]


@dataclass(order=True)
class _Entry:
    due: float
    seq: int
    job: Job = field(compare=False)
    cancelled: bool = field(default=False, compare=False)


class Handle:
    """Lets the owner of a scheduled job cancel it."""

    def __init__(self, entry: _Entry) -> None:
        self._entry = entry

    def cancel(self) -> None:
        """Stop the job from running (idempotent)."""
        self._entry.cancelled = True


class Scheduler:
    """A heap of jobs due at clock-monotonic times.

    Args:
        clock: The clock that decides when jobs are due.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._heap: list[_Entry] = []
        self._seq = itertools.count()

    def call_later(self, delay: float, job: Job) -> Handle:
        """Run ``job`` once ``delay`` clock seconds have passed (0 = at the next :meth:`run_due`)."""
        entry = _Entry(self._clock.monotonic() + max(0.0, delay), next(self._seq), job)
        heapq.heappush(self._heap, entry)
        return Handle(entry)

    def call_every(self, interval: float, job: Job) -> Handle:
        """Run ``job`` every ``interval`` clock seconds until cancelled."""
        handle = self.call_later(interval, lambda: None)

        def repeat() -> None:
            previous = handle._entry
            job()
            if previous.cancelled:
                return
            # Fixed rate: the next run is due one interval after this one was due, so a late
            # run_due() catches up; after falling more than a second behind, skip ahead instead.
            due = previous.due + interval
            now = self._clock.monotonic()
            if due < now - 1.0:
                due = now + interval
            entry = _Entry(due, next(self._seq), repeat)
            heapq.heappush(self._heap, entry)
            handle._entry = entry

        handle._entry.job = repeat
        return handle

    def call_repeatedly(self, delay: Callable[[], float], job: Job) -> Handle:
        """Run ``job`` after ``delay()`` clock seconds, then again after each new ``delay()``, until cancelled."""
        handle = self.call_later(delay(), lambda: None)

        def repeat() -> None:
            previous = handle._entry
            job()
            if previous.cancelled:
                return
            entry = _Entry(self._clock.monotonic() + max(0.0, delay()), next(self._seq), repeat)
            heapq.heappush(self._heap, entry)
            handle._entry = entry

        handle._entry.job = repeat
        return handle

    def run_due(self) -> int:
        """Run every job that is due, in due order, and return how many ran."""
        ran = 0
        now = self._clock.monotonic()
        while self._heap and self._heap[0].due <= now:
            entry = heapq.heappop(self._heap)
            if not entry.cancelled:
                entry.job()
                ran += 1
        return ran

    def next_due(self) -> float | None:
        """Return the clock-monotonic time of the next pending job, if any."""
        while self._heap and self._heap[0].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0].due if self._heap else None

    def clear(self) -> None:
        """Drop every pending job."""
        for entry in self._heap:
            entry.cancelled = True
        self._heap.clear()


def next_occurrence(now: datetime, at: time, zone: tzinfo, weekday: int | None = None) -> datetime:
    """Return the first moment after ``now`` when the local time in ``zone`` is ``at`` (DST-aware).

    With ``weekday`` (Monday = 0 ... Sunday = 6) only that day of the week counts. A local time that
    happens twice (the night clocks go back) counts at its first occurrence.
    """
    local = now.astimezone(zone)
    wall = at.replace(tzinfo=None)
    day = local.date()
    while True:
        candidate = datetime.combine(day, wall, tzinfo=zone)
        if candidate > local and (weekday is None or day.weekday() == weekday):
            return candidate
        day += timedelta(days=1)
