"""The dispatcher: the one thread that takes events off the queue, updates state, then runs handlers.

**The One Rule (threading).** Broker I/O threads and the kill switch only call
:meth:`Dispatcher.enqueue`. Exactly one thread, the dispatcher, takes events off the queue and hands
each to the handler routed for its type (order state and the portfolio first, see
:mod:`framework.lifecycle`; market data, see :mod:`framework.subscriptions`), which updates state
and then publishes to strategies. Strategy handlers therefore never run concurrently and need no
locks, but they must not block: a slow handler delays every event behind it. Nothing on this thread
waits on the network: order commands go to the broker's own worker (see :mod:`framework.commands`).

Between batches of events, and while idle, the dispatcher fires due timers and checks market-data
freshness on the engine clock.

Who runs it: :meth:`Dispatcher.run` on the calling thread (the CLI), a background thread from
:meth:`Dispatcher.start_thread`, or a test through :meth:`Dispatcher.run_pending`, which drains the
queue synchronously so tests need no sleeps.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from framework.bus import EventBus
from framework.clock import Clock
from framework.datafeed import DataTracker
from framework.events import AnyEvent
from framework.timers import Timers

log = logging.getLogger(__name__)

IDLE_WAIT_SECONDS = 0.5  # longest sleep while idle: stop requests and the clock are re-checked


class Dispatcher:
    """The event queue and the thread that drains it.

    Args:
        clock: The engine clock (timers, freshness, ``run`` durations).
        bus: Where events without a routed handler are published.
        timers: Fired when due.
        data: Market-data freshness, checked when due.
    """

    def __init__(self, clock: Clock, bus: EventBus, timers: Timers, data: DataTracker) -> None:
        self._clock = clock
        self._bus = bus
        self._timers = timers
        self._scheduled = timers.scheduled  # a live view: tested once per batch, without a call
        self._data = data
        self._watch_freshness = data.stale_after is not None
        self._routes: dict[type, Callable[[Any], None]] = {}
        self._queue: deque[AnyEvent] = deque()
        self._wake = threading.Condition()
        self._sleeping = False
        # a plain flag, not a threading.Event: request_stop() may run in a signal handler on the
        # dispatcher's own thread, where taking the Event's (non-reentrant) lock could deadlock
        self._stopping = False
        self._thread: threading.Thread | None = None

    def route(self, event_type: type, handler: Callable[[Any], None]) -> None:
        """Send every event of exactly ``event_type`` to ``handler`` instead of publishing it."""
        self._routes[event_type] = handler

    # ----------------------------------------------------------------- the queue

    def enqueue(self, event: AnyEvent) -> None:
        """Queue an event for the dispatcher; safe to call from any thread."""
        # deque.append is atomic; the lock is taken only to wake a sleeping dispatcher. The
        # dispatcher sets _sleeping and re-checks the queue under the lock before it waits, so an
        # append that misses the flag is always seen by that re-check.
        self._queue.append(event)
        if self._sleeping:
            with self._wake:
                self._wake.notify()

    @property
    def backlog(self) -> int:
        """Events queued and not yet dispatched (safe to read from any thread)."""
        return len(self._queue)

    def take(self, keep: Callable[[AnyEvent], bool]) -> list[AnyEvent]:
        """Remove and return the queued events ``keep`` selects, leaving the rest in order.

        Used at start-up, before anyone dispatches, to apply recovery's order events first.
        """
        taken: list[AnyEvent] = []
        held: list[AnyEvent] = []
        while self._queue:
            event = self._queue.popleft()
            (taken if keep(event) else held).append(event)
        self._queue.extendleft(reversed(held))
        return taken

    def run_pending(self, limit: int | None = None) -> int:
        """Process queued events and due timers on this thread; return how many events ran."""
        count = 0
        queue = self._queue
        process = self.process
        if limit is None:  # the backtest's case, once per bar time: process() inlined
            popleft, route, publish = queue.popleft, self._routes.get, self._bus.publish
            while queue:
                event = popleft()
                handler = route(type(event))
                if handler is not None:
                    handler(event)
                else:
                    publish(event)
                count += 1
        else:
            while queue and count < limit:
                process(queue.popleft())
                count += 1
        # Skipped when there is nothing to tick: a backtest calls this once per bar.
        if self._scheduled or self._watch_freshness:
            self._tick()
        return count

    def process(self, event: AnyEvent) -> None:
        """Hand ``event`` to its routed handler, or publish it (dispatcher thread only)."""
        handler = self._routes.get(type(event))
        if handler is not None:
            handler(event)
        else:
            self._bus.publish(event)

    def _tick(self) -> None:
        now = self._clock.now()
        self._timers.fire_due(now)
        for stale in self._data.check(now):
            self._bus.publish(stale, stale.symbol)

    # ----------------------------------------------------------------- running

    def run(self, running: Callable[[], bool], until: Callable[[], bool] | None = None,
            duration: timedelta | None = None) -> None:
        """Dispatch on this thread while ``running()`` and until stopped, ``until()``, or ``duration``."""
        deadline = self._clock.monotonic() + duration.total_seconds() if duration else None
        while running() and not self._stopping:
            if until is not None and until():
                break
            if deadline is not None and self._clock.monotonic() >= deadline:
                break
            self._wait_for_work()
            self.run_pending()

    def request_stop(self) -> None:
        """Ask :meth:`run` (or the background thread) to finish after the current event.

        Thread-safe, and safe in a signal handler: a flag, then a notify under the wake
        condition's re-entrant lock.
        """
        self._stopping = True
        with self._wake:
            self._wake.notify_all()

    @property
    def threaded(self) -> bool:
        """Whether the dispatcher runs on a background thread (:meth:`start_thread`)."""
        return self._thread is not None

    def start_thread(self) -> None:
        """Dispatch on a background thread until :meth:`stop_thread`."""
        if self._thread is not None:
            return
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="tradebus-dispatcher", daemon=True)
        self._thread.start()

    def stop_thread(self, timeout: float = 10.0) -> None:
        """Stop dispatching (the background thread, or :meth:`run`) and wait for the thread."""
        self.request_stop()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=timeout)

    def _loop(self) -> None:
        while not self._stopping:
            self._wait_for_work()
            self.run_pending()

    def _wait_for_work(self) -> None:
        timeout = IDLE_WAIT_SECONDS
        due = self._timers.next_due()
        if due is not None:
            timeout = min(timeout, max(0.0, (due - self._clock.now()).total_seconds()))
        with self._wake:
            self._sleeping = True
            try:
                if not self._queue and not self._stopping:
                    self._wake.wait(timeout)
            finally:
                self._sleeping = False
