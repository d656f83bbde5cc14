"""A strategy that raises: one log record, one StrategyFailed, and the error policy applied."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest

from framework.config import EngineConfig
from framework.config import ErrorPolicy
from framework.engine import Engine
from framework.events import HandlerFailed
from framework.events import OrderCancelled
from framework.events import OrderFilled
from framework.events import OrderPendingCancel
from framework.events import StrategyFailed
from framework.events import TimerFired
from framework.marketdata import Quote
from framework.models import Instrument
from framework.redaction import register_secret
from framework.strategy import Strategy
from framework.testing import EventRecorder
from framework.testing import FakeClock
from framework.testing import ScriptedBroker


class Buyer(Strategy):
    """Buys 10 AAPL at market on the first quote, rests a limit on the second; raises from the third on."""

    def __init__(self, strategy_id: str = "buyer", *, raise_from: int = 3) -> None:
        super().__init__(strategy_id=strategy_id)
        self.quotes = 0
        self.raise_from = raise_from
        self.fills: list[OrderFilled] = []
        self.stopped = False

    def on_start(self) -> None:
        self.subscribe_quotes("AAPL")

    def on_quote(self, quote: Quote) -> None:
        self.quotes += 1
        if self.quotes == 1:
            self.buy("AAPL", 10)
        elif self.quotes == 2:
            self.buy("AAPL", 5, limit_price=50)
        if self.quotes >= self.raise_from:
            self.buy("AAPL", 1, limit_price=40)  # placed in the failing hook: cancelled with the rest
            raise ValueError(f"bad quote number {self.quotes}")

    def on_order_filled(self, event: OrderFilled) -> None:
        self.fills.append(event)

    def on_stop(self) -> None:
        self.stopped = True


class Listener(Strategy):
    """Counts quotes; never fails."""

    def __init__(self) -> None:
        super().__init__(strategy_id="listener")
        self.quotes = 0
        self.stopped = False

    def on_start(self) -> None:
        self.subscribe_quotes("AAPL")

    def on_quote(self, quote: Quote) -> None:
        self.quotes += 1

    def on_stop(self) -> None:
        self.stopped = True


def make_engine(broker: ScriptedBroker, clock: FakeClock, policy: ErrorPolicy | None = None) -> Engine:
    config = EngineConfig(order_id_prefix="T") if policy is None else EngineConfig(
        order_id_prefix="T", on_strategy_error=policy
    )
    return Engine(broker, clock=clock, config=config)


def push_quotes(engine: Engine, broker: ScriptedBroker, clock: FakeClock, count: int) -> None:
    for _ in range(count):
        broker.push_quote(Quote("AAPL", clock.now(), bid=100.0, ask=100.1))
        engine.run_pending()


@pytest.fixture
def quiet_broker(clock: FakeClock, aapl: Instrument) -> ScriptedBroker:
    return ScriptedBroker(clock, instruments=[aapl], auto_cancel=True)


@pytest.fixture
def records(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO)
    return caplog


def error_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_the_default_policy_stops_the_failing_strategy_and_cancels_its_working_orders(
    quiet_broker: ScriptedBroker, clock: FakeClock, records: pytest.LogCaptureFixture
) -> None:
    engine = make_engine(quiet_broker, clock)
    failing, healthy = Buyer(), Listener()
    engine.add_strategy(failing)
    engine.add_strategy(healthy)
    recorder = EventRecorder(engine.bus, [StrategyFailed, OrderPendingCancel, OrderCancelled, HandlerFailed])
    engine.start()
    push_quotes(engine, quiet_broker, clock, 5)
    # quote 3 raised: the strategy was stopped there and heard nothing after
    assert failing.quotes == 3
    assert healthy.quotes == 5
    [failed] = recorder.of(StrategyFailed)
    assert (failed.strategy_id, failed.hook, failed.error_type, failed.error) == (
        "buyer", "on_quote", "ValueError", "bad quote number 3"
    )
    assert failed.event.startswith("QuoteUpdated AAPL at ")
    assert failed.policy == "stop-strategy"
    assert "raise ValueError" in failed.traceback
    # its two working limits (the one placed in the failing hook too) were cancelled through the gateway
    assert failed.cancelled == ("T.2", "T.3")
    assert [e.client_order_id for e in recorder.of(OrderPendingCancel)] == ["T.2", "T.3"]
    assert quiet_broker.cancel_requests == ["T.2", "T.3"]
    assert [e.client_order_id for e in recorder.of(OrderCancelled)] == ["T.2", "T.3"]
    assert not engine.orders.open()
    # its position is kept
    assert engine.portfolio.quantity("AAPL") == Decimal(10)
    assert not recorder.of(HandlerFailed)
    assert len(error_records(records)) == 1
    assert engine.outcome.failed
    assert engine.outcome.status == "failed"
    assert engine.outcome.stop_reason is None  # the run goes on
    engine.stop()
    assert healthy.stopped
    assert not failing.stopped  # a failed strategy's on_stop is not called


def test_continue_keeps_the_old_behaviour(quiet_broker: ScriptedBroker, clock: FakeClock) -> None:
    engine = make_engine(quiet_broker, clock, ErrorPolicy.CONTINUE)
    failing = Buyer()
    engine.add_strategy(failing)
    recorder = EventRecorder(engine.bus, [StrategyFailed])
    engine.start()
    push_quotes(engine, quiet_broker, clock, 5)
    assert failing.quotes == 5
    assert [f.error for f in recorder.of(StrategyFailed)] == [f"bad quote number {n}" for n in (3, 4, 5)]
    assert all(f.policy == "continue" and f.cancelled == () for f in recorder.of(StrategyFailed))
    assert len(engine.orders.open("buyer")) == 4  # nothing was cancelled
    assert not engine.outcome.failed
    assert engine.outcome.tolerated == {"buyer": 3}
    engine.stop()
    assert failing.stopped


def test_stop_run_stops_the_strategy_and_asks_the_run_to_end(
    quiet_broker: ScriptedBroker, clock: FakeClock
) -> None:
    engine = make_engine(quiet_broker, clock, ErrorPolicy.STOP_RUN)
    engine.add_strategy(Buyer())
    engine.start()
    push_quotes(engine, quiet_broker, clock, 3)
    assert engine.outcome.stop_reason == "strategy buyer failed in on_quote (policy stop-run)"
    engine.run()  # returns at once: the stop was requested
    assert not engine.running


def test_a_strategys_own_policy_wins_over_the_engines(quiet_broker: ScriptedBroker, clock: FakeClock) -> None:
    engine = make_engine(quiet_broker, clock, ErrorPolicy.STOP_STRATEGY)
    tolerant = Buyer("tolerant")
    tolerant.error_policy = ErrorPolicy.CONTINUE
    strict = Buyer("strict")
    engine.add_strategy(tolerant)
    engine.add_strategy(strict)
    engine.start()
    push_quotes(engine, quiet_broker, clock, 4)
    assert tolerant.quotes == 4
    assert strict.quotes == 3
    assert [f.strategy_id for f in engine.outcome.failures] == ["strict"]
    assert engine.outcome.tolerated == {"tolerant": 2}
    engine.stop()


def test_a_timer_hook_that_raises_names_the_timer(quiet_broker: ScriptedBroker, clock: FakeClock) -> None:
    from datetime import timedelta

    class Ticker(Listener):
        def on_start(self) -> None:
            self.every(timedelta(seconds=1), "tick")

        def on_timer(self, event: TimerFired) -> None:
            raise RuntimeError("tick failed")

    engine = make_engine(quiet_broker, clock)
    ticker = Ticker()
    engine.add_strategy(ticker)
    engine.start()
    clock.advance(timedelta(seconds=1))
    engine.run_pending()
    clock.advance(timedelta(seconds=1))
    engine.run_pending()
    [failed] = engine.outcome.failures
    assert failed.hook == "on_timer"
    assert failed.event.startswith("TimerFired tick at ")
    assert not engine.timers.scheduled  # its timers were cancelled with it
    assert engine.outcome.stop_reason == "no strategy is left running"
    engine.stop()


def test_an_on_start_error_stops_only_that_strategy(quiet_broker: ScriptedBroker, clock: FakeClock) -> None:
    class BrokenStart(Buyer):
        def on_start(self) -> None:
            self.subscribe_quotes("AAPL")
            self.buy("AAPL", 1, limit_price=10)
            raise KeyError("missing parameter")

    engine = make_engine(quiet_broker, clock)
    broken, healthy = BrokenStart("broken"), Listener()
    engine.add_strategy(broken)
    engine.add_strategy(healthy)
    engine.start()
    push_quotes(engine, quiet_broker, clock, 2)
    assert broken.quotes == 0  # unsubscribed: its on_quote never ran
    assert healthy.quotes == 2
    [failed] = engine.outcome.failures
    assert (failed.hook, failed.event, failed.error_type) == ("on_start", "", "KeyError")
    assert failed.cancelled == ("T.1",)
    assert quiet_broker.cancel_requests == ["T.1"]
    engine.stop()


def test_an_on_stop_error_does_not_break_the_shutdown(quiet_broker: ScriptedBroker, clock: FakeClock) -> None:
    class BrokenStop(Listener):
        def on_stop(self) -> None:
            self.buy("AAPL", 1, limit_price=10)
            raise RuntimeError("could not save state")

    engine = make_engine(quiet_broker, clock)
    broken, healthy = BrokenStop(), Listener()
    broken.id = "broken"
    engine.add_strategy(broken)
    engine.add_strategy(healthy)
    recorder = EventRecorder(engine.bus, [StrategyFailed, OrderCancelled])
    engine.start()
    engine.stop()
    assert healthy.stopped
    assert quiet_broker.connection_state.value == "disconnected"
    [failed] = engine.outcome.failures
    assert (failed.strategy_id, failed.hook) == ("broken", "on_stop")
    assert failed.cancelled == ("T.1",)
    # the cancel went through the gateway and was dispatched before the engine let go
    assert [e.client_order_id for e in recorder.of(OrderCancelled)] == ["T.1"]
    assert engine.orders.get("T.1").status.value == "cancelled"  # type: ignore[union-attr]


def test_raise_errors_still_propagates(quiet_broker: ScriptedBroker, clock: FakeClock) -> None:
    engine = Engine(quiet_broker, clock=clock, config=EngineConfig(raise_errors=True, order_id_prefix="T"))
    engine.add_strategy(Buyer())
    engine.start()
    with pytest.raises(ValueError, match="bad quote number 3"):
        push_quotes(engine, quiet_broker, clock, 3)


class LeakyFailure(Strategy):
    """Raises on its first quote with an error that quotes a registered secret and an account id."""

    def on_start(self) -> None:
        self.subscribe_quotes("AAPL")

    def on_quote(self, quote: Quote) -> None:
        raise RuntimeError("notifier refused token tok-canary-6610 for account DU5550123")


def test_strategy_failed_carries_no_secret_in_its_error_or_traceback(
    quiet_broker: ScriptedBroker, clock: FakeClock
) -> None:
    # R19: the event reaches the summary, result.json and every listener, not only the redacted log
    register_secret("tok-canary-6610")
    engine = make_engine(quiet_broker, clock, ErrorPolicy.CONTINUE)
    engine.add_strategy(LeakyFailure(strategy_id="leaky"))
    recorder = EventRecorder(engine.bus, [StrategyFailed])
    engine.start()
    push_quotes(engine, quiet_broker, clock, 1)
    [failure] = recorder.of(StrategyFailed)
    assert failure.error == "notifier refused token *** for account DU****123"
    assert "RuntimeError: notifier refused token *** for account DU****123" in failure.traceback
    assert "tok-canary-6610" not in failure.traceback
    engine.stop()
