"""Start-up recovery for IBKR: take back a previous run's unfinished orders and emit what it missed.

:class:`Restart` adopts the journal's unfinished orders into the tracker, reconciles them with IBKR's
live orders and trades, holds bracket children again while their parent works, waits until every
placement whose outcome was unknown is found or declared lost, and sends again a cancel the previous
run journaled but IBKR still reports working (the process died before the DELETE left), waiting for
IBKR's answer. It never places an order twice.

It runs on the thread starting the engine, before any strategy: waiting is allowed here. The events
it finds are returned from :meth:`Restart.run` (a generator) for the facade to deliver.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence

from brokers.ibkr.errors import IbkrError
from brokers.ibkr.orderentry import OrderEntry
from brokers.ibkr.reconcile import Reconciler
from brokers.ibkr.tracking import OrderTracker
from framework.clock import Clock
from framework.errors import BrokerConnectionError
from framework.events import AnyEvent
from framework.models import Fill
from framework.models import Order
from framework.models import OrderStatus

log = logging.getLogger(__name__)

POLL_SECONDS = 0.2  # between order lookups while recovered orders are unresolved
CANCEL_CONFIRM_SECONDS = 15.0  # longest start-up waits for IBKR to confirm a cancel sent again


class Restart:
    """Recovers a previous run's orders over the adapter's parts.

    Args:
        tracker: The adapter's order state.
        reconciler: Looks orders and executions up at IBKR.
        entry: Places held bracket children and sends cancels.
        clock: Monotonic time for the waits.
        wait: Sleeps (ends early when the adapter stops).
        stopped: Whether the adapter is stopping.
    """

    def __init__(self, tracker: OrderTracker, reconciler: Reconciler, entry: OrderEntry, clock: Clock, *,
                 wait: Callable[[float], None], stopped: Callable[[], bool]) -> None:
        self._tracker = tracker
        self._reconciler = reconciler
        self._entry = entry
        self._clock = clock
        self._wait = wait
        self._stopped = stopped

    def run(self, orders: Sequence[Order], fills: Sequence[Fill]) -> Iterator[AnyEvent]:
        """Adopt ``orders`` and yield every event the previous run missed.

        Raises:
            BrokerConnectionError: If IBKR's orders or trades could not be read.
        """
        executions: dict[str, list[str]] = {}
        for fill in fills:
            executions.setdefault(fill.client_order_id, []).append(fill.execution_id)
        started = self._clock.monotonic()
        for order in orders:
            held = order.broker_order_id is None and (order.request.parent_id or order.request.oca_group) is not None
            self._tracker.adopt(order, executions.get(order.client_order_id, ()), started, requeue_if_lost=held)
        since = min((o.updated for o in orders), default=None)
        try:
            yield from self._reconciler.reconcile(new_session=False, since=since)
        except IbkrError as e:
            msg = f"IBKR reconciliation failed: {e}"
            raise BrokerConnectionError(msg) from e
        yield from self._hold_again(orders)
        while self._tracker.unresolved() and not self._stopped():
            yield from self.resolve_unresolved()
            if self._tracker.unresolved():
                self._wait(POLL_SECONDS)
        yield from self._finish_cancels(orders)
        log.info("recovered %d unfinished orders from the journal", len(orders))

    def resolve_unresolved(self) -> Iterator[AnyEvent]:
        """Look up orders with an unknown outcome; place again held members a previous run never sent."""
        events, requeue = self._reconciler.resolve_unresolved()
        yield from events
        for request in requeue:
            yield from self._entry.submit(request)

    def _hold_again(self, orders: Sequence[Order]) -> Iterator[AnyEvent]:
        # A bracket child goes to IBKR only once its parent has completely filled: while the parent
        # still works, the previous run held the child in memory, so hold it again (no lookup needed).
        for order in orders:
            parent_id = order.request.parent_id
            parent = self._tracker.get(parent_id) if parent_id is not None else None
            child = self._tracker.get(order.client_order_id)
            if parent is None or parent.terminal or child is None or child.unresolved_since is None:
                continue
            self._tracker.forget(order.client_order_id)
            yield from self._entry.submit(order.request)

    def _finish_cancels(self, orders: Sequence[Order]) -> Iterator[AnyEvent]:
        working = [o.client_order_id for o in orders if o.status is OrderStatus.PENDING_CANCEL
                   and (t := self._tracker.get(o.client_order_id)) is not None and not t.terminal
                   and t.broker_order_id is not None]
        if not working:
            return
        log.warning("cancelling again %s: the previous run asked, IBKR still reports them working", working)
        for cid in working:
            yield from self._entry.cancel(cid)
        deadline = self._clock.monotonic() + CANCEL_CONFIRM_SECONDS
        while any(not t.terminal for cid in working if (t := self._tracker.get(cid)) is not None):
            if self._stopped() or self._clock.monotonic() > deadline:
                log.error("IBKR has not confirmed the cancel of %s yet; the order stays pending cancel", working)
                return
            self._wait(POLL_SECONDS)
            try:
                yield from self._reconciler.reconcile(new_session=False)
            except IbkrError as e:
                log.warning("order lookup failed while confirming cancels, will retry: %s", e)
