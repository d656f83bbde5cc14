"""Engine: state before strategies, routing per strategy, denial, timers, threading, lifecycle."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from framework.bus import EventBus
from framework.commands import SubmitOrder
from framework.config import EngineConfig
from framework.engine import Engine
from framework.errors import OrderError
from framework.events import BrokerConnected
from framework.events import DataStale
from framework.events import HandlerFailed
from framework.events import OrderAccepted
from framework.events import OrderCancelled
from framework.events import OrderDenied
from framework.events import OrderFilled
from framework.events import OrderPendingCancel
from framework.events import OrderRejected
from framework.events import OrderSubmitted
from framework.events import PositionChanged
from framework.events import QuoteUpdated
from framework.events import StrategyFailed
from framework.events import TimerFired
from framework.marketdata import Quote
from framework.models import Instrument
from framework.models import OrderRequest
from framework.models import OrderStatus
from framework.strategy import Strategy
from framework.testing import EventRecorder
from framework.testing import FakeClock
from framework.testing import ScriptedBroker
from tradebus.journal import SqliteJournal


class QuoteTrader(Strategy):
    """Buys 10 AAPL at market on the first quote whose ask is under 100; records what it hears."""

    def __init__(self, strategy_id: str = "trader") -> None:
        super().__init__(strategy_id=strategy_id)
        self.heard: list[object] = []
        self.position_seen_at_fill: Decimal | None = None

    def on_start(self) -> None:
        self.subscribe_quotes("AAPL")

    def on_quote(self, quote: Quote) -> None:
        self.heard.append(quote)
        if (
            quote.ask is not None
            and quote.ask < 100
            and not self.open_orders()
            and self.position("AAPL").is_flat
        ):
            self.buy("AAPL", 10)

    def on_order_filled(self, event: OrderFilled) -> None:
        self.heard.append(event)
        self.position_seen_at_fill = self.portfolio.quantity("AAPL")


def resting_limit(aapl: Instrument) -> OrderRequest:
    return OrderRequest(
        client_order_id="L1", instrument=aapl, side="buy", quantity=5, order_type="limit", limit_price="90"
    )


def quote(clock: FakeClock, bid: float, ask: float, symbol: str = "AAPL") -> Quote:
    return Quote(symbol, clock.now(), bid=bid, ask=ask)


def test_scripted_quotes_produce_the_expected_orders(
    engine: Engine, broker: ScriptedBroker, clock: FakeClock, recorder: EventRecorder
) -> None:
    strategy = QuoteTrader()
    engine.add_strategy(strategy)
    engine.start()
    for bid, ask in [(101.0, 101.1), (99.9, 100.0), (99.5, 99.6), (99.0, 99.1)]:
        clock.advance(timedelta(seconds=1))
        broker.push_quote(quote(clock, bid, ask))
        engine.run_pending()
    assert [r.side.value for r in broker.submitted] == ["buy"]
    assert broker.submitted[0].quantity == 10
    order_events = [t for t in recorder.types() if t.__name__.startswith("Order")]
    assert order_events == [OrderSubmitted, OrderAccepted, OrderFilled]
    fill = recorder.of(OrderFilled)[0].fill
    assert fill.price == Decimal("99.6")
    # the portfolio was updated before the strategy heard the fill
    assert strategy.position_seen_at_fill == 10
    assert recorder.of(PositionChanged)[0].position.quantity == 10
    assert engine.portfolio.cash == Decimal(1_000_000) - Decimal("996.0")


def test_a_failing_strategy_does_not_stop_another_strategys_delivery(
    broker: ScriptedBroker, clock: FakeClock
) -> None:
    class Broken(Strategy):
        def on_start(self) -> None:
            self.subscribe_quotes("AAPL")

        def on_quote(self, quote: Quote) -> None:
            raise RuntimeError("strategy bug")

    engine = Engine(broker, clock=clock, config=EngineConfig(order_id_prefix="T"))  # isolation on
    healthy = QuoteTrader("healthy")
    engine.add_strategy(Broken(strategy_id="broken"))
    engine.add_strategy(healthy)
    failures = EventRecorder(engine.bus, [StrategyFailed, HandlerFailed])
    engine.start()
    for _ in range(3):
        broker.push_quote(quote(clock, 101.0, 101.1))
        engine.run_pending()
    assert len([h for h in healthy.heard if isinstance(h, Quote)]) == 3
    [failed] = failures.events  # stopped by the default policy after its first error
    assert isinstance(failed, StrategyFailed)
    assert (failed.strategy_id, failed.hook, failed.error) == ("broken", "on_quote", "strategy bug")
    engine.stop()


def test_order_events_reach_only_the_owning_strategy(
    engine: Engine, broker: ScriptedBroker, clock: FakeClock
) -> None:
    one, two = QuoteTrader("one"), QuoteTrader("two")
    engine.add_strategy(one)
    engine.add_strategy(two)
    engine.start()
    broker.push_quote(quote(clock, 99.0, 99.1))
    engine.run_pending()  # both strategies buy
    one_fills = [h for h in one.heard if isinstance(h, OrderFilled)]
    two_fills = [h for h in two.heard if isinstance(h, OrderFilled)]
    assert len(one_fills) == 1
    assert len(two_fills) == 1
    assert one_fills[0].client_order_id != two_fills[0].client_order_id


def test_order_is_denied_when_a_pre_trade_check_says_no(
    broker: ScriptedBroker, clock: FakeClock, aapl: Instrument
) -> None:
    def max_ten(request: OrderRequest, engine: Engine) -> str | None:
        return "quantity above 10" if request.quantity > 10 else None

    engine = Engine(
        broker, clock=clock, config=EngineConfig(raise_errors=True, order_id_prefix="T"), checks=[max_ten]
    )
    recorder = EventRecorder(engine.bus)
    engine.start()
    engine.submit_order(OrderRequest(client_order_id="big", instrument=aapl, side="buy", quantity=11))
    engine.run_pending()
    assert broker.submitted == []
    assert recorder.of(OrderDenied)[0].reason == "quantity above 10"
    order = engine.orders.get("big")
    assert order is not None
    assert order.status is OrderStatus.DENIED
    engine.stop()


def test_orders_are_denied_while_the_broker_is_disconnected(
    engine: Engine, broker: ScriptedBroker, aapl: Instrument, recorder: EventRecorder
) -> None:
    engine.start()
    broker.disconnect()
    engine.submit_order(OrderRequest(client_order_id="x", instrument=aapl, side="buy", quantity=1))
    engine.run_pending()
    assert broker.submitted == []
    assert "disconnected" in recorder.of(OrderDenied)[0].reason


def test_submit_hands_a_command_to_the_broker_and_returns(
    engine: Engine, broker: ScriptedBroker, aapl: Instrument, recorder: EventRecorder
) -> None:
    broker.hold_commands = True  # as a networked adapter's worker would: queued, not sent yet
    engine.start()
    request = OrderRequest(client_order_id="x", instrument=aapl, side="buy", quantity=1)
    engine.submit_order(request)
    engine.run_pending()
    assert broker.commands == [SubmitOrder(request)]
    assert broker.submitted == []  # nothing reached the venue on the dispatcher's thread
    assert recorder.types()[-1] is OrderSubmitted
    broker.release_commands()
    engine.run_pending()
    assert recorder.of(OrderAccepted)[0].client_order_id == "x"


def test_a_refusal_from_the_venue_arrives_as_an_event(
    engine: Engine, broker: ScriptedBroker, aapl: Instrument, recorder: EventRecorder
) -> None:
    broker.auto_accept = False
    engine.start()
    engine.submit_order(OrderRequest(client_order_id="x", instrument=aapl, side="buy", quantity=1))
    broker.reject("x", "gateway unreachable")
    engine.run_pending()
    assert recorder.of(OrderRejected)[0].reason == "gateway unreachable"
    assert engine.orders.get("x").status is OrderStatus.REJECTED  # type: ignore[union-attr]


def test_cancel_flow_and_errors(
    engine: Engine, broker: ScriptedBroker, aapl: Instrument, recorder: EventRecorder
) -> None:
    engine.start()
    request = resting_limit(aapl)
    engine.submit_order(request)
    engine.run_pending()
    engine.cancel_order("L1")
    engine.cancel_order("L1")  # asked again: it reaches the broker (which paces repeats), one event
    engine.run_pending()
    broker.confirm_cancel("L1")
    engine.run_pending()
    assert broker.cancel_requests == ["L1", "L1"]
    assert recorder.types()[-2:] == [OrderPendingCancel, OrderCancelled]
    with pytest.raises(OrderError, match="unknown"):
        engine.cancel_order("nope")
    with pytest.raises(OrderError, match="cancelled"):
        engine.modify_order(request)


def test_a_cancel_in_the_same_handler_as_the_submit_is_sent(
    engine: Engine, broker: ScriptedBroker, aapl: Instrument, recorder: EventRecorder
) -> None:
    engine.start()
    request = resting_limit(aapl)
    engine.submit_order(request)
    engine.cancel_order("L1")  # OrderSubmitted is still queued: the cancel must not be lost
    engine.run_pending()
    assert broker.cancel_requests == ["L1"]
    assert engine.orders.get("L1").status is OrderStatus.PENDING_CANCEL  # type: ignore[union-attr]


def test_a_denied_order_is_never_cancelled_at_the_broker(
    broker: ScriptedBroker, clock: FakeClock, aapl: Instrument
) -> None:
    engine = Engine(broker, clock=clock, checks=[lambda request, engine: "no"])
    engine.start()
    engine.submit_order(OrderRequest(client_order_id="D1", instrument=aapl, side="buy", quantity=5))
    engine.cancel_order("D1")
    engine.run_pending()
    assert broker.cancel_requests == []
    assert engine.orders.get("D1").status is OrderStatus.DENIED  # type: ignore[union-attr]


def test_client_order_ids_are_unique_and_prefixed(clock: FakeClock, broker: ScriptedBroker) -> None:
    engine = Engine(broker, clock=clock)
    engine.start()
    ids = {engine.next_client_order_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(i.startswith("lqwg4r40.") for i in ids)  # base36 of the start time in ms, 2024-01-02 14:30 UTC
    engine.stop()


def test_timers_fire_from_the_clock(engine: Engine, clock: FakeClock) -> None:
    fired: list[TimerFired] = []

    class Ticker(Strategy):
        def on_start(self) -> None:
            self.every(timedelta(minutes=1), "minute")
            self.at(self.now + timedelta(seconds=90), "once")

        def on_timer(self, event: TimerFired) -> None:
            fired.append(event)

    engine.add_strategy(Ticker())
    engine.start()
    clock.advance(timedelta(minutes=3, seconds=5))
    engine.run_pending()
    assert [e.name for e in fired] == ["minute", "once", "minute", "minute"]
    assert fired[1].scheduled == clock.now() - timedelta(minutes=1, seconds=35)


def test_data_stale_is_reported_once_per_silence(broker: ScriptedBroker, clock: FakeClock) -> None:
    engine = Engine(
        broker, clock=clock, config=EngineConfig(raise_errors=True, stale_data_after=timedelta(seconds=30))
    )
    stale: list[DataStale] = []

    class Watcher(Strategy):
        def on_start(self) -> None:
            self.subscribe_quotes("AAPL")

        def on_data_stale(self, event: DataStale) -> None:
            stale.append(event)

    engine.add_strategy(Watcher())
    engine.start()
    clock.advance(timedelta(seconds=31))
    engine.run_pending()
    engine.run_pending()
    assert [e.symbol for e in stale] == ["AAPL"]
    broker.push_quote(quote(clock, 1.0, 1.1))
    engine.run_pending()
    clock.advance(timedelta(seconds=31))
    engine.run_pending()
    assert len(stale) == 2
    assert stale[1].last_update is not None
    engine.stop()


def test_stop_unsubscribes_strategies_and_broker_data(
    engine: Engine, broker: ScriptedBroker, clock: FakeClock
) -> None:
    strategy = QuoteTrader()
    engine.add_strategy(strategy)
    engine.start()
    assert broker.quote_subscriptions == {"AAPL"}
    engine.stop()
    assert broker.quote_subscriptions == set()
    assert engine.bus.receiver_count(QuoteUpdated) == 0
    assert not engine.running


def test_denied_orders_are_not_remembered_once_their_denial_is_applied(engine: Engine, aapl: Instrument) -> None:
    # the gateway remembers a denied order only while its OrderDenied is queued (a long run piled them up)
    engine.add_check(lambda request, state: "no")
    engine.start()
    for n in range(50):
        engine.submit_order(OrderRequest(client_order_id=f"D{n}", instrument=aapl, side="buy", quantity=1))
        engine.run_pending()
    assert all(engine.orders.get(f"D{n}").status is OrderStatus.DENIED for n in range(50))  # type: ignore[union-attr]
    assert len(engine.gateway._denied) <= 1  # the bookkeeping under test


class LastWordBroker(ScriptedBroker):
    """A broker whose threads report one more fill and a cancel while it disconnects (a late answer)."""

    def disconnect(self) -> None:
        if self.connection_state == "connected":
            self.fill("L1", Decimal(90), Decimal(2))
            self.confirm_cancel("L1")
        super().disconnect()


def test_order_reports_that_arrive_while_the_broker_disconnects_are_applied_and_journaled(
    clock: FakeClock, aapl: Instrument, tmp_path: Path
) -> None:
    # found by the soak: a cancel's late answer, emitted while the adapter's threads stopped, never dispatched
    broker = LastWordBroker(clock, instruments=[aapl])
    journal = SqliteJournal(tmp_path / "journal.sqlite", synchronous="normal")
    engine = Engine(broker, clock=clock, config=EngineConfig(raise_errors=True, order_id_prefix="T"), journal=journal)
    engine.start()
    engine.submit_order(resting_limit(aapl))
    engine.run_pending()
    engine.stop()
    order = engine.orders.get("L1")
    assert order is not None
    assert (order.status, order.filled_quantity) == (OrderStatus.CANCELLED, 2)  # nothing the broker said is lost
    assert engine.portfolio.quantity("AAPL") == 2
    assert [f.execution_id for f in journal.fills()] == ["X1"]
    assert [o.status for o in journal.orders()] == [OrderStatus.CANCELLED]
    journal.close()


def test_dispatcher_thread_delivers_events_enqueued_from_another_thread(
    broker: ScriptedBroker, clock: FakeClock
) -> None:
    engine = Engine(broker, clock=clock, bus=EventBus(raise_errors=True))
    delivered = threading.Event()
    threads: list[str] = []

    def handler(event: BrokerConnected) -> None:
        threads.append(threading.current_thread().name)
        delivered.set()

    engine.bus.subscribe(BrokerConnected, handler)
    engine.start()
    engine.start_dispatcher()
    io_thread = threading.Thread(target=lambda: engine.enqueue(BrokerConnected(ts=clock.now(), broker="io")))
    io_thread.start()
    io_thread.join()
    assert delivered.wait(timeout=10)
    engine.stop()
    assert set(threads) == {"tradebus-dispatcher"}


def test_run_stops_on_keyboard_interrupt(broker: ScriptedBroker, clock: FakeClock) -> None:
    engine = Engine(broker, clock=clock)

    class Interrupting(Strategy):
        def on_start(self) -> None:
            self.subscribe_quotes("AAPL")

        def on_quote(self, quote: Quote) -> None:
            raise KeyboardInterrupt

    engine.add_strategy(Interrupting())
    engine.start()
    broker.push_quote(quote(clock, 1.0, 1.1))
    started = time.monotonic()
    engine.run()
    assert not engine.running
    assert time.monotonic() - started < 30  # returned instead of hanging


def test_run_returns_when_until_is_true(engine: Engine) -> None:
    engine.start()
    engine.run(until=lambda: True)
    assert not engine.running


def test_duplicate_strategy_id_is_refused(engine: Engine) -> None:
    engine.add_strategy(QuoteTrader("same"))
    with pytest.raises(ValueError, match="already registered"):
        engine.add_strategy(QuoteTrader("same"))


def test_strategy_added_while_running_starts_at_once(engine: Engine, broker: ScriptedBroker) -> None:
    engine.start()
    engine.add_strategy(QuoteTrader())
    assert broker.quote_subscriptions == {"AAPL"}


def test_fake_clock_default_engine_config() -> None:
    assert EngineConfig().require_connected is True
    with pytest.raises(ValueError, match="order_id_prefix"):
        EngineConfig(order_id_prefix="bad prefix!")
