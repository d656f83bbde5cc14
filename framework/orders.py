"""Order state machine, keyed by client order id.

:class:`OrderBook` holds the latest :class:`~framework.models.Order` snapshot of every order and
applies order events and execution reports to it; it is the only place an order's status changes.
Each event either moves the order along a legal transition (the book returns the event to publish,
possibly normalised), repeats a fact already applied (a no-op, counted in :attr:`OrderBook.repeats`),
or is refused and logged (an illegal transition, an event for an unknown order).

Executions arrive as :class:`~framework.models.ExecutionReport`; :meth:`OrderBook.apply_execution`
checks each against its order (:mod:`framework.executions`) and books it only if it agrees. The same
execution reported again is a duplicate (counted in :attr:`OrderBook.duplicates`); one that
contradicts comes back as a :class:`~framework.executions.Contradiction` for the caller to publish.

Legal transitions (anything else is refused)::

    INITIALIZED      -> SUBMITTED | DENIED
    SUBMITTED        -> ACCEPTED | REJECTED | PARTIALLY_FILLED | FILLED | PENDING_CANCEL | CANCELLED
                        | EXPIRED | DENIED (a queued command the kill switch dropped, never sent)
    ACCEPTED         -> PARTIALLY_FILLED | FILLED | PENDING_CANCEL | CANCELLED | EXPIRED | REJECTED
                        | (updated)
    PARTIALLY_FILLED -> PARTIALLY_FILLED | FILLED | PENDING_CANCEL | CANCELLED | EXPIRED | (updated)
                        | (rejected: becomes CANCELLED, it has filled)
    PENDING_CANCEL   -> CANCELLED | PARTIALLY_FILLED | FILLED | EXPIRED | (cancel rejected: back) | (updated)
    (updated: the ticket is replaced; an order that has already filled the new quantity is FILLED;
     a FILLED, CANCELLED or EXPIRED order takes the ticket it finished under and keeps its status)
    (any working state: OrderHeld, a command waiting for the broker, changes nothing)
    DENIED, REJECTED, FILLED, CANCELLED, EXPIRED: terminal

A fill is published as ``OrderFilled`` when it completes the quantity and as ``OrderPartiallyFilled``
otherwise. An ``OrderAccepted`` arriving after a fill (fill before acknowledgement) records the broker
id silently. An execution of a cancelled or expired order (the venue filled it before the cancel
took effect) is booked and logged: the money moved.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any
from typing import Protocol

from framework.events import OrderAccepted
from framework.events import OrderCancelled
from framework.events import OrderCancelRejected
from framework.events import OrderDenied
from framework.events import OrderEvent
from framework.events import OrderExpired
from framework.events import OrderFilled
from framework.events import OrderHeld
from framework.events import OrderPartiallyFilled
from framework.events import OrderPendingCancel
from framework.events import OrderRejected
from framework.events import OrderSubmitted
from framework.events import OrderUpdated
from framework.executions import Contradiction
from framework.executions import check_report
from framework.executions import compare_with_booked
from framework.executions import fill_from_report
from framework.models import TERMINAL_STATUSES
from framework.models import ExecutionReport
from framework.models import Fill
from framework.models import Order
from framework.models import OrderRequest
from framework.models import OrderStatus

log = logging.getLogger(__name__)

S = OrderStatus
_WORKING = frozenset({S.SUBMITTED, S.ACCEPTED, S.PARTIALLY_FILLED, S.PENDING_CANCEL})
_LATE_FILL = frozenset({S.CANCELLED, S.EXPIRED})  # the venue may have filled before the cancel took effect
# a modification the venue applied may be acknowledged only after the order finished under it
_FINISHED_UNDER = frozenset({S.FILLED, S.CANCELLED, S.EXPIRED})

# event type -> (states it may arrive in, state it leads to; None = computed by the handler)
TRANSITIONS: dict[type[OrderEvent], tuple[frozenset[OrderStatus], OrderStatus | None]] = {
    OrderSubmitted: (frozenset({S.INITIALIZED}), S.SUBMITTED),
    OrderDenied: (frozenset({S.INITIALIZED, S.SUBMITTED}), S.DENIED),
    OrderAccepted: (frozenset({S.SUBMITTED}), S.ACCEPTED),
    OrderRejected: (frozenset({S.SUBMITTED, S.ACCEPTED, S.PARTIALLY_FILLED, S.PENDING_CANCEL}), S.REJECTED),
    OrderUpdated: (frozenset({S.ACCEPTED, S.PARTIALLY_FILLED, S.SUBMITTED, S.PENDING_CANCEL, *_FINISHED_UNDER}), None),
    OrderPendingCancel: (frozenset({S.SUBMITTED, S.ACCEPTED, S.PARTIALLY_FILLED}), S.PENDING_CANCEL),
    OrderCancelled: (_WORKING, S.CANCELLED),
    OrderCancelRejected: (_WORKING, None),
    OrderExpired: (_WORKING, S.EXPIRED),
    OrderHeld: (_WORKING, None),
}


def evolve(order: Order, changes: dict[str, Any]) -> Order:
    """Return a copy of ``order`` with ``changes`` applied (the values come from checked events)."""
    return order._replace(**changes)


def new_order(request: OrderRequest, updated: datetime) -> Order:
    """A new order (status INITIALIZED) for a validated ``request``."""
    return Order(request, updated)


class OrderView(Protocol):
    """Read-only access to the orders of a run (what strategies and pre-trade checks get)."""

    def get(self, client_order_id: str) -> Order | None:
        """The order's current snapshot, or None."""
        ...

    def open(self, strategy_id: str | None = None) -> list[Order]:
        """Orders that may still fill, optionally of one strategy (in creation order)."""
        ...

    def all(self) -> list[Order]:
        """Every order, in creation order."""
        ...


