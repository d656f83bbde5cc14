"""Per-order state of the adapter: client order id <-> IBKR order id, merged reports, fill ledger.

IBKR reports an order through three channels that race each other: the placement answer (order
id), ``sor`` updates (status deltas keyed by order id, full rows also carry ``order_ref`` = our
client order id) and ``str`` executions (keyed by ``order_ref``). :class:`OrderTracker` folds all of
them into one record per order and returns the framework events each report implies. It reports
facts and keeps only the id mapping and the de-duplication the adapter needs; the engine's order book
decides every status and checks every execution against its order:

* an execution becomes ``ExecutionReported`` with what IBKR said (side, size, price, commission,
  conid, account), unchecked; the same execution id with the same content again (websocket and REST
  both report it; order, side, size, price and commission agree) is dropped here and counted, one
  with different content is passed on so the engine refuses it loudly, as is an id a previous run
  journaled (the engine compares it with the journal's fill);
* a report for an order id not yet known (it raced ahead of the placement answer) is parked and
  replayed when the id is mapped;
* ``OrderAccepted`` is emitted once; the terminal status fact (cancelled, rejected, expired) once;
* ``Cancelled`` without a cancel request from this adapter is IBKR's own: a ``DAY`` order cancelled
  within :data:`EXPIRY_GRACE` after its session's end (IBKR's time of the change when it says; the
  close, or the end of after-hours for an order that may trade then) is ``OrderExpired`` (the close
  ended its day, :mod:`framework.trading_hours`), any other ``OrderCancelled`` with the reason
  ``cancelled by IBKR (not requested)``; ``Inactive`` (IBKR: not working, rejected) is ``OrderRejected``,
  decided by the placement answer when it races ahead of it (so the reason can carry IBKR's words).
* a modification whose answer was lost is kept pending until a full order row (from the
  reconciliation's live-orders call) shows which ticket IBKR holds: ``OrderUpdated`` when it took
  effect (even once the order has finished under it), ``OrderCancelRejected`` when it did not (see
  :mod:`brokers.ibkr.modifies`).

Thread-safe: the dispatcher (placement) and the websocket thread (reports) both call in.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timedelta
from decimal import Decimal
from typing import TypeVar

from brokers.ibkr.modifies import Held
from brokers.ibkr.modifies import held_ticket
from brokers.ibkr.parsing import Execution
from brokers.ibkr.parsing import OrderUpdate
from brokers.ibkr.parsing import Phase
from brokers.ibkr.parsing import report_from_execution
from framework.events import AnyEvent
from framework.events import ExecutionReported
from framework.events import OrderAccepted
from framework.events import OrderCancelled
from framework.events import OrderCancelRejected
from framework.events import OrderExpired
from framework.events import OrderRejected
from framework.events import OrderUpdated
from framework.models import Order
from framework.models import OrderRequest
from framework.models import OrderStatus
from framework.models import TimeInForce
from framework.trading_hours import hours_for
from framework.trading_hours import trades_outside_rth

log = logging.getLogger(__name__)

_T = TypeVar("_T")
MAX_PARKED = 1000  # reports for unknown orders kept at most (oldest dropped)
NOT_WORKING = "IBKR does not work the order (rejected)"
NOT_REQUESTED = "cancelled by IBKR (not requested)"
EXPIRY_GRACE = timedelta(minutes=15)  # a DAY order IBKR cancels this soon after its session ends has expired


@dataclass
class Tracked:
    """What the adapter knows about one order.

    Attributes:
        request: The ticket as last sent.
        broker_order_id: IBKR's order id once known.
        accepted: ``OrderAccepted`` was emitted.
        terminal: A terminal event was emitted; later reports are ignored.
        filled: Quantity filled according to the executions seen.
        broker_filled: Cumulative filled quantity according to IBKR's order reports.
        unresolved_since: Monotonic time an ambiguous placement started; None once resolved.
        requeue_if_lost: A held group member of a previous run: if IBKR never saw it, it is placed
            (as part of its group) instead of being declared lost.
        lost: Rejected as lost (not found after an ambiguous placement); if IBKR reports it after
            all, it is cancelled there (see :meth:`OrderTracker.take_resurfaced`).
        cancel_requested: This adapter asked IBKR to cancel the order (so a ``Cancelled`` is ours).
        placing: The placement request is in flight (registered, its answer not handled yet).
        inactive: The status text of an ``Inactive`` report that arrived while placing: the
            placement answer decides the rejection (with IBKR's description of why, when it has one).
        pending_modify: A modification whose answer was lost, until an order row settles it.
        pending_since: Monotonic time that modification was sent.
    """

    request: OrderRequest
    broker_order_id: str | None = None
    accepted: bool = False
    terminal: bool = False
    filled: Decimal = Decimal(0)
    broker_filled: Decimal = Decimal(0)
    unresolved_since: float | None = None
    executions: set[str] = field(default_factory=set)
    requeue_if_lost: bool = False
    lost: bool = False
    cancel_requested: bool = False
    placing: bool = False
    inactive: str | None = None
    pending_modify: OrderRequest | None = None
    pending_since: float | None = None

    @property
    def missing_fills(self) -> bool:
        """IBKR reports more filled quantity than the executions seen so far."""
        return self.broker_filled > self.filled


class OrderTracker:
    """Every order this adapter placed, and the events already emitted for it."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._orders: dict[str, Tracked] = {}
        self._by_broker_id: dict[str, str] = {}
        self._parked_updates: dict[str, list[OrderUpdate]] = {}
        self._parked_executions: dict[str, list[Execution]] = {}
        self._executions: dict[str, Execution | None] = {}  # execution id -> first report (None: journaled)
        self.duplicates = 0
        self._resurfaced: dict[str, str] = {}  # lost orders IBKR reported after all -> IBKR order id
        self.last_execution_ts: datetime | None = None

    # ----------------------------------------------------------------- lookups

    def get(self, client_order_id: str) -> Tracked | None:
        """The record of an order, or None."""
        with self._lock:
            return self._orders.get(client_order_id)

    def client_order_id(self, broker_order_id: str) -> str | None:
        """Our id for an IBKR order id, or None."""
        with self._lock:
            return self._by_broker_id.get(broker_order_id)

    def open_orders(self) -> list[Tracked]:
        """Orders without a terminal event."""
        with self._lock:
            return [t for t in self._orders.values() if not t.terminal]

    def unresolved(self) -> list[tuple[str, float]]:
        """``(client_order_id, since)`` of orders whose placement outcome is unknown."""
        with self._lock:
            return [(c, t.unresolved_since) for c, t in self._orders.items() if t.unresolved_since is not None]

    def pending_modifies(self) -> list[tuple[str, float]]:
        """``(client_order_id, since)`` of modifications whose outcome is unknown."""
        with self._lock:
            return [(c, t.pending_since) for c, t in self._orders.items()
                    if t.pending_modify is not None and t.pending_since is not None]

    def needs_fill_lookup(self) -> bool:
        """Whether some order reports fills whose executions were not seen."""
        with self._lock:
            return any(t.missing_fills and not t.terminal for t in self._orders.values())

    # ----------------------------------------------------------------- placement outcomes

    def register(self, request: OrderRequest) -> None:
        """Track a request before it is sent (so racing reports find it by ``order_ref``)."""
        with self._lock:
            self._orders[request.client_order_id] = Tracked(request, placing=True)

    def adopt(self, order: Order, execution_ids: Iterable[str], since: float, *, requeue_if_lost: bool = False) -> None:
        """Track an order a previous run placed, with the state and fills its journal recorded.

        Args:
            order: The journal's snapshot of the order.
            execution_ids: Executions already recorded for it (never emitted again).
            since: Monotonic time to start the lookup window from, for an order IBKR never
                acknowledged (its placement outcome is unknown).
            requeue_if_lost: See :attr:`Tracked.requeue_if_lost`.
        """
        with self._lock:
            cid = order.client_order_id
            seen = set(execution_ids)
            tracked = Tracked(order.request, broker_order_id=order.broker_order_id, filled=order.filled_quantity,
                              executions=seen, requeue_if_lost=requeue_if_lost)
            tracked.accepted = order.status not in (OrderStatus.INITIALIZED, OrderStatus.SUBMITTED)
            tracked.cancel_requested = order.status is OrderStatus.PENDING_CANCEL
            if order.broker_order_id is None:
                tracked.unresolved_since = since
            else:
                self._by_broker_id[order.broker_order_id] = cid
            self._orders[cid] = tracked
            self._executions.update(dict.fromkeys(seen))

    def forget(self, client_order_id: str) -> None:
        """Drop a request that definitely never reached IBKR."""
        with self._lock:
            self._orders.pop(client_order_id, None)

    def replace_request(self, request: OrderRequest) -> None:
        """Record an accepted modification."""
        with self._lock:
            tracked = self._orders.get(request.client_order_id)
            if tracked is not None:
                tracked.request = request

    def modify_unresolved(self, request: OrderRequest, since: float) -> None:
        """A modification's answer was lost: keep it pending until an order row shows which ticket IBKR holds."""
        with self._lock:
            tracked = self._orders.get(request.client_order_id)
            if tracked is not None and not tracked.terminal:
                tracked.pending_modify, tracked.pending_since = request, since

    def give_up_modify(self, client_order_id: str, reason: str, ts: datetime) -> list[AnyEvent]:
        """Stop waiting for a pending modification's outcome: the framework keeps the old ticket."""
        with self._lock:
            tracked = self._orders.get(client_order_id)
            if tracked is None or tracked.pending_modify is None:
                return []
            tracked.pending_modify = tracked.pending_since = None
            if tracked.terminal:
                return []
            return [OrderCancelRejected(ts=ts, client_order_id=client_order_id, reason=reason)]

    def expire_modifies(self, now: float, window: float, ts: datetime) -> list[AnyEvent]:
        """Give up the modifications pending longer than ``window`` seconds (monotonic ``now``)."""
        events: list[AnyEvent] = []
        for cid, since in self.pending_modifies():
            if now - since > window:
                log.error("modification of %s: IBKR's order rows showed neither ticket within %.0fs; keeping "
                          "the previous one", cid, window)
                reason = f"modification outcome unknown after {window:.0f}s: IBKR showed neither ticket"
                events += self.give_up_modify(cid, reason, ts)
        return events

    def mark_unresolved(self, client_order_id: str, since: float) -> None:
        """The placement outcome is unknown: keep the order until a lookup resolves it."""
        with self._lock:
            tracked = self._orders.get(client_order_id)
            if tracked is None:
                return
            tracked.placing = False  # an Inactive seen meanwhile is found again by the lookup
            if tracked.broker_order_id is None:
                tracked.unresolved_since = since

    def placed(self, client_order_id: str, broker_order_id: str, ts: datetime) -> list[AnyEvent]:
        """IBKR acknowledged the order: map the ids, accept, and replay reports that raced ahead."""
        with self._lock:
            tracked = self._orders.get(client_order_id)
            if tracked is None:
                return []
            tracked.placing = False
            if tracked.inactive is not None:  # the stream said Inactive before this answer came
                return self.refused_on_ack(client_order_id, broker_order_id, _not_working(tracked.inactive), ts)
            events = self._map(tracked, client_order_id, broker_order_id, ts)
            return events + self._replay(client_order_id, broker_order_id, ts)

    def inactive_while_placing(self, client_order_id: str) -> bool:
        """Whether an ``Inactive`` report for the order arrived before its placement answer."""
        with self._lock:
            tracked = self._orders.get(client_order_id)
            return tracked is not None and tracked.inactive is not None

    def rejected(self, client_order_id: str, reason: str, ts: datetime, *, lost: bool = False) -> list[AnyEvent]:
        """IBKR refused the order (or it was declined, or ``lost``): the terminal rejection."""
        with self._lock:
            tracked = self._orders.get(client_order_id)
            if tracked is None or tracked.terminal:
                return []
            tracked.terminal = True
            tracked.lost = lost
            tracked.unresolved_since = None
            tracked.placing = False
            return [OrderRejected(ts=ts, client_order_id=client_order_id, reason=reason)]

    def refused_on_ack(self, client_order_id: str, broker_order_id: str, reason: str,
                       ts: datetime) -> list[AnyEvent]:
        """IBKR acknowledged the order as ``Inactive`` (not working): map the ids, reject it for good."""
        with self._lock:
            tracked = self._orders.get(client_order_id)
            if tracked is None:
                return []
            if tracked.broker_order_id is None:
                tracked.broker_order_id = broker_order_id
                self._by_broker_id[broker_order_id] = client_order_id
        return self.rejected(client_order_id, reason, ts)

    def cancel_requested(self, client_order_id: str) -> None:
        """This adapter is asking IBKR to cancel the order: its ``Cancelled`` will be the answer."""
        with self._lock:
            tracked = self._orders.get(client_order_id)
            if tracked is not None:
                tracked.cancel_requested = True

    def take_resurfaced(self) -> dict[str, str]:
        """Orders declared lost that IBKR reported after all (client id -> IBKR id), once each."""
        with self._lock:
            found, self._resurfaced = self._resurfaced, {}
            return found

    def _resurface(self, tracked: Tracked, cid: str, what: str) -> None:
        # The framework already closed this order as rejected; IBKR has it. Leaving it to work
        # would trade outside the framework's books, so the broker cancels it (the rule in
        # reliability design §2.2: alert, and cancel if unfilled).
        if tracked.broker_order_id is not None and cid not in self._resurfaced:
            log.error("order %s was declared lost but IBKR reports %s: cancelling it at IBKR", cid, what)
            self._resurfaced[cid] = tracked.broker_order_id

    def _map(self, tracked: Tracked, cid: str, broker_order_id: str, ts: datetime) -> list[AnyEvent]:
        tracked.unresolved_since = None
        if tracked.broker_order_id is None:
            tracked.broker_order_id = broker_order_id
            self._by_broker_id[broker_order_id] = cid
        if tracked.accepted or tracked.terminal:
            return []
        tracked.accepted = True
        return [OrderAccepted(ts=ts, client_order_id=cid, broker_order_id=broker_order_id)]

    def _replay(self, cid: str, broker_order_id: str, ts: datetime) -> list[AnyEvent]:
        events: list[AnyEvent] = []
        for update in self._parked_updates.pop(broker_order_id, []):
            events += self.apply_update(update, ts)
        for key in (broker_order_id, cid):
            for execution in self._parked_executions.pop(key, []):
                events += self.apply_execution(execution)
        return events

    # ----------------------------------------------------------------- reports

    def _resolve(self, client_order_id: str | None, broker_order_id: str | None) -> str | None:
        if client_order_id is not None and client_order_id in self._orders:
            return client_order_id
        if broker_order_id is not None:
            return self._by_broker_id.get(broker_order_id)
        return None

    def apply_update(self, update: OrderUpdate, ts: datetime, *, full: bool = False) -> list[AnyEvent]:
        """Fold an order report (possibly partial) in; return the events it implies.

        Args:
            update: The report.
            ts: When it was received.
            full: A complete row read after the fact (live orders): it may settle a pending modification.
        """
        with self._lock:
            cid = self._resolve(update.client_order_id, update.broker_order_id)
            if cid is None:
                if update.broker_order_id is not None:
                    OrderTracker._park(self._parked_updates, update.broker_order_id, update)
                return []
            tracked = self._orders[cid]
            events: list[AnyEvent] = []
            if update.broker_order_id is not None and update.phase is not Phase.REJECTED:
                events += self._map(tracked, cid, update.broker_order_id, ts)
            if update.filled_quantity is not None:
                tracked.broker_filled = max(tracked.broker_filled, update.filled_quantity)
            if full and tracked.pending_modify is not None:
                events += self._settle_modify(tracked, cid, update, ts)
            if tracked.terminal:
                if tracked.lost and update.phase in (Phase.WORKING, Phase.PENDING):
                    self._resurface(tracked, cid, "it working")
                return events
            return events + self._status_events(tracked, cid, update, ts)

    def _settle_modify(self, tracked: Tracked, cid: str, update: OrderUpdate, ts: datetime) -> list[AnyEvent]:
        pending = tracked.pending_modify
        assert pending is not None  # the caller checked
        held = held_ticket(update, tracked.request, pending)
        if held is Held.UNKNOWN:
            return []  # a later row decides (or the lookup window ends the wait)
        tracked.pending_modify = tracked.pending_since = None
        if held is Held.OLD:
            log.warning("modification of %s was not applied by IBKR (its answer was lost)", cid)
            if tracked.terminal:
                return []  # the order is over: nothing waits for the answer
            return [OrderCancelRejected(ts=ts, client_order_id=cid,
                                        reason="modification not applied: IBKR kept the previous ticket")]
        log.warning("modification of %s was applied by IBKR although its answer was lost", cid)
        tracked.request = pending
        if tracked.filled >= pending.quantity:
            tracked.terminal = True  # it filled at the new size before this row came
        return [OrderUpdated(ts=ts, client_order_id=cid, request=pending)]

    def _status_events(self, tracked: Tracked, cid: str, update: OrderUpdate, ts: datetime) -> list[AnyEvent]:
        reason = update.status_text or ""
        if update.phase is Phase.CANCELLED:
            tracked.terminal = True
            if tracked.cancel_requested:
                return [OrderCancelled(ts=ts, client_order_id=cid, reason=reason.lower())]
            return [_broker_cancel(tracked, cid, update.changed_at or ts, ts)]
        if update.phase is Phase.REJECTED:
            if tracked.placing:
                tracked.inactive = reason  # the placement answer rejects it, with IBKR's description
                return []
            tracked.terminal = True
            tracked.unresolved_since = None
            # the engine's book turns this into a cancellation if the order has partly filled
            return [OrderRejected(ts=ts, client_order_id=cid, reason=_not_working(reason))]
        return []

    def apply_execution(self, execution: Execution) -> list[AnyEvent]:
        """Fold an execution in; return its report, or nothing for a repeat or an order not known yet."""
        with self._lock:
            if self._repeated(execution):
                return []
            cid = self._resolve(execution.client_order_id, execution.broker_order_id)
            if cid is None:
                key = execution.broker_order_id or execution.client_order_id
                if key is not None:
                    OrderTracker._park(self._parked_executions, key, execution)
                return []
            first = execution.execution_id not in self._executions
            self._executions.setdefault(execution.execution_id, execution)
            if self.last_execution_ts is None or execution.ts > self.last_execution_ts:
                self.last_execution_ts = execution.ts
            tracked = self._orders[cid]
            tracked.unresolved_since = None
            if first:
                self._count_fill(tracked, cid, execution)
            report = report_from_execution(execution, cid, tracked.broker_order_id)
            return [ExecutionReported(report.ts, report)]

    def _repeated(self, execution: Execution) -> bool:
        # True for the same execution with the same content again: a harmless duplicate, dropped.
        # Anything else under a known id is passed on for the engine's book to refuse, loudly.
        seen = self._executions.get(execution.execution_id, execution)
        if seen is execution or seen is None:
            return False  # new, or journaled by a previous run (the engine's book compares those)
        same = _same_content(seen, execution)
        if same:
            self.duplicates += 1
        else:
            log.warning("execution %s reported again with other content (%s %s @ %s, was %s %s @ %s): "
                        "passed on to be refused", execution.execution_id, execution.side, execution.quantity,
                        execution.price, seen.side, seen.quantity, seen.price)
        return same

    def _count_fill(self, tracked: Tracked, cid: str, execution: Execution) -> None:
        # the adapter's own view, for bracket release and lost-order handling; the book decides status
        if tracked.lost:
            log.error("execution %s (%s %s @ %s) is for order %s, declared lost: IBKR's position differs "
                      "from the framework's by that much", execution.execution_id, execution.side,
                      execution.quantity, execution.price, cid)
            tracked.broker_order_id = tracked.broker_order_id or execution.broker_order_id
            self._resurface(tracked, cid, "a fill")
            return
        tracked.executions.add(execution.execution_id)
        tracked.filled += execution.quantity
        if tracked.filled >= tracked.request.quantity:
            tracked.terminal = True

    @staticmethod
    def _park(store: dict[str, list[_T]], key: str, item: _T) -> None:
        store.setdefault(key, []).append(item)
        if len(store) > MAX_PARKED:
            oldest = next(iter(store))
            log.warning("dropping parked reports for unknown order %s", oldest)
            del store[oldest]


def _same_content(seen: Execution, now: Execution) -> bool:
    # The fields the engine's book compares (framework.executions.compare_with_booked): order, side,
    # size, price, and the commission when both reports carry one. A field one report lacks (a
    # trades row has no order id) is not a difference; times never are (stream and REST differ).
    pairs = ((seen.side, now.side), (seen.quantity, now.quantity), (seen.price, now.price),
             (seen.client_order_id, now.client_order_id), (seen.broker_order_id, now.broker_order_id),
             (seen.commission, now.commission))
    return all(a == b for a, b in pairs if a is not None and b is not None)


def _not_working(status: str) -> str:
    return f"IBKR status {status}: {NOT_WORKING}"


def _broker_cancel(tracked: Tracked, cid: str, changed_at: datetime, ts: datetime) -> OrderExpired | OrderCancelled:
    # a cancel nobody here asked for: IBKR ending a DAY order at the close, or IBKR's own decision (or a
    # cancel a previous run of this process sent and could not journal before it died)
    request = tracked.request
    if request.time_in_force is TimeInForce.DAY:
        extended = trades_outside_rth(request.outside_rth, request.order_type)
        end = hours_for(request.instrument.exchange).session_end_after(changed_at - EXPIRY_GRACE, extended)
        if end <= changed_at < end + EXPIRY_GRACE:
            log.info("order %s: DAY order cancelled by IBKR at its session's end (%s): expired", cid,
                     end.isoformat())
            return OrderExpired(ts=ts, client_order_id=cid)
    log.warning("order %s was cancelled by IBKR without a cancel request", cid)
    return OrderCancelled(ts=ts, client_order_id=cid, reason=NOT_REQUESTED)

