"""The degraded-order policy: while the broker cannot take orders, exits and cancels wait, new exposure is denied.

Issue: orders were denied during any degraded window with no retry, exits included, so a 1 s
websocket blip or a re-authentication lost signals. Each test drives a scripted broker through a
degradation and checks what reached it, what waited, and what the owning strategy was told.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from framework.config import DegradedPolicy
from framework.config import EngineConfig
from framework.config import StrategyConfig
from framework.engine import Engine
from framework.events import OrderCancelled
from framework.events import OrderCancelRejected
from framework.events import OrderDenied
from framework.events import OrderFilled
from framework.events import OrderHeld
from framework.events import OrderSubmitted
from framework.events import OrderUpdated
from framework.holding import RECHECK_EVERY
from framework.marketdata import Quote
from framework.models import Instrument
from framework.models import OrderRequest
from framework.models import OrderStatus
from framework.models import OrderType
from framework.models import Side
from framework.strategy import Strategy
from framework.testing import EventRecorder
from framework.testing import FakeClock
from framework.testing import ScriptedBroker

AAPL = Instrument(symbol="AAPL")


class Desk:
    """An engine on a scripted broker that fills market orders, long 100 AAPL to start with."""

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.clock = FakeClock()
        self.broker = ScriptedBroker(self.clock, instruments=[AAPL])
        self.engine = Engine(self.broker, clock=self.clock, config=config or EngineConfig())
        self.recorder = EventRecorder(self.engine.bus)
        self.engine.start()
        self.broker.push_quote(Quote("AAPL", self.clock.now(), bid=100.0, ask=100.0))
        self.submit("open", Side.BUY, 100)
        assert self.engine.portfolio.quantity("AAPL") == 100
        self.recorder.clear()

    def submit(self, cid: str, side: Side, quantity: int, strategy: str = "s", **ticket: object) -> None:
        self.engine.submit_order(OrderRequest(client_order_id=cid, strategy_id=strategy, instrument=AAPL, side=side,
                                              quantity=Decimal(quantity), **ticket))  # type: ignore[arg-type]
        self.engine.run_pending()

    def status(self, cid: str) -> OrderStatus:
        order = self.engine.orders.get(cid)
        assert order is not None
        return order.status

    def sent(self) -> list[str]:
        return [r.client_order_id for r in self.broker.submitted]

    def advance(self, delta: timedelta) -> None:
        self.clock.advance(delta)
        self.engine.run_pending()  # timers fire after the queue is drained ...
        self.engine.run_pending()  # ... and what they queued is processed by the next pass


@pytest.fixture
def desk() -> Desk:
    return Desk()


def test_an_exit_waits_through_a_blip_and_goes_out_when_the_broker_is_back(desk: Desk) -> None:
    desk.broker.degrade("stream closed")
    desk.engine.run_pending()
    desk.submit("exit", Side.SELL, 100)
    assert desk.sent() == ["open"]  # nothing left the process
    [held] = desk.recorder.of(OrderHeld)
    assert (held.client_order_id, held.command) == ("exit", "submit")
    assert held.reason == "broker scripted is degraded"
    assert held.until == desk.clock.now() + DegradedPolicy().hold_for
    assert desk.status("exit") is OrderStatus.SUBMITTED
    desk.broker.reconnect()
    desk.engine.run_pending()
    assert desk.sent() == ["open", "exit"]
    assert desk.status("exit") is OrderStatus.FILLED
    assert desk.engine.portfolio.quantity("AAPL") == 0
    assert desk.recorder.of(OrderDenied) == []


def test_new_exposure_is_denied_at_once_with_a_reason_naming_the_state(desk: Desk) -> None:
    desk.broker.degrade("stream closed", disconnected=True)
    desk.engine.run_pending()
    desk.submit("more", Side.BUY, 10)
    desk.submit("flip", Side.SELL, 150)  # sells more than is held: opens a short, new exposure
    denied = {e.client_order_id: e.reason for e in desk.recorder.of(OrderDenied)}
    expected = ("broker scripted is disconnected; new exposure is not held while the broker cannot take orders "
                "(degraded-order policy)")
    assert denied == {"more": expected, "flip": expected}
    assert desk.recorder.of(OrderHeld) == []
    assert desk.sent() == ["open"]


def test_a_held_command_is_denied_when_its_time_is_up(desk: Desk) -> None:
    desk.broker.degrade("re-authenticating")
    desk.engine.run_pending()
    desk.submit("exit", Side.SELL, 40)
    desk.advance(DegradedPolicy().hold_for - RECHECK_EVERY)
    assert desk.recorder.of(OrderDenied) == []
    desk.advance(RECHECK_EVERY)
    [denied] = desk.recorder.of(OrderDenied)
    assert denied.reason == "not sent: broker scripted is degraded (held 120 s, the most the policy allows)"
    assert desk.status("exit") is OrderStatus.DENIED
    desk.broker.reconnect()
    desk.engine.run_pending()
    assert desk.sent() == ["open"]  # a denied order never goes out


def test_cancels_wait_and_go_out_in_order_after_the_exit_they_follow(desk: Desk) -> None:
    desk.broker.auto_fill = False
    desk.submit("stop", Side.SELL, 100, order_type=OrderType.STOP, stop_price=Decimal(90))
    desk.broker.degrade("stream closed")
    desk.engine.run_pending()
    desk.engine.cancel_order("stop")
    desk.engine.run_pending()
    assert desk.broker.cancel_requests == []
    assert [(e.client_order_id, e.command) for e in desk.recorder.of(OrderHeld)] == [("stop", "cancel")]
    assert desk.status("stop") is OrderStatus.PENDING_CANCEL
    desk.broker.reconnect()
    desk.engine.run_pending()
    assert desk.broker.cancel_requests == ["stop"]


def test_a_policy_that_denies_cancels_says_so(desk: Desk) -> None:
    desk.engine.gateway.hold.set_policy("s", DegradedPolicy(cancels="deny"))
    desk.broker.auto_fill = False
    desk.submit("stop", Side.SELL, 100, order_type=OrderType.STOP, stop_price=Decimal(90))
    desk.broker.degrade("stream closed")
    desk.engine.run_pending()
    desk.engine.cancel_order("stop")
    desk.engine.run_pending()
    [refused] = desk.recorder.of(OrderCancelRejected)
    assert refused.reason == ("cancel not sent: broker scripted is degraded; cancels are not held "
                              "(degraded-order policy)")
    assert desk.status("stop") is OrderStatus.ACCEPTED
    assert desk.broker.cancel_requests == []


class Exits(Strategy[StrategyConfig]):
    """A strategy whose config carries its own policy (nothing else: the test submits for it)."""

    config_type = StrategyConfig


def test_each_strategy_may_have_its_own_policy() -> None:
    desk = Desk(EngineConfig(degraded=DegradedPolicy(new_exposure="hold")))
    desk.engine.add_strategy(Exits(StrategyConfig(degraded=DegradedPolicy(reducing="deny")), strategy_id="strict"))
    desk.broker.degrade("stream closed")
    desk.engine.run_pending()
    desk.submit("strict-exit", Side.SELL, 10, strategy="strict")
    desk.submit("loose-entry", Side.BUY, 10, strategy="other")
    assert [e.client_order_id for e in desk.recorder.of(OrderDenied)] == ["strict-exit"]
    assert desk.recorder.of(OrderDenied)[0].reason.endswith(
        "orders that reduce a position are not held (degraded-order policy)")
    assert [e.client_order_id for e in desk.recorder.of(OrderHeld)] == ["loose-entry"]  # the engine's policy


def test_an_order_the_broker_gives_back_is_held_and_sent_again(desk: Desk) -> None:
    desk.broker.auto_accept = desk.broker.auto_fill = False
    desk.submit("exit", Side.SELL, 100)
    desk.broker.give_back("exit", "submit", "the session is degraded")
    desk.engine.run_pending()
    [held] = desk.recorder.of(OrderHeld)
    assert held.reason == "the session is degraded"
    # the broker says it is connected: the next check sends it again
    desk.broker.auto_accept = desk.broker.auto_fill = True
    desk.advance(RECHECK_EVERY)
    assert desk.sent() == ["open", "exit", "exit"]
    assert desk.status("exit") is OrderStatus.FILLED
    assert [type(e) for e in desk.recorder.of(OrderFilled)] == [OrderFilled]


def test_new_exposure_given_back_is_denied_with_the_brokers_reason(desk: Desk) -> None:
    desk.broker.auto_accept = desk.broker.auto_fill = False
    desk.submit("entry", Side.BUY, 10)
    desk.broker.give_back("entry", "submit", "rate limited by the gateway (HTTP 429)")
    desk.engine.run_pending()
    [denied] = desk.recorder.of(OrderDenied)
    assert denied.reason == ("not sent: rate limited by the gateway (HTTP 429); new exposure is not held while "
                             "the broker cannot take orders (degraded-order policy)")
    assert desk.status("entry") is OrderStatus.DENIED


def test_an_exit_that_no_longer_reduces_when_released_is_denied(desk: Desk) -> None:
    desk.broker.degrade("stream closed")
    desk.engine.run_pending()
    desk.submit("exit-a", Side.SELL, 60)
    desk.submit("exit-b", Side.SELL, 40)
    assert [e.client_order_id for e in desk.recorder.of(OrderHeld)] == ["exit-a", "exit-b"]
    desk.submit("exit-c", Side.SELL, 10)  # with a and b waiting it would go short: new exposure
    assert [e.client_order_id for e in desk.recorder.of(OrderDenied)] == ["exit-c"]
    # meanwhile the position was closed another way: a and b would open a short now
    desk.engine.portfolio.load_positions([])
    desk.broker.reconnect()
    desk.engine.run_pending()
    reasons = {e.client_order_id: e.reason for e in desk.recorder.of(OrderDenied)}
    assert reasons["exit-a"] == ("not sent after the broker recovered: no longer only reduces the position "
                                 "(degraded-order policy)")
    assert desk.sent() == ["open"]


def test_a_cancel_or_change_of_a_held_order_is_applied_here(desk: Desk) -> None:
    desk.broker.degrade("stream closed")
    desk.engine.run_pending()
    desk.submit("exit-a", Side.SELL, 50, order_type=OrderType.LIMIT, limit_price=Decimal(120))
    desk.submit("exit-b", Side.SELL, 50)
    desk.engine.cancel_order("exit-b")
    changed = OrderRequest(client_order_id="exit-a", strategy_id="s", instrument=AAPL, side=Side.SELL,
                           quantity=Decimal(50), order_type=OrderType.LIMIT, limit_price=Decimal(110))
    desk.engine.modify_order(changed)
    desk.engine.run_pending()
    [cancelled] = desk.recorder.of(OrderCancelled)
    assert cancelled.client_order_id == "exit-b"
    assert cancelled.reason == "cancelled before it was sent (held: broker scripted is degraded)"
    assert [e.client_order_id for e in desk.recorder.of(OrderUpdated)] == ["exit-a"]
    desk.broker.auto_fill = False
    desk.broker.reconnect()
    desk.engine.run_pending()
    assert [r.limit_price for r in desk.broker.submitted if r.client_order_id == "exit-a"] == [Decimal(110)]
    assert "exit-b" not in desk.sent()


def test_the_kill_switch_drops_held_orders_but_keeps_held_cancels(desk: Desk) -> None:
    desk.broker.auto_fill = False
    desk.submit("stop", Side.SELL, 50, order_type=OrderType.STOP, stop_price=Decimal(90))
    desk.broker.degrade("stream closed")
    desk.engine.run_pending()
    desk.submit("exit", Side.SELL, 50)
    desk.engine.cancel_order("stop")
    desk.engine.gateway.halt("desk says stop")
    desk.engine.run_pending()
    [denied] = desk.recorder.of(OrderDenied)
    assert (denied.client_order_id, denied.reason) == ("exit", "never sent: trading halted (desk says stop)")
    desk.broker.reconnect()
    desk.engine.run_pending()
    assert "stop" in desk.broker.cancel_requests  # the held cancel went out once the broker was back
    assert "exit" not in desk.sent()


def test_an_untrusted_broker_holds_exits_until_it_reconnects(desk: Desk) -> None:
    desk.broker.auto_accept = desk.broker.auto_fill = False
    desk.submit("c1", Side.SELL, 10)
    desk.broker.accept("c1")
    report = desk.broker.fill("c1", Decimal(100))
    desk.broker.report(report._replace(execution_id=report.execution_id, quantity=Decimal(5)))  # contradicts
    desk.engine.run_pending()
    assert desk.engine.gateway.blocked() is not None
    desk.submit("exit", Side.SELL, 10)
    assert [e.client_order_id for e in desk.recorder.of(OrderHeld)] == ["exit"]
    desk.broker.reconnect()
    desk.engine.run_pending()
    assert "exit" in desk.sent()


def test_without_require_connected_nothing_is_held_or_denied() -> None:
    desk = Desk(EngineConfig(require_connected=False))
    desk.broker.degrade("stream closed")
    desk.engine.run_pending()
    desk.submit("more", Side.BUY, 10)
    assert desk.sent() == ["open", "more"]
    assert desk.recorder.of(OrderHeld) == desk.recorder.of(OrderDenied) == []


def test_nothing_waits_or_changes_while_the_broker_is_connected(desk: Desk) -> None:
    desk.submit("more", Side.BUY, 10)
    assert desk.sent() == ["open", "more"]
    assert [type(e) for e in desk.recorder.of(OrderSubmitted)] == [OrderSubmitted]
    assert desk.recorder.of(OrderHeld) == []
    assert len(desk.engine.gateway.hold) == 0
