"""What a user sees of an error: one log record with its traceback, not three; the summary names it."""

from __future__ import annotations

import io
import logging

import pytest

from framework.config import EngineConfig
from framework.config import ErrorPolicy
from framework.engine import Engine
from framework.events import HandlerFailed
from framework.events import QuoteUpdated
from framework.marketdata import Quote
from framework.models import Instrument
from framework.strategy import Strategy
from framework.testing import EventRecorder
from framework.testing import FakeClock
from framework.testing import ScriptedBroker
from tradebus.console import ConsoleView
from tradebus.eventlog import EventLog


class Failing(Strategy):
    """Raises on every quote from the second on."""

    def __init__(self) -> None:
        super().__init__(strategy_id="failing")
        self.quotes = 0

    def on_start(self) -> None:
        self.subscribe_quotes("AAPL")

    def on_quote(self, quote: Quote) -> None:
        self.quotes += 1
        if self.quotes >= 2:
            raise ValueError(f"bad quote number {self.quotes}")


@pytest.fixture
def records(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO)
    return caplog


@pytest.fixture
def scripted(clock: FakeClock, aapl: Instrument) -> ScriptedBroker:
    return ScriptedBroker(clock, instruments=[aapl])


def cli_engine(broker: ScriptedBroker, clock: FakeClock, policy: ErrorPolicy) -> tuple[Engine, io.StringIO]:
    # what every CLI run has: the event log and the live view
    engine = Engine(broker, clock=clock, config=EngineConfig(order_id_prefix="T", on_strategy_error=policy))
    EventLog().attach(engine)
    view = io.StringIO()
    ConsoleView(engine, view)
    return engine, view


def push_quotes(engine: Engine, broker: ScriptedBroker, clock: FakeClock, count: int) -> None:
    for _ in range(count):
        broker.push_quote(Quote("AAPL", clock.now(), bid=100.0, ask=100.1))
        engine.run_pending()


def problems(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_each_strategy_error_is_one_record_with_traceback_naming_strategy_hook_and_event(
    scripted: ScriptedBroker, clock: FakeClock, records: pytest.LogCaptureFixture
) -> None:
    engine, view = cli_engine(scripted, clock, ErrorPolicy.CONTINUE)
    engine.add_strategy(Failing())
    engine.start()
    push_quotes(engine, scripted, clock, 3)  # quotes 2 and 3 raise
    errors = problems(records)
    assert [r.levelno for r in errors] == [logging.ERROR, logging.ERROR], [r.getMessage() for r in errors]
    for record, number in zip(errors, (2, 3), strict=True):
        assert record.exc_info is not None
        assert isinstance(record.exc_info[1], ValueError)
        message = record.getMessage()
        assert "strategy failing" in message
        assert "on_quote on QuoteUpdated AAPL at 2024-01-02T14:30:00+00:00" in message
        assert f"ValueError: bad quote number {number}" in message
    assert "bad quote number" not in view.getvalue()  # the live view does not print it again
    engine.stop()


def test_a_stopped_strategy_gets_one_line_in_the_live_view_and_in_the_summary(
    scripted: ScriptedBroker, clock: FakeClock, records: pytest.LogCaptureFixture
) -> None:
    engine, view = cli_engine(scripted, clock, ErrorPolicy.STOP_STRATEGY)
    engine.add_strategy(Failing())
    engine.start()
    push_quotes(engine, scripted, clock, 3)
    assert len(problems(records)) == 1
    stops = [line for line in view.getvalue().splitlines() if "STOP" in line]
    assert len(stops) == 1
    assert "strategy failing stopped after an error in on_quote" in stops[0]
    engine.stop()
    summary = ConsoleView.summary(engine)
    assert ("strategy failing FAILED: on_quote on QuoteUpdated AAPL at 2024-01-02T14:30:00+00:00: "
            "ValueError: bad quote number 2 (strategy stopped, no working orders, positions kept)") in summary


def test_a_handler_no_strategy_owns_is_logged_once(
    scripted: ScriptedBroker, clock: FakeClock, records: pytest.LogCaptureFixture
) -> None:
    engine, view = cli_engine(scripted, clock, ErrorPolicy.STOP_STRATEGY)

    def broken(event: QuoteUpdated) -> None:
        raise RuntimeError("listener bug")

    engine.subscribe(QuoteUpdated, broken, sender="AAPL")
    failures = EventRecorder(engine.bus, [HandlerFailed])
    engine.start()
    push_quotes(engine, scripted, clock, 1)
    [record] = problems(records)
    assert record.exc_info is not None
    assert "listener bug" in str(record.exc_info[1])
    assert len(failures.events) == 1
    assert "listener bug" not in view.getvalue()
    assert not engine.outcome.failed
    engine.stop()
