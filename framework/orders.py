"""Order state machine, keyed by client order id.

:class:`OrderBook` holds the latest :class:`~framework.models.Order` snapshot of every order and
applies order events to it. Each event either moves the order along a legal transition (the book
returns the event to publish, possibly normalised), or is refused and logged: an illegal transition,
a duplicate fill (same execution id), an overfill, an event for an unknown order.

Legal transitions (anything else is refused)::

    INITIALIZED      -> SUBMITTED | DENIED
    SUBMITTED        -> ACCEPTED | REJECTED | PARTIALLY_FILLED | FILLED | PENDING_CANCEL | CANCELLED
                        | EXPIRED
    ACCEPTED         -> PARTIALLY_FILLED | FILLED | PENDING_CANCEL | CANCELLED | EXPIRED | REJECTED
                        | (updated)
    PARTIALLY_FILLED -> PARTIALLY_FILLED | FILLED | PENDING_CANCEL | CANCELLED | EXPIRED | (updated)
    PENDING_CANCEL   -> CANCELLED | PARTIALLY_FILLED | FILLED | EXPIRED | (cancel rejected: back)
    DENIED, REJECTED, FILLED, CANCELLED, EXPIRED: terminal

A fill is published as ``OrderFilled`` when it completes the quantity and as ``OrderPartiallyFilled``
otherwise, whatever the broker called it. An ``OrderAccepted`` arriving after a fill (fill before
acknowledgement) records the broker id silently.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from framework.events import OrderAccepted
from framework.events import OrderCancelled
from framework.events import OrderCancelRejected
from framework.events import OrderDenied
from framework.events import OrderEvent
from framework.events import OrderExpired
from framework.events import OrderFilled
from framework.events import OrderPartiallyFilled
from framework.events import OrderPendingCancel
from framework.events import OrderRejected
from framework.events import OrderSubmitted
from framework.events import OrderUpdated
from framework.models import Fill
from framework.models import Order
from framework.models import OrderRequest
from framework.models import OrderStatus

log = logging.getLogger(__name__)

S = OrderStatus
_WORKING = frozenset({S.SUBMITTED, S.ACCEPTED, S.PARTIALLY_FILLED, S.PENDING_CANCEL})

# event type -> (states it may arrive in, state it leads to; None = computed by the handler)
TRANSITIONS: dict[type[OrderEvent], tuple[frozenset[OrderStatus], OrderStatus | None]] = {
    OrderSubmitted: (frozenset({S.INITIALIZED}), S.SUBMITTED),
    OrderDenied: (frozenset({S.INITIALIZED}), S.DENIED),
    OrderAccepted: (frozenset({S.SUBMITTED}), S.ACCEPTED),
    OrderRejected: (frozenset({S.SUBMITTED, S.ACCEPTED}), S.REJECTED),
    OrderUpdated: (frozenset({S.ACCEPTED, S.PARTIALLY_FILLED, S.SUBMITTED}), None),
    OrderPartiallyFilled: (_WORKING, None),
    OrderFilled: (_WORKING, None),
    OrderPendingCancel: (frozenset({S.SUBMITTED, S.ACCEPTED, S.PARTIALLY_FILLED}), S.PENDING_CANCEL),
    OrderCancelled: (_WORKING, S.CANCELLED),
    OrderCancelRejected: (_WORKING, None),
    OrderExpired: (_WORKING, S.EXPIRED),
}


_new = object.__new__
_set = object.__setattr__


def evolve(order: Order, changes: dict[str, object]) -> Order:
    """Return a copy of ``order`` with ``changes`` applied, without validating again.

    The same contract as ``order.model_copy(update=changes)`` (the values must already be valid:
    they come from validated events), at a fifth of its cost; the order book makes three of these
    per order, on the backtest hot path. ``tests/framework/test_orders.py`` pins the equivalence.
    """
    clone = _new(Order)
    _set(clone, "__dict__", {**order.__dict__, **changes})
    _set(clone, "__pydantic_fields_set__", order.__pydantic_fields_set__ | changes.keys())
    _set(clone, "__pydantic_extra__", None)
    _set(clone, "__pydantic_private__", None)
    return clone


_FRESH = {"status": S.INITIALIZED, "broker_order_id": None, "average_fill_price": None, "reason": None}
_FRESH_FIELDS = frozenset({"request", "updated"})


def new_order(request: OrderRequest, updated: datetime) -> Order:
    """Return ``Order(request=request, updated=updated)`` without validating again.

    ``request`` is already a validated ticket and ``updated`` comes from the engine's clock (aware
    UTC by the Clock contract), so validation would only re-check what is known; tests pin the
    equivalence with the validating constructor.
    """
    order = _new(Order)
    fields = {"request": request, **_FRESH, "filled_quantity": Decimal(0), "updated": updated}
    _set(order, "__dict__", fields)
    _set(order, "__pydantic_fields_set__", set(_FRESH_FIELDS))
    _set(order, "__pydantic_extra__", None)
    _set(order, "__pydantic_private__", None)
    return order


class OrderBook:
    """Every order of a run and its current state.

    Not thread-safe: only the engine's dispatcher thread touches it.
    """

    def __init__(self) -> None:
        self._orders: dict[str, Order] = {}
        self._unfinished: dict[str, None] = {}  # ids of orders not terminal, in creation order
        self._executions: set[str] = set()
        self._before_cancel: dict[str, OrderStatus] = {}
        self.refused = 0

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

    def restore(self, order: Order, execution_ids: Iterable[str] = ()) -> None:
        """Track an order a previous run left unfinished, in the state its journal recorded.

        Args:
            order: The journaled snapshot.
            execution_ids: Fills already applied to it (refused if reported again).

        Raises:
            ValueError: If the client order id is already in use.
        """
        self.add(order)
        self._executions.update(execution_ids)

    def get(self, client_order_id: str) -> Order | None:
        """Return the order's current snapshot, or None."""
        return self._orders.get(client_order_id)

    def __contains__(self, client_order_id: object) -> bool:
        return client_order_id in self._orders

    def all(self) -> list[Order]:
        """Every order, in creation order."""
        return list(self._orders.values())

    def open(self, strategy_id: str | None = None) -> list[Order]:
        """Orders that may still fill, optionally of one strategy (in creation order)."""
        orders = self._orders
        # only unfinished orders are scanned: risk checks call this for every new order
        return [
            o
            for o in map(orders.__getitem__, self._unfinished)
            if o.status.is_open and (strategy_id is None or o.request.strategy_id == strategy_id)
        ]

    def has_execution(self, execution_id: str) -> bool:
        """Whether a fill with this execution id was already applied."""
        return execution_id in self._executions

    def apply(self, event: OrderEvent) -> OrderEvent | None:
        """Apply ``event``; return the event to publish, or None if it was refused or is a no-op."""
        order = self._orders.get(event.client_order_id)
        if order is None:
            self._refuse(event, "unknown client_order_id")
            return None
        if isinstance(event, OrderAccepted) and order.status not in (S.SUBMITTED, S.INITIALIZED):
            self._late_ack(order, event)
            return None
        allowed, target = TRANSITIONS[type(event)]
        if order.status not in allowed:
            self._refuse(event, f"illegal in state {order.status}")
            return None
        return self._transition(order, event, target)

    def _transition(self, order: Order, event: OrderEvent, target: OrderStatus | None) -> OrderEvent | None:
        if isinstance(event, OrderFilled | OrderPartiallyFilled):
            return self._apply_fill(order, event.fill, event)
        if isinstance(event, OrderCancelRejected):
            restored = self._before_cancel.pop(order.client_order_id, order.status)
            self._store(order, event, status=restored)
        elif isinstance(event, OrderUpdated):
            self._store(order, event, request=event.request)
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

    def _store(self, order: Order, event: OrderEvent, **changes: object) -> Order:
        changes["updated"] = event.ts
        updated = evolve(order, changes)
        self._orders[order.client_order_id] = updated
        if updated.status.is_terminal:
            self._unfinished.pop(order.client_order_id, None)
        return updated

    def _late_ack(self, order: Order, event: OrderAccepted) -> None:
        if order.broker_order_id is None:
            self._store(order, event, broker_order_id=event.broker_order_id)
        log.debug("late acknowledgement of %s in state %s", order.client_order_id, order.status)

    def _apply_fill(self, order: Order, fill: Fill, event: OrderEvent) -> OrderEvent | None:
        if fill.execution_id in self._executions:
            log.info("duplicate fill %s for %s ignored", fill.execution_id, order.client_order_id)
            return None
        new_filled = order.filled_quantity + fill.quantity
        if new_filled > order.request.quantity:
            self._refuse(event, f"overfill: {new_filled} > {order.request.quantity}")
            return None
        self._executions.add(fill.execution_id)
        previous_value = (order.average_fill_price or Decimal(0)) * order.filled_quantity
        average = (previous_value + fill.price * fill.quantity) / new_filled
        done = new_filled == order.request.quantity
        self._store(
            order,
            event,
            status=S.FILLED if done else S.PARTIALLY_FILLED,
            filled_quantity=new_filled,
            average_fill_price=average,
            broker_order_id=order.broker_order_id or fill.broker_order_id,
        )
        if done:
            self._before_cancel.pop(order.client_order_id, None)
        kind = OrderFilled if done else OrderPartiallyFilled
        if isinstance(event, kind):
            return event
        return kind(ts=event.ts, client_order_id=event.client_order_id, fill=fill)

    def _refuse(self, event: OrderEvent, why: str) -> None:
        self.refused += 1
        log.warning("refused %s for %s: %s", type(event).__name__, event.client_order_id, why)
