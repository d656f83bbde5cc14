"""The event log: one line per order event and connection change, warnings for refusals, no secrets.

Also the CLI side: ``-v`` after the command name, quiet third-party loggers, and ``assemble`` (what
``live`` and ``paper`` run) attaching the log, so ``--quiet`` no longer hides order lines.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from framework.config import EngineConfig
from framework.engine import Engine
from framework.events import BrokerDegraded
from framework.events import BrokerDisconnected
from framework.events import DataStale
from framework.events import OrderExpired
from framework.events import TimerFired
from framework.marketdata import Quote
from framework.models import OrderRequest
from framework.strategy import Strategy
from framework.testing import FakeClock
from framework.testing import ScriptedBroker
from tradebus import cli
from tradebus.assembly import assemble
from tradebus.eventlog import EventLog
from tradebus.eventlog import RedactSecrets
from tradebus.eventlog import redact
from tradebus.journal import SqliteJournal

LOGGER = "tradebus.eventlog"


class BuyOnQuote(Strategy):
    """Buys 10 AAPL at market on the first quote."""

    def on_start(self) -> None:
        self.subscribe_quotes("AAPL")

    def on_quote(self, quote: Quote) -> None:
        if not self.context.orders.all():
            self.buy("AAPL", 10)


def explode(event: object) -> None:
    raise ZeroDivisionError("division by zero")


def lines_of(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == LOGGER]


def limit_buy(engine: Engine, quantity: int = 100) -> str:
    request = OrderRequest(
        client_order_id=engine.next_client_order_id(),
        strategy_id="manual",
        instrument=engine.instrument("AAPL"),
        side="buy",
        quantity=Decimal(quantity),
        order_type="limit",
        limit_price=Decimal("189.50"),
    )
    return engine.submit_order(request).client_order_id


def test_an_order_lifecycle_is_one_info_line_per_event(
    engine: Engine, broker: ScriptedBroker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    EventLog().attach(engine)
    broker.auto_fill = False
    engine.start()
    cid = limit_buy(engine)
    broker.fill(cid, Decimal("189.50"), Decimal(40))
    broker.fill(cid, Decimal("189.48"))
    engine.run_pending()
    assert lines_of(caplog) == [
        (logging.INFO, "broker scripted connected"),
        (logging.INFO, f"order {cid} submitted: buy 100 AAPL limit @ 189.50 (strategy manual)"),
        (logging.INFO, f"order {cid} accepted (broker id B{cid})"),
        (logging.INFO, f"order {cid} partially filled: bought 40 AAPL @ 189.50"),
        (logging.INFO, f"order {cid} filled: bought 60 AAPL @ 189.48"),
    ]


def test_cancels_and_expiry_are_info_and_refusals_are_warnings_with_the_reason(
    engine: Engine, broker: ScriptedBroker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    EventLog().attach(engine)
    broker.auto_fill = False
    engine.start()
    cancelled, rejected, expired = limit_buy(engine), limit_buy(engine), limit_buy(engine)
    engine.run_pending()
    engine.cancel_order(cancelled)
    broker.confirm_cancel(cancelled)
    broker.reject(rejected, "price too far from the market")
    broker.emit(OrderExpired(ts=engine.clock.now(), client_order_id=expired))
    engine.checks.append(lambda request, _engine: "max_order_quantity 1000 exceeded")
    denied = limit_buy(engine, 5000)
    engine.run_pending()
    interesting = [line for line in lines_of(caplog) if "submitted" not in line[1] and "accepted" not in line[1]]
    assert interesting == [
        (logging.INFO, "broker scripted connected"),
        (logging.INFO, f"order {cancelled} cancel requested"),
        (logging.INFO, f"order {cancelled} cancelled: cancelled"),
        (logging.WARNING, f"order {rejected} rejected: price too far from the market"),
        (logging.INFO, f"order {expired} expired"),
        (logging.WARNING, f"order {denied} denied: max_order_quantity 1000 exceeded"),
    ]


def test_connection_changes_and_stale_data_and_a_handler_failure_logged_once(
    broker: ScriptedBroker, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    engine = Engine(broker, clock=clock, config=EngineConfig(order_id_prefix="T"))  # isolates handler errors
    EventLog().attach(engine)
    engine.bus.subscribe(TimerFired, explode)
    engine.start()
    broker.emit(BrokerDegraded(ts=clock.now(), broker="scripted", reason="market-data stream down"))
    broker.emit(DataStale(ts=clock.now(), symbol="AAPL", last_update=None))
    broker.emit(BrokerDisconnected(ts=clock.now(), broker="scripted", reason="gateway session lost"))
    engine.timers.schedule("someone", "tick", clock.now())
    engine.run_pending()
    engine.stop()
    assert lines_of(caplog) == [
        (logging.INFO, "broker scripted connected"),
        (logging.INFO, "broker scripted degraded: market-data stream down"),
        (logging.WARNING, "no market data for AAPL since the start"),
        (logging.INFO, "broker scripted disconnected: gateway session lost"),
    ]
    # a handler's failure has one record, with its traceback, from the bus; the event log does not repeat it
    [failure] = [r for r in caplog.records if r.levelno >= logging.WARNING and "explode" in r.getMessage()]
    assert failure.name == "framework.bus"
    assert failure.exc_info is not None


def test_broker_text_never_carries_a_session_cookie(
    engine: Engine, broker: ScriptedBroker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    EventLog().attach(engine)
    engine.start()
    reason = 'handshake refused (cookie: api={"session":"9c8f02aa61"}); session=9c8f02aa61'
    broker.emit(BrokerDisconnected(ts=engine.clock.now(), broker="scripted", reason=reason))
    engine.run_pending()
    [(_, line)] = [entry for entry in lines_of(caplog) if "disconnected" in entry[1]]
    assert "9c8f02aa61" not in line
    assert line.startswith("broker scripted disconnected: handshake refused (cookie: ***")


def test_the_redacting_filter_rewrites_any_record() -> None:
    record = logging.LogRecord("websocket", logging.DEBUG, __file__, 1, "send: %s", ("Cookie: api=abc",), None)
    assert RedactSecrets().filter(record)
    assert record.getMessage() == "send: Cookie: ***"
    assert redact("order rejected: price too far") == "order rejected: price too far"


def test_assemble_logs_order_lines_without_the_live_view(
    broker: ScriptedBroker, clock: FakeClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`tradebus live -vv --quiet` printed no order lines: they came only from the live view."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    run = assemble(broker, clock, [BuyOnQuote()], journal=SqliteJournal(tmp_path / "journal.sqlite"),
                   halt_file=tmp_path / "HALT")
    engine = run.engine
    engine.start()
    broker.push_quote(Quote("AAPL", clock.now(), bid=100.0, ask=100.1))
    engine.run_pending()
    engine.stop()
    run.close()
    messages = [line for _, line in lines_of(caplog)]
    assert any(m.endswith("submitted: buy 10 AAPL market (strategy BuyOnQuote)") for m in messages)
    assert any(m.endswith("filled: bought 10 AAPL @ 100.1") for m in messages)


# ----------------------------------------------------------------------------- the command line


class Backtest:
    name = "backtest"
    help = "a stand-in command"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("strategy")

    def run(self, args: argparse.Namespace) -> int:
        return 0


@pytest.mark.parametrize(
    ("argv", "count"),
    [
        (["backtest", "x"], 0),
        (["-v", "backtest", "x"], 1),
        (["backtest", "-v", "x"], 1),
        (["backtest", "x", "-vv"], 2),
        (["-v", "backtest", "--verbose", "x"], 2),
    ],
)
def test_verbose_is_accepted_before_and_after_the_command(argv: list[str], count: int) -> None:
    args = cli.build_parser({"backtest": Backtest()}).parse_args(argv)
    assert cli.verbosity_of(args) == count


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = root.level, list(root.handlers)
    levels = {name: logging.getLogger(name).level for name in cli.QUIET_LOGGERS}
    yield
    root.handlers[:] = saved[1]
    root.setLevel(saved[0])
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize(
    ("verbosity", "root", "urllib3"),
    [(0, logging.WARNING, logging.WARNING), (1, logging.INFO, logging.WARNING), (2, logging.DEBUG, logging.DEBUG)],
)
def test_third_party_chatter_is_held_back(verbosity: int, root: int, urllib3: int) -> None:
    cli.configure_logging(verbosity)
    assert logging.getLogger().level == root
    assert logging.getLogger("matplotlib.font_manager").getEffectiveLevel() == logging.WARNING
    assert logging.getLogger("PIL.PngImagePlugin").getEffectiveLevel() == logging.WARNING
    assert logging.getLogger("urllib3.connectionpool").getEffectiveLevel() == urllib3
    assert all(any(isinstance(f, RedactSecrets) for f in h.filters) for h in logging.getLogger().handlers)


def test_event_log_stops_when_closed(engine: Engine, broker: ScriptedBroker, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    log = EventLog().attach(engine)
    log.close()
    engine.start()
    engine.run_pending()
    assert lines_of(caplog) == []
