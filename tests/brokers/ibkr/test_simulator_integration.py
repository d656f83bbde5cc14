"""The adapter against the simulated gateway (real HTTPS + WSS on loopback, real threads).

Waits are event-driven: the test thread runs the engine's dispatcher (``run_pending``) until a
condition holds or a generous deadline passes; nothing asserts on elapsed time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from collections.abc import Iterator
from decimal import ROUND_DOWN
from decimal import Decimal
from typing import Any

import pytest

from brokers.ibkr import IbkrBroker
from brokers.ibkr import IbkrConfig
from framework.clock import SystemClock
from framework.config import EngineConfig
from framework.engine import Engine
from framework.events import BrokerConnected
from framework.events import BrokerDegraded
from framework.events import OrderAccepted
from framework.events import OrderCancelled
from framework.events import OrderFilled
from framework.events import OrderRejected
from framework.events import QuoteUpdated
from framework.marketdata import Quote
from framework.models import OrderRequest
from framework.models import OrderStatus
from framework.models import OrderType
from framework.models import Side
from framework.strategy import Strategy
from framework.testing import EventRecorder
from simulators.ibkr import SimulatedGateway
from simulators.ibkr import SimulatorConfig

ALLOWED = frozenset({"o163", "o354", "o383", "o403", "o451", "o10331"})
DEADLINE = 15.0


class LimitAndMarket(Strategy):
    """On the first quote: a limit buy 10% under the bid (asks o163) and a market buy; cancels the limit."""

    def __init__(self) -> None:
        super().__init__(strategy_id="lm")
        self.limit_id: str | None = None
        self.market_id: str | None = None

    def on_start(self) -> None:
        self.subscribe_quotes("AAPL")

    def on_quote(self, quote: Quote) -> None:
        if self.limit_id is None and quote.bid is not None:
            price = (Decimal(repr(quote.bid)) * Decimal("0.9")).quantize(Decimal("0.01"), ROUND_DOWN)
            self.limit_id = self.buy("AAPL", 10, limit_price=price)
            self.market_id = self.buy("AAPL", 5)

    def on_order_accepted(self, event: OrderAccepted) -> None:
        if event.client_order_id == self.limit_id:
            self.cancel(event.client_order_id)


@pytest.fixture
def gateway() -> Iterator[SimulatedGateway]:
    with SimulatedGateway(port=0, seed=11, config=SimulatorConfig(submit_latency=0.01, cancel_latency=0.01)) as gw:
        yield gw


def make_config(gw: SimulatedGateway, **overrides: Any) -> IbkrConfig:
    values = {"base_url": gw.base_url, "ws_url": gw.ws_url, "ca_file": gw.ca_file, "auto_confirm_message_ids": ALLOWED,
              "reconnect_initial": 0.2, "reconnect_max": 2.0, "ws_stall_timeout": 3.0, "max_rate_wait": 6.0,
              "rate_limit_backoff": 1.0, "order_lookup_window": 8.0, **overrides}
    return IbkrConfig.model_validate(values)


class Harness:
    def __init__(self, gw: SimulatedGateway, **overrides: Any) -> None:
        self.gw = gw
        self.broker = IbkrBroker(make_config(gw, **overrides), clock=SystemClock())
        self.engine = Engine(self.broker, clock=SystemClock(), config=EngineConfig(raise_errors=True))
        self.recorder = EventRecorder(self.engine.bus)

    def wait_for(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            self.engine.run_pending()
            if condition():
                return
            time.sleep(0.01)  # yield to the adapter threads between dispatcher passes
        pytest.fail(f"timed out waiting for {what}; events: {self.recorder.types()[-15:]}")

    def count(self, kind: type) -> int:
        return len(self.recorder.of(kind))

    def stop(self) -> None:
        self.engine.stop()
        self.recorder.close()


@pytest.fixture
def harness(gateway: SimulatedGateway) -> Iterator[Harness]:
    h = Harness(gateway)
    yield h
    h.stop()


def submit(h: Harness, cid: str, side: Side, quantity: int, **ticket: Any) -> None:
    instrument = h.engine.instrument("AAPL")
    h.engine.submit_order(OrderRequest(client_order_id=cid, strategy_id="t", instrument=instrument, side=side,
                                       quantity=Decimal(quantity), **ticket))


def test_a_strategy_trades_through_the_reply_dialogue_and_disconnects_cleanly(harness: Harness) -> None:
    strategy = LimitAndMarket()
    harness.engine.add_strategy(strategy)
    harness.engine.start()
    assert harness.broker.connection_state == "connected"
    assert harness.engine.instrument("AAPL").broker_id == "265598"
    harness.wait_for(lambda: harness.count(QuoteUpdated) >= 3, "quotes")
    harness.wait_for(lambda: harness.count(OrderFilled) == 1 and harness.count(OrderCancelled) == 1, "fill and cancel")
    assert strategy.limit_id is not None
    assert strategy.market_id is not None
    assert harness.engine.orders.get(strategy.limit_id).status is OrderStatus.CANCELLED  # type: ignore[union-attr]
    assert harness.engine.orders.get(strategy.market_id).status is OrderStatus.FILLED  # type: ignore[union-attr]
    assert harness.engine.portfolio.quantity("AAPL") == 5
    broker_positions = {p.symbol: p.quantity for p in harness.broker.positions()}
    assert broker_positions.get("AAPL") == 5
    harness.stop()
    assert harness.gw.state()["ws_clients"] == 0


def test_websocket_drop_and_stall_resubscribe_without_losing_fills(harness: Harness) -> None:
    harness.engine.start()
    harness.engine.subscriptions.subscribe_quotes("AAPL")
    harness.wait_for(lambda: harness.count(QuoteUpdated) >= 1, "first quote")
    for fault, index in ((harness.gw.ws_drop, 1), (harness.gw.ws_stall, 2)):
        fault()
        submit(harness, f"d{index}", Side.BUY, 1)  # fills while the stream is down or silent
        harness.wait_for(lambda i=index: harness.count(OrderFilled) == i, f"fill {index} after the fault")
        before = harness.count(QuoteUpdated)
        harness.wait_for(lambda b=before: harness.count(QuoteUpdated) > b + 2, "quotes after resubscribing")
    assert harness.broker.stream.reconnects >= 2
    assert harness.engine.portfolio.quantity("AAPL") == 2
    assert harness.engine.orders.refused == 0


def test_session_expiry_is_recovered_by_reauthentication(gateway: SimulatedGateway) -> None:
    h = Harness(gateway, tickle_interval=0.5)
    try:
        h.engine.start()
        gateway.expire()
        h.wait_for(lambda: h.count(BrokerDegraded) >= 1, "degraded")
        h.wait_for(lambda: h.broker.connection_state == "connected" and h.count(BrokerConnected) >= 2, "recovered")
        submit(h, "after-expiry", Side.BUY, 1)
        h.wait_for(lambda: h.count(OrderFilled) == 1, "a fill after re-authentication")
    finally:
        h.stop()


def test_a_429_storm_places_no_order_twice(gateway: SimulatedGateway) -> None:
    """Orders posted while the gateway answers 429s (penalty box included) are each posted once and all resolve."""
    h = Harness(gateway, rate_limit_backoff=0.2, order_lookup_window=3.0, max_rate_wait=10.0)
    ids = [f"s{i}" for i in range(8)]
    try:
        h.engine.start()
        h.engine.instrument("AAPL")
        # the gateway allows 2 requests/s (the adapter paces at 8/s) and boxes every request for 1 s
        # after 2 violations: a 429 storm; fresh windows so the start-up traffic does not count
        gateway.configure(global_rate=2, penalty_violations=2, penalty_window=10.0, penalty_box_seconds=1.0)
        gateway.pacing_reset()
        limiter = h.broker._limiter

        def held_back() -> bool:
            return limiter.blocked_for > 0

        def resolved() -> bool:
            orders = [h.engine.orders.get(c) for c in ids]
            return all(o is not None and o.status.is_terminal for o in orders)

        for cid in ids:
            # submit once our own 429 hold-back has passed, so every order is really posted, storm or not;
            # the adapter's worker sends it: wait until it has had its answer before the next one
            h.wait_for(lambda: not held_back(), "the adapter's 429 hold-back to pass")
            submit(h, cid, Side.BUY, 1)
            h.wait_for(lambda: h.broker.outstanding_commands == 0, f"{cid} sent and answered")
        h.wait_for(resolved, "every order resolved")
        state = gateway.state()
        assert gateway.core.pacer.boxed_until is not None  # the penalty box was entered
        assert state["placement_posts"] == dict.fromkeys(ids, 1)  # every order reached the gateway, once
        assert 0 < state["orders"] < len(ids)  # some posts were placed, the others answered 429
        filled = {e.client_order_id for e in h.recorder.of(OrderFilled)}
        rejected = {e.client_order_id: e.reason for e in h.recorder.of(OrderRejected)}
        assert sorted(filled | rejected.keys()) == sorted(ids)
        assert not filled & rejected.keys()
        assert all(rejected.values())  # each rejection says why
        assert len(filled) == state["orders"] == state["executions"]  # gateway fills == engine fills
        assert h.engine.portfolio.quantity("AAPL") == len(filled)
    finally:
        h.stop()


def test_a_gateway_restart_is_reconciled_with_the_fill_missed_meanwhile(harness: Harness) -> None:
    harness.engine.start()
    quote = harness.broker.snapshot(harness.engine.instrument("AAPL"))
    assert quote is not None
    assert quote.ask is not None
    limit = (Decimal(repr(quote.ask)) * Decimal("0.97")).quantize(Decimal("0.01"))
    submit(harness, "resting", Side.BUY, 3, order_type=OrderType.LIMIT, limit_price=limit)
    harness.wait_for(lambda: harness.count(OrderAccepted) == 1, "the resting order accepted")
    harness.gw.ws_stall()  # the adapter will not hear the fill on the stream
    harness.gw.set_quote("AAPL", bid=str(limit - 2), ask=str(limit - 1), last=str(limit - 1))
    harness.gw.restart()
    harness.wait_for(lambda: harness.count(OrderFilled) == 1, "the missed fill, reconciled")
    harness.wait_for(lambda: harness.broker.connection_state == "connected", "reconnected")
    assert harness.engine.portfolio.quantity("AAPL") == 3
    assert harness.broker.tracker.get("resting").filled == 3  # type: ignore[union-attr]


def test_an_order_committed_then_dropped_is_found_by_client_order_id(harness: Harness) -> None:
    harness.engine.start()
    harness.engine.instrument("AAPL")
    harness.gw.drop_after_commit(path="/iserver/account/", method="POST")
    submit(harness, "dropped", Side.BUY, 2)  # the gateway places it, then resets the connection
    harness.wait_for(lambda: harness.count(OrderFilled) == 1, "the dropped order found and filled")
    assert harness.count(OrderRejected) == 0
    state = harness.gw.state()
    assert state["placement_posts"] == {"dropped": 1}  # never re-posted (a re-post would be refused as a duplicate)
    assert state["orders"] == 1
    assert harness.engine.portfolio.quantity("AAPL") == 2