class OrderBook:
    """Every order of a run and its current state.

    Not thread-safe: only the engine's dispatcher thread touches it.

    Attributes:
        refused: Events refused (illegal transition, unknown order).
        repeats: Facts reported again after they were applied (harmless).
        duplicates: Executions reported again with the same content (harmless, booked once).
    """

    def __init__(self) -> None:
        self._orders: dict[str, Order] = {}
        self._restored: set[str] = set()  # orders of earlier runs, taken back by recovery
        self._unfinished: dict[str, None] = {}  # ids of orders not terminal, in creation order
        self._fills: dict[str, Fill] = {}  # execution id -> the fill booked for it
        self._before_cancel: dict[str, OrderStatus] = {}
        self.refused = 0
        self.repeats = 0
        self.duplicates = 0

    def add(self, order: Order) -> None:
        """Track a new order (status INITIALIZED).

        Raises:
            ValueError: If the client order id is already in use.
        """
        cid = order.client_order_id
        if cid in self._orders:
            msg = f"client_order_id {cid!r} is already in use"
            raise ValueError(msg)
        self._orders[cid] = order
        if not order.status.is_terminal:
            self._unfinished[cid] = None

    def restore(self, order: Order, fills: Iterable[Fill] = ()) -> None:
        """Track an order a previous run left unfinished, in the state its journal recorded.

        Args:
            order: The journaled snapshot.
            fills: Fills already applied to it (a report of one of them again is a duplicate).

        Raises:
            ValueError: If the client order id is already in use.
        """
        self.add(order)
        self._restored.add(order.client_order_id)
        self._fills.update((f.execution_id, f) for f in fills)

    def remember(self, fill: Fill) -> None:
        """Know a fill an earlier run booked, so a report under its execution id is checked against it.

        Nothing is booked: the same execution reported again is then a duplicate, and another
        execution under that id is refused (see :meth:`apply_execution`).
        """
        self._fills.setdefault(fill.execution_id, fill)

    def get(self, client_order_id: str) -> Order | None:
        """Return the order's current snapshot, or None."""
        return self._orders.get(client_order_id)

    def __contains__(self, client_order_id: object) -> bool:
        return client_order_id in self._orders

    def all(self) -> list[Order]:
        """Every order, in creation order."""
        return list(self._orders.values())

    def this_run(self) -> list[Order]:
        """The orders this run placed (not those recovered from earlier runs), in creation order."""
        restored = self._restored
        return [o for cid, o in self._orders.items() if cid not in restored]

    def recovered(self) -> list[Order]:
        """The orders recovered from earlier runs, in the order they were restored."""
        return [self._orders[cid] for cid in self._orders if cid in self._restored]

    def open(self, strategy_id: str | None = None) -> list[Order]:
        """Orders that may still fill, optionally of one strategy (in creation order)."""
        orders = self._orders
        # only unfinished orders are scanned: risk checks call this for every new order
        return [
            o
            for o in map(orders.__getitem__, self._unfinished)
            if o.status.is_open and (strategy_id is None or o.request.strategy_id == strategy_id)
        ]

    def booked(self, execution_id: str) -> Fill | None:
        """The fill booked for an execution id, if any."""
        return self._fills.get(execution_id)

    def apply(self, event: OrderEvent) -> OrderEvent | None:
        """Apply an order fact; return the event to publish, or None if refused or a repeat.

        Fills are not facts of this kind: they arrive as reports (:meth:`apply_execution`).
        """
        order = self._orders.get(event.client_order_id)
        if order is None:
            self._refuse(event, "unknown client_order_id")
            return None
        if isinstance(event, OrderAccepted) and order.status not in (S.SUBMITTED, S.INITIALIZED):
            self._late_ack(order, event)
            return None
        allowed, target = TRANSITIONS[type(event)]
        if order.status not in allowed:
            if target is not None and order.status is target:
                self.repeats += 1  # the same fact again (a stream and a lookup both told us)
                log.debug("repeated %s for %s ignored", type(event).__name__, order.client_order_id)
            else:
                self._refuse(event, f"illegal in state {order.status}")
            return None
        return self._transition(order, event, target)

    def apply_execution(self, report: ExecutionReport, account_id: str | None) -> OrderEvent | Contradiction | None:
        """Check ``report`` against its order and book it.

        Args:
            report: The venue's report.
            account_id: The account this run trades (reports naming another are refused).

        Returns:
            The fill event to publish; a :class:`Contradiction` if the report contradicts its
            order or an earlier report (nothing was booked); None for a duplicate.
        """
        booked = self._fills.get(report.execution_id)
        if booked is not None:
            found = compare_with_booked(report, booked)
            if found is None:
                self.duplicates += 1
            return found
        order = self._orders.get(report.client_order_id)
        if order is None:
            return Contradiction("client_order_id", "an order of this run", report.client_order_id)
        if order.status not in _WORKING and order.status not in _LATE_FILL:
            return Contradiction("status", "an order that may fill", f"{order.client_order_id} is {order.status}")
        found = check_report(report, order, account_id)
        if found is not None:
            return found
        return self._book_fill(order, fill_from_report(report, order))

    def _transition(self, order: Order, event: OrderEvent, target: OrderStatus | None) -> OrderEvent | None:
        if type(event) is OrderAccepted:  # once per order: built directly
            self._put(Order(order.request, event.ts, S.ACCEPTED, event.broker_order_id, order.filled_quantity,
                            order.average_fill_price, order.reason))
        elif type(event) is OrderHeld:
            pass  # a command waits for the broker: the order's state does not change
        elif isinstance(event, OrderCancelRejected):
            restored = self._before_cancel.pop(order.client_order_id, order.status)
            self._store(order, event, status=restored)
        elif isinstance(event, OrderUpdated):
            if order.status in _FINISHED_UNDER:
                self._store(order, event, request=event.request)  # the ticket it finished under; status kept
            elif order.filled_quantity and order.filled_quantity >= event.request.quantity:
                # the venue applied a smaller size and the order filled at it before the acknowledgement
                self._before_cancel.pop(order.client_order_id, None)
                self._store(order, event, request=event.request, status=S.FILLED)
            else:
                self._store(order, event, request=event.request)
        elif isinstance(event, OrderRejected) and order.filled_quantity:
            # a partly filled order cannot be "rejected" any more: what did not fill is cancelled
            event = OrderCancelled(ts=event.ts, client_order_id=event.client_order_id,
                                   reason=f"rest rejected after a partial fill: {event.reason}")
            self._store(order, event, status=S.CANCELLED, reason=event.reason)
        else:
            assert target is not None  # every other event type names its target state
            if target is S.PENDING_CANCEL:
                self._before_cancel[order.client_order_id] = order.status
            self._store(order, event, status=target, **self._extra(event))
        return event

    @staticmethod
    def _extra(event: OrderEvent) -> dict[str, object]:
        if isinstance(event, OrderAccepted):
            return {"broker_order_id": event.broker_order_id}
        if isinstance(event, OrderRejected | OrderDenied):
            return {"reason": event.reason}
        if isinstance(event, OrderCancelled):
            return {"reason": event.reason or None}
        if isinstance(event, OrderExpired):
            return {"reason": "expired"}
        return {}

    def _store(self, order: Order, event: OrderEvent, **changes: Any) -> Order:
        get = changes.get
        return self._put(Order(get("request", order.request), event.ts, get("status", order.status),
                               get("broker_order_id", order.broker_order_id), order.filled_quantity,
                               order.average_fill_price, get("reason", order.reason)))

    def _put(self, updated: Order) -> Order:
        cid = updated.request.client_order_id
        self._orders[cid] = updated
        if updated.status in TERMINAL_STATUSES:
            self._unfinished.pop(cid, None)
        return updated

    def _late_ack(self, order: Order, event: OrderAccepted) -> None:
        if order.broker_order_id is None:
            self._store(order, event, broker_order_id=event.broker_order_id)
        log.debug("late acknowledgement of %s in state %s", order.client_order_id, order.status)

    def _book_fill(self, order: Order, fill: Fill) -> OrderEvent:
        self._fills[fill.execution_id] = fill
        if order.filled_quantity:
            new_filled = order.filled_quantity + fill.quantity
            previous_value = (order.average_fill_price or Decimal(0)) * order.filled_quantity
            average = (previous_value + fill.price * fill.quantity) / new_filled
        else:  # the first fill: share its objects (every order of a run is kept)
            new_filled, average = fill.quantity, fill.price
        done = new_filled == order.request.quantity
        status = order.status
        if done:
            status = S.FILLED
            self._before_cancel.pop(order.client_order_id, None)
        elif status in _LATE_FILL:
            log.warning("order %s is %s but %s more were executed (%s); booked", order.client_order_id,
                        status, fill.quantity, fill.execution_id)
        elif status is not S.PENDING_CANCEL:
            status = S.PARTIALLY_FILLED
        self._put(Order(order.request, fill.ts, status, order.broker_order_id or fill.broker_order_id, new_filled,
                        average, order.reason))
        kind = OrderFilled if done else OrderPartiallyFilled
        return kind(ts=fill.ts, client_order_id=fill.client_order_id, fill=fill)

    def _refuse(self, event: OrderEvent, why: str) -> None:
        self.refused += 1
        log.warning("refused %s for %s: %s", type(event).__name__, event.client_order_id, why)
