"""The reconciler's lookups of orders whose placement outcome is unknown."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from brokers.ibkr.errors import IbkrHttpError
from brokers.ibkr.reconcile import Reconciler
from brokers.ibkr.tracking import OrderTracker
from brokers.ibkr.wire import LiveOrder
from brokers.ibkr.wire import LiveOrders
from framework.events import OrderAccepted
from framework.events import OrderRejected
from framework.models import Instrument
from framework.models import OrderRequest
from framework.testing import FakeClock

AAPL = Instrument(symbol="AAPL", broker_id="265598")


class Gateway:
    """Answers live orders and trades as scripted, or fails."""

    def __init__(self, orders: list[LiveOrder] | None = None, fail: bool = False) -> None:
        self.orders = orders or []
        self.fail = fail

    def live_orders(self, force: bool = False) -> LiveOrders:
        if self.fail:
            raise IbkrHttpError("gateway error", status_code=500, method="GET", path="/iserver/account/orders")
        return LiveOrders(orders=[] if force else self.orders)

    def trades(self, days: int = 1) -> list[object]:
        return []


def unresolved(clock: FakeClock) -> OrderTracker:
    tracker = OrderTracker()
    tracker.register(OrderRequest(client_order_id="c.1", instrument=AAPL, side="buy", quantity=Decimal(5)))
    tracker.mark_unresolved("c.1", clock.monotonic())
    return tracker


def test_an_order_is_not_declared_lost_when_the_lookup_itself_failed(clock: FakeClock) -> None:
    tracker = unresolved(clock)
    gateway = Gateway(fail=True)
    reconciler = Reconciler(gateway, tracker, clock, lookup_window=30)  # type: ignore[arg-type]
    clock.advance(timedelta(seconds=60))
    assert reconciler.resolve_unresolved() == ([], [])  # the gateway could not say: keep looking
    gateway.fail = False
    [event], requeue = reconciler.resolve_unresolved()
    assert requeue == []
    assert isinstance(event, OrderRejected)
    assert event.reason.startswith("lost")


def test_an_order_found_by_client_order_id_is_adopted_not_lost(clock: FakeClock) -> None:
    tracker = unresolved(clock)
    row = LiveOrder.model_validate({"orderId": 77, "order_ref": "c.1", "status": "Submitted", "conid": 265598})
    reconciler = Reconciler(Gateway([row]), tracker, clock, lookup_window=30)  # type: ignore[arg-type]
    clock.advance(timedelta(seconds=60))
    events, _ = reconciler.resolve_unresolved()
    assert [type(e) for e in events] == [OrderAccepted]
    assert tracker.unresolved() == []
