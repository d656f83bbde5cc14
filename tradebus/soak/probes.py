"""What the soak measures while it runs: events in and out of the engine, memory, threads and descriptors.

:class:`EventTally` counts every event the adapter hands the engine (by type, from the adapter's
threads) and every order and execution event the dispatcher takes off the queue, so a dropped
event shows as a difference; it also counts the events the engine publishes that the invariants
care about (refused executions, failed strategies and handlers, connection changes).

:class:`ResourceSampler` reads this process's resident memory, OS threads (``/proc/self/task``)
and open descriptors (``/proc/self/fd``), the dispatcher's backlog and the gateway child's memory
every ``interval`` seconds, after a garbage collection (an unreachable socket or buffer is not a
leak), marking each sample *quiet* when no fault is active and the broker has been connected for a
while: connection churn legitimately opens and closes sockets, so counts are compared on quiet
samples only.
"""

from __future__ import annotations

import gc
import os
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from brokers.ibkr.broker import IbkrBroker
from framework.broker import EventSink
from framework.clock import Clock
from framework.engine import Engine
from framework.events import ORDER_EVENTS
from framework.events import AnyEvent
from framework.events import BrokerConnected
from framework.events import BrokerDegraded
from framework.events import BrokerDisconnected
from framework.events import ExecutionRefused
from framework.events import ExecutionReported
from framework.events import HandlerFailed
from framework.events import OrderDenied
from framework.events import OrderHeld
from framework.events import StrategyFailed
from tradebus.soak.gateway import SoakGateway

WATCHED = (ExecutionRefused, HandlerFailed, StrategyFailed, BrokerConnected, BrokerDegraded, BrokerDisconnected,
           OrderDenied, OrderHeld)
"""Published events counted by name."""
TRACKED = (*ORDER_EVENTS, ExecutionReported)
"""Events whose emitted and dispatched counts must match (order and fill events)."""


class EventTally:
    """Counts events on their way into and through the engine (see the module docstring).

    An order or execution event the adapter hands over is *in flight* until the dispatcher takes
    it; one still in flight once the engine has drained its queue was dropped.

    Attributes:
        emitted: Events the adapter handed the engine, by type name.
        dispatched: The adapter's order and execution events the dispatcher handled, by type name.
        published: Watched events the engine published, by type name.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.emitted: Counter[str] = Counter()
        self.dispatched: Counter[str] = Counter()
        self.published: Counter[str] = Counter()
        self._in_flight: dict[int, AnyEvent] = {}  # by id(); the reference keeps the id unique

    def wrap(self, sink: EventSink) -> EventSink:
        """Return ``sink`` counting each event handed to it (called from the adapter's threads)."""
        def counted(event: AnyEvent) -> None:
            with self._lock:
                self.emitted[type(event).__name__] += 1
                if isinstance(event, TRACKED):
                    self._in_flight[id(event)] = event
            sink(event)

        return counted

    def attach(self, engine: Engine) -> None:
        """Count the dispatcher's order and execution events and the watched published events."""
        lifecycle = engine.lifecycle
        for event_type in TRACKED:
            handler = lifecycle.on_execution if event_type is ExecutionReported else lifecycle.on_order_event
            engine.dispatcher.route(event_type, self._counting(handler))
        for event_type in WATCHED:
            engine.subscribe(event_type, self._publish_counter(event_type.__name__))

    def _counting(self, handler: Callable[[Any], None]) -> Callable[[Any], None]:
        def counted(event: Any) -> None:
            with self._lock:
                if self._in_flight.pop(id(event), None) is not None:  # the adapter's (not the engine's own)
                    self.dispatched[type(event).__name__] += 1
            handler(event)

        return counted

    def _publish_counter(self, name: str) -> Callable[[Any], None]:
        def counted(event: Any) -> None:
            self.published[name] += 1  # the dispatcher thread only

        return counted

    def in_flight(self) -> Counter[str]:
        """The adapter's order and execution events not dispatched yet, by type name."""
        with self._lock:
            return Counter(type(e).__name__ for e in self._in_flight.values())

    def tracked_emitted(self) -> Counter[str]:
        """Order and execution events the adapter emitted, by type name."""
        names = {t.__name__ for t in TRACKED}
        with self._lock:
            return Counter({k: v for k, v in self.emitted.items() if k in names})

    def total_emitted(self) -> int:
        """Every event the adapter handed the engine."""
        with self._lock:
            return sum(self.emitted.values())


class TalliedIbkrBroker(IbkrBroker):
    """The IBKR adapter with its event sink counted by an :class:`EventTally` (nothing else differs)."""

    tally: EventTally

    def connect(self, sink: EventSink) -> None:
        """Connect with the counting sink."""
        super().connect(self.tally.wrap(sink))


@dataclass(frozen=True)
class Sample:
    """One look at the process.

    Attributes:
        at: Wall seconds since the soak started.
        rss_kb: This process's resident memory.
        threads: OS threads of this process.
        fds: Open file descriptors of this process.
        backlog: Events queued for the dispatcher.
        gateway_rss_kb: The gateway child's resident memory (None while it is down).
        quiet: No fault active, broker connected for a while.
    """

    at: float
    rss_kb: int
    threads: int
    fds: int
    backlog: int
    gateway_rss_kb: int | None
    quiet: bool


def rss_kb() -> int:
    """This process's resident memory (``VmRSS``), in kB."""
    for line in _read("/proc/self/status").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def thread_count() -> int:
    """OS threads of this process."""
    return len(os.listdir("/proc/self/task"))


def fd_count() -> int:
    """Open file descriptors of this process (the listing's own descriptor included)."""
    return len(os.listdir("/proc/self/fd"))


class ResourceSampler:
    """Samples resources every ``interval`` seconds on a thread of its own.

    Args:
        clock: The wall clock.
        interval: Seconds between samples.
        quiet_for: Seconds since the last fault recovered (0 while one is active).
        quiet_min: How long it must have been quiet for a sample to count as quiet.
        gateway: The gateway child (its memory).
        backlog: The dispatcher's queue length.
        exclusive: Held while sampling; the soak's own checks hold it while they open files and
            sockets, so a sample never counts their descriptors.
    """

    def __init__(self, clock: Clock, *, interval: float, quiet_for: Callable[[], float], quiet_min: float,
                 gateway: SoakGateway, backlog: Callable[[], int], exclusive: threading.Lock) -> None:
        self._clock = clock
        self._interval = interval
        self._quiet_for = quiet_for
        self._quiet_min = quiet_min
        self._gateway = gateway
        self._backlog = backlog
        self._exclusive = exclusive
        self._start = clock.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-sampler", daemon=True)
        self.samples: list[Sample] = []

    def start(self) -> None:
        """Start sampling."""
        self._thread.start()

    def stop(self) -> None:
        """Stop sampling and wait for the thread."""
        self._stop.set()
        self._thread.join()

    def sample(self) -> Sample:
        """Take one sample now (also kept)."""
        with self._exclusive:
            return self._sample()

    def _sample(self) -> Sample:
        gc.collect()  # what is unreachable is not kept: count what the process really holds
        taken = Sample(self._clock.monotonic() - self._start, rss_kb(), thread_count(), fd_count(), self._backlog(),
                       self._gateway.sample_rss_kb(), self._quiet_for() >= self._quiet_min)
        self.samples.append(taken)
        return taken

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.sample()
