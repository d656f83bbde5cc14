"""A broker adapter's command worker: order commands run off the dispatcher, in lanes, in order.

A networked adapter's :meth:`~framework.broker.Execution.execute` puts each command here and
returns; threads of the worker send them. Work is split into *lanes* (an adapter chooses, e.g. one
for placements, which its venue may need serialised, and one for cancels), so a cancel never waits
behind a placement that is stuck in I/O. Across lanes, the commands of one order still reach the
venue in the order they were issued: a command waits while an earlier command for the same order
is queued or being sent. ``CancelAllOrders`` concerns no single order and never waits.

Two more rules a trader expects:

* a cancel for an order whose submission has not been sent yet removes that submission (and any
  modification queued behind it): the order is reported ``OrderCancelled`` ("cancelled before it
  was sent") and the venue never sees it;
* :meth:`CommandWorker.drop_unsent` (the kill switch) removes every placement not yet sent and
  returns them; what is being sent finishes.

Without threads (:meth:`CommandWorker.run_pending`), tests run the queued commands on their own
thread, in issue order.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import deque
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass

from framework.broker import EventSink
from framework.clock import Clock
from framework.commands import PLACEMENTS
from framework.commands import CancelOrder
from framework.commands import OrderCommand
from framework.commands import SubmitOrder
from framework.events import OrderCancelled

log = logging.getLogger(__name__)

IDLE_WAIT_SECONDS = 0.5  # a lane re-checks its stop signal at least this often


@dataclass(slots=True)
class _Queued:
    seq: int
    lane: str
    command: OrderCommand


class CommandWorker:
    """Runs one adapter's commands on one thread per lane.

    Args:
        execute: Sends one command to the venue (blocking is fine here). An exception it raises is
            logged and handed to ``on_error``; it never ends the lane.
        lane_of: The lane of a command (one of ``lanes``).
        lanes: The lane names, one thread each.
        sink: Where the worker's own events go (a cancel that removed an unsent submission).
        clock: Stamps those events.
        on_error: Told about a command whose ``execute`` raised unexpectedly.
        name: Prefix of the thread names.
    """

    def __init__(self, execute: Callable[[OrderCommand], None], *, lane_of: Callable[[OrderCommand], str],
                 lanes: Sequence[str], sink: EventSink, clock: Clock,
                 on_error: Callable[[OrderCommand, Exception], None] | None = None, name: str = "worker") -> None:
        self._execute = execute
        self._lane_of = lane_of
        self._lanes: dict[str, deque[_Queued]] = {lane: deque() for lane in lanes}
        self._sink = sink
        self._clock = clock
        self._on_error = on_error
        self._name = name
        self._cv = threading.Condition()
        self._by_order: dict[str, deque[int]] = {}  # client order id -> seqs queued or in flight, in order
        self._seq = itertools.count()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._in_flight = 0
        self.errors = 0

    # ----------------------------------------------------------------- the queue (any thread)

    def put(self, command: OrderCommand) -> None:
        """Queue ``command``; returns at once."""
        with self._cv:
            if isinstance(command, CancelOrder) and self._cancel_unsent(command.client_order_id):
                return
            item = _Queued(next(self._seq), self._lane_of(command), command)
            self._lanes[item.lane].append(item)
            cid = command.client_order_id
            if cid is not None:
                self._by_order.setdefault(cid, deque()).append(item.seq)
            self._cv.notify_all()

    def drop_unsent(self) -> list[OrderCommand]:
        """Remove every placement (submit, modify) not yet sent; return them in issue order."""
        with self._cv:
            dropped = self._remove(lambda item: isinstance(item.command, PLACEMENTS))
            self._cv.notify_all()
        return [item.command for item in dropped]

    def pending(self) -> int:
        """Commands queued and not yet taken by a lane."""
        with self._cv:
            return sum(len(q) for q in self._lanes.values())

    def outstanding(self) -> int:
        """Commands queued or being sent."""
        with self._cv:
            return sum(len(q) for q in self._lanes.values()) + self._in_flight

    def _cancel_unsent(self, cid: str) -> bool:
        # the caller holds the lock; True if the order's submission was still queued (now removed)
        queued = [i for q in self._lanes.values() for i in q if i.command.client_order_id == cid]
        submitted = any(isinstance(i.command, SubmitOrder) for i in queued)
        in_flight = any(seq not in {i.seq for i in queued} for seq in self._by_order.get(cid, ()))
        if not submitted or in_flight:
            return False
        self._remove(lambda item: item.command.client_order_id == cid)
        log.info("order %s cancelled before it was sent", cid)
        self._sink(OrderCancelled(ts=self._clock.now(), client_order_id=cid, reason="cancelled before it was sent"))
        return True

    def _remove(self, drop: Callable[[_Queued], bool]) -> list[_Queued]:
        removed: list[_Queued] = []
        for lane, queue in self._lanes.items():
            kept = deque(i for i in queue if not drop(i))
            removed += [i for i in queue if drop(i)]
            self._lanes[lane] = kept
        for item in removed:
            self._forget(item)
        return sorted(removed, key=lambda i: i.seq)

    def _forget(self, item: _Queued) -> None:
        cid = item.command.client_order_id
        if cid is None:
            return
        seqs = self._by_order.get(cid)
        if seqs is not None:
            seqs.remove(item.seq)
            if not seqs:
                del self._by_order[cid]

    def _eligible(self, lane: str) -> _Queued | None:
        # the first command of the lane whose order has nothing earlier queued or in flight
        for item in self._lanes[lane]:
            cid = item.command.client_order_id
            if cid is None or self._by_order[cid][0] == item.seq:
                return item
        return None

    def _take(self, lane: str) -> _Queued | None:
        item = self._eligible(lane)
        if item is not None:
            self._lanes[lane].remove(item)
            self._in_flight += 1
        return item

    # ----------------------------------------------------------------- running

    def start(self) -> None:
        """Start one thread per lane."""
        if self._threads:
            return
        self._stop.clear()
        self._threads = [threading.Thread(target=self._loop, args=(lane,), name=f"{self._name}-{lane}", daemon=True)
                         for lane in self._lanes]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the lanes after the commands they are sending; queued ones stay queued."""
        self._stop.set()
        with self._cv:
            self._cv.notify_all()
        threads, self._threads = self._threads, []
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(timeout=timeout)

    def run_pending(self) -> int:
        """Run every queued command on this thread, in issue order (tests, no threads); return how many."""
        count = 0
        while True:
            with self._cv:
                heads = [i for lane in self._lanes for i in [self._eligible(lane)] if i is not None]
                if not heads:
                    return count
                item = min(heads, key=lambda i: i.seq)
                self._lanes[item.lane].remove(item)
                self._in_flight += 1
            self._run(item)
            count += 1

    def _loop(self, lane: str) -> None:
        while not self._stop.is_set():
            with self._cv:
                item = self._take(lane)
                if item is None:
                    self._cv.wait(IDLE_WAIT_SECONDS)
                    continue
            self._run(item)

    def _run(self, item: _Queued) -> None:
        try:
            self._execute(item.command)
        except Exception as e:  # the lane's isolation point: one bad command must not end the lane
            self.errors += 1
            log.exception("%s: %s raised; carrying on", self._name, type(item.command).__name__)
            if self._on_error is not None:
                self._on_error(item.command, e)
        finally:
            with self._cv:
                self._in_flight -= 1
                self._forget(item)
                self._cv.notify_all()
