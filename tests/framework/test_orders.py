"""Order state machine: legal transitions, refusals, duplicate fills, normalisation."""

from __future__ import annotations

from decimal import Decimal

import pytest

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
from framework.models import Instrument
from framework.models import Order
from framework.models import OrderRequest
from framework.models import OrderStatus
from framework.orders import OrderBook
from framework.testing import DEFAULT_START

T0 = DEFAULT_START
S = OrderStatus
REQ = OrderRequest(client_order_id="c1", instrument=Instrument(symbol="A"), side="buy", quantity=10)


def fill(exec_id: str, qty: int, price: str = "10") -> Fill:
    return Fill(
        execution_id=exec_id,
        client_order_id="c1",
        symbol="A",
        side="buy",
        quantity=qty,
        price=Decimal(price),
        ts=T0,
    )


def book() -> OrderBook:
    b = OrderBook()
    b.add(Order(request=REQ, updated=T0))
    return b


def submitted() -> OrderSubmitted:
    return OrderSubmitted(ts=T0, client_order_id="c1", order=Order(request=REQ, updated=T0))


ACCEPT = OrderAccepted(ts=T0, client_order_id="c1", broker_order_id="B1")


def run(b: OrderBook, *events: OrderEvent) -> list[OrderEvent | None]:
    return [b.apply(e) for e in events]


def test_happy_path_submit_accept_partial_fill() -> None:
    b = book()
    out = run(
        b,
        submitted(),
        ACCEPT,
        OrderPartiallyFilled(ts=T0, client_order_id="c1", fill=fill("x1", 4, "10")),
        OrderFilled(ts=T0, client_order_id="c1", fill=fill("x2", 6, "11")),
    )
    assert all(e is not None for e in out)
    order = b.get("c1")
    assert order is not None
    assert order.status is S.FILLED
    assert order.filled_quantity == 10
    assert order.average_fill_price == Decimal("10.6")
    assert order.broker_order_id == "B1"
    assert b.open() == []


def test_duplicate_execution_id_is_ignored() -> None:
    b = book()
    first = OrderPartiallyFilled(ts=T0, client_order_id="c1", fill=fill("x1", 4))
    out = run(b, submitted(), ACCEPT, first, first)
    assert out[-1] is None
    order = b.get("c1")
    assert order is not None
    assert order.filled_quantity == 4
    assert b.has_execution("x1")


def test_broker_naming_is_normalised_by_quantity() -> None:
    b = book()
    run(b, submitted(), ACCEPT)
    # the broker calls the first slice "filled" although 6 remain, and the last "partial"
    early = b.apply(OrderFilled(ts=T0, client_order_id="c1", fill=fill("x1", 4)))
    last = b.apply(OrderPartiallyFilled(ts=T0, client_order_id="c1", fill=fill("x2", 6)))
    assert isinstance(early, OrderPartiallyFilled)
    assert isinstance(last, OrderFilled)


def test_overfill_is_refused() -> None:
    b = book()
    run(b, submitted(), ACCEPT)
    assert b.apply(OrderFilled(ts=T0, client_order_id="c1", fill=fill("x1", 11))) is None
    assert b.refused == 1
    order = b.get("c1")
    assert order is not None
    assert order.filled_quantity == 0


def test_fill_before_acknowledgement_then_late_ack_is_silent() -> None:
    b = book()
    run(b, submitted())
    assert b.apply(OrderFilled(ts=T0, client_order_id="c1", fill=fill("x1", 10))) is not None
    assert b.apply(ACCEPT) is None
    order = b.get("c1")
    assert order is not None
    assert order.status is S.FILLED
    assert order.broker_order_id == "B1"
    assert b.refused == 0


@pytest.mark.parametrize(
    "late",
    [
        OrderAccepted(ts=T0, client_order_id="c1", broker_order_id="B2"),
        OrderCancelled(ts=T0, client_order_id="c1"),
        OrderRejected(ts=T0, client_order_id="c1", reason="x"),
        OrderExpired(ts=T0, client_order_id="c1"),
        OrderPendingCancel(ts=T0, client_order_id="c1"),
    ],
)
def test_terminal_state_refuses_further_events(late: OrderEvent) -> None:
    b = book()
    run(b, submitted(), ACCEPT, OrderFilled(ts=T0, client_order_id="c1", fill=fill("x1", 10)))
    assert b.apply(late) is None
    order = b.get("c1")
    assert order is not None
    assert order.status is S.FILLED


def test_accept_before_submit_is_illegal() -> None:
    b = book()
    assert b.apply(OrderCancelled(ts=T0, client_order_id="c1")) is None
    assert b.refused == 1


def test_unknown_order_is_refused() -> None:
    b = OrderBook()
    assert b.apply(ACCEPT) is None
    assert b.refused == 1


def test_cancel_rejected_restores_previous_state() -> None:
    b = book()
    run(b, submitted(), ACCEPT, OrderPartiallyFilled(ts=T0, client_order_id="c1", fill=fill("x1", 3)))
    run(b, OrderPendingCancel(ts=T0, client_order_id="c1"))
    order = b.get("c1")
    assert order is not None
    assert order.status is S.PENDING_CANCEL
    run(b, OrderCancelRejected(ts=T0, client_order_id="c1", reason="too late"))
    order = b.get("c1")
    assert order is not None
    assert order.status is S.PARTIALLY_FILLED


def test_fill_racing_a_cancel_ends_filled() -> None:
    b = book()
    run(b, submitted(), ACCEPT, OrderPendingCancel(ts=T0, client_order_id="c1"))
    run(b, OrderFilled(ts=T0, client_order_id="c1", fill=fill("x1", 10)))
    assert b.apply(OrderCancelled(ts=T0, client_order_id="c1")) is None
    order = b.get("c1")
    assert order is not None
    assert order.status is S.FILLED


def test_update_replaces_the_ticket() -> None:
    b = book()
    run(b, submitted(), ACCEPT)
    new = REQ.model_copy(update={"quantity": Decimal(20)})
    run(b, OrderUpdated(ts=T0, client_order_id="c1", request=new))
    order = b.get("c1")
    assert order is not None
    assert order.request.quantity == 20
    assert order.status is S.ACCEPTED


def test_denied_is_terminal_and_keeps_reason() -> None:
    b = book()
    run(b, OrderDenied(ts=T0, client_order_id="c1", reason="max quantity"))
    order = b.get("c1")
    assert order is not None
    assert order.status is S.DENIED
    assert order.reason == "max quantity"
    assert b.apply(submitted()) is None


def test_duplicate_client_order_id_is_refused() -> None:
    b = book()
    with pytest.raises(ValueError, match="already in use"):
        b.add(Order(request=REQ, updated=T0))


def test_evolve_matches_model_copy_and_stays_frozen() -> None:
    from pydantic import ValidationError

    from framework.orders import evolve

    order = Order(request=REQ, updated=T0)
    changes: dict[str, object] = {"status": S.ACCEPTED, "broker_order_id": "B9", "filled_quantity": Decimal(3)}
    fast = evolve(order, changes)
    slow = order.model_copy(update=changes)
    assert fast == slow
    assert fast.model_dump() == slow.model_dump()
    assert fast.model_fields_set == slow.model_fields_set
    assert hash(fast) == hash(slow)
    assert order.status is S.INITIALIZED  # the original is untouched
    with pytest.raises(ValidationError):
        fast.status = S.FILLED  # type: ignore[misc]


def test_new_order_matches_the_validating_constructor() -> None:
    from framework.orders import new_order

    fast = new_order(REQ, T0)
    slow = Order(request=REQ, updated=T0)
    assert fast == slow
    assert fast.model_dump() == slow.model_dump()
    assert fast.model_fields_set == slow.model_fields_set
