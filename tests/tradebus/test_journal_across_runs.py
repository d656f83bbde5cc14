"""One journal file, several runs: execution ids, the venue of each run, and what recovery adopts.

Real SQLite journals, real engines; the brokers are scripted. A repeated execution id is never dropped
silently: the same content again is a duplicate (counted), other content is refused, naming the field.
"""

from __future__ import annotations

import itertools
import logging
import sqlite3
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import pytest

from framework.clock import SystemClock
from framework.config import EngineConfig
from framework.engine import Engine
from framework.events import BrokerDegraded
from framework.events import ExecutionRefused
from framework.events import ExecutionReported
from framework.events import OrderFilled
from framework.journal import Venue
from framework.marketdata import Quote
from framework.models import Account
from framework.models import ExecutionReport
from framework.models import Fill
from framework.models import Instrument
from framework.models import Order
from framework.models import OrderRequest
from framework.models import OrderStatus
from framework.models import OrderType
from framework.models import Side
from framework.strategy import Strategy
from framework.strategy import StrategyConfig
from framework.testing import EventRecorder
from framework.testing import FakeClock
from framework.testing import ScriptedBroker
from tradebus.commands import run_from_settings
from tradebus.console import ConsoleView
from tradebus.journal import JournalConflict
from tradebus.journal import SqliteJournal
from tradebus.recording import LiveRecorder
from tradebus.settings import load_settings

AAPL = Instrument(symbol="AAPL", broker_id="265598")


def ticket(cid: str, **fields: object) -> OrderRequest:
    values = {"client_order_id": cid, "instrument": AAPL, "side": "buy", "quantity": 10, "strategy_id": "s"}
    return OrderRequest.model_validate({**values, **fields})


class Venue2(ScriptedBroker):
    """A scripted venue that can look a previous run's orders up (and answers as scripted)."""

    def __init__(self, clock: FakeClock, *, name: str = "scripted", account_id: str = "SCRIPTED",
                 first_execution: int = 1, **options: bool) -> None:
        super().__init__(clock, instruments=[AAPL], **options)
        self._exec_ids = itertools.count(first_execution)  # X1, X2 ... as every scripted venue, unless told
        self.name = name
        self.account_id = account_id
        self.recovered: list[Order] | None = None
        self.script: list[ExecutionReported] = []

    def recover(self, orders: Sequence[Order], fills: Sequence[Fill]) -> None:
        self.recovered = list(orders)
        for event in self.script:
            self.emit(event)

    def account(self) -> Account:
        return Account(account_id=self.account_id, cash=self.cash, equity=self.cash, buying_power=self.cash,
                       ts=self.clock.now())


def first_run(path: Path, clock: FakeClock) -> None:
    """A run that bought 10 (execution X1, order r1.1 filled) and left a resting limit order r1.2."""
    broker = Venue2(clock)
    journal = SqliteJournal(path, synchronous="normal")
    engine = Engine(broker, clock=clock, journal=journal, config=EngineConfig(order_id_prefix="r1"))
    engine.start()
    broker.push_quote(Quote("AAPL", clock.now(), bid=100.0, ask=100.1))
    engine.submit_order(ticket("r1.1"))
    engine.submit_order(ticket("r1.2", order_type=OrderType.LIMIT, limit_price=Decimal(90)))
    engine.run_pending()
    engine.stop()
    journal.close()


def report(cid: str, execution_id: str, side: Side, price: str, clock: FakeClock) -> ExecutionReported:
    fill = ExecutionReport(execution_id=execution_id, client_order_id=cid, side=side, quantity=Decimal(10),
                           price=Decimal(price), ts=clock.now(), symbol="AAPL", commission=Decimal(0))
    return ExecutionReported(fill.ts, fill)


# ----------------------------------------------------------------- the journal itself


def test_the_journal_refuses_a_known_execution_id_with_other_content(tmp_path: Path) -> None:
    clock = FakeClock()
    journal = SqliteJournal(tmp_path / "j.sqlite", synchronous="normal")
    first = Order(request=ticket("c1"), updated=clock.now())
    second = Order(request=ticket("c2", side="sell"), updated=clock.now())
    journal.record_intent(first, "run")
    journal.record_intent(second, "run")
    bought = Fill("E1", "c1", "AAPL", Side.BUY, Decimal(10), Decimal(100), Decimal(0), clock.now(), "P1")
    sold = Fill("E1", "c2", "AAPL", Side.SELL, Decimal(10), Decimal(101), Decimal(0), clock.now(), "P2")
    assert journal.record_event(OrderFilled(ts=clock.now(), client_order_id="c1", fill=bought), first) is True
    with pytest.raises(JournalConflict, match="execution E1 is journaled with client_order_id c1, not c2"):
        journal.record_event(OrderFilled(ts=clock.now(), client_order_id="c2", fill=sold), second)
    assert isinstance(JournalConflict("x"), sqlite3.IntegrityError)  # a journal error the lifecycle reports
    # the same fill again is a harmless duplicate: not stored twice, counted
    assert journal.record_event(OrderFilled(ts=clock.now(), client_order_id="c1", fill=bought), first) is False
    assert journal.duplicates == 1
    assert [(f.execution_id, f.client_order_id) for f in journal.fills()] == [("E1", "c1")]
    assert journal.fill("E1") == bought
    assert journal.fill("E2") is None
    journal.close()


def test_the_journal_records_the_venue_of_each_run(tmp_path: Path) -> None:
    clock = FakeClock()
    journal = SqliteJournal(tmp_path / "j.sqlite", synchronous="normal")
    journal.record_run("paperrun", Venue("paper", "PAPER"), clock.now())
    journal.record_run("liverun", Venue("ibkr", "DU1234567"), clock.now())
    journal.record_intent(Order(request=ticket("paperrun.1"), updated=clock.now()), "paperrun")
    journal.record_intent(Order(request=ticket("liverun.1"), updated=clock.now()), "liverun")
    journal.record_intent(Order(request=ticket("old.1"), updated=clock.now()), "old")  # before venues were kept
    assert journal.venue("paperrun") == Venue("paper", "PAPER").journaled()
    assert journal.venue("old") is None
    assert [o.client_order_id for o in journal.open_orders()] == ["paperrun.1", "liverun.1", "old.1"]
    assert [o.client_order_id for o in journal.open_orders(venue=Venue("ibkr", "DU1234567"))] == ["liverun.1"]
    assert journal.open_orders(venue=Venue("ibkr", "DU7654321")) == []
    journal.close()



def test_the_journal_file_never_holds_the_account_id_in_the_clear(tmp_path: Path) -> None:
    # R19: the account is stored masked with a digest; equal accounts still match, different ones do not
    path = tmp_path / "j.sqlite"
    journal = SqliteJournal(path, synchronous="normal")
    journal.record_run("liverun", Venue("ibkr", "DU1234567"), FakeClock().now())
    stored = journal.venue("liverun")
    assert stored is not None
    assert stored.account_id.startswith("DU****567#")
    assert stored == Venue("ibkr", "DU1234567").journaled() != Venue("ibkr", "DU1234568").journaled()
    journal.close()
    assert b"1234567" not in path.read_bytes()


# ----------------------------------------------------------------- through the engine


def test_a_later_run_reusing_an_execution_id_for_another_order_is_refused_not_dropped(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "j.sqlite"
    first_run(path, clock)
    broker = Venue2(clock, auto_fill=False)
    journal = SqliteJournal(path, synchronous="normal")
    engine = Engine(broker, clock=clock, journal=journal, config=EngineConfig(order_id_prefix="r2"))
    recorder = EventRecorder(engine.bus)
    engine.start()
    engine.submit_order(ticket("r2.1", side="sell"))
    engine.run_pending()
    broker.report(report("r2.1", "X1", Side.SELL, "101", clock).report)  # the venue reused X1 (run 1's buy)
    engine.run_pending()
    [refused] = recorder.of(ExecutionRefused)
    assert (refused.client_order_id, refused.execution_id, refused.field) == ("r2.1", "X1", "execution_id")
    assert (refused.expected, refused.received) == ("X1 booked with client_order_id r1.1", "client_order_id r2.1")
    assert [e.broker for e in recorder.of(BrokerDegraded)] == ["scripted"]  # reconciliation decides the truth
    order = engine.orders.get("r2.1")
    assert order is not None
    assert (order.status, order.filled_quantity) == (OrderStatus.ACCEPTED, 0)  # nothing booked, nothing hidden
    assert [(f.execution_id, f.client_order_id) for f in journal.fills()] == [("X1", "r1.1")]
    assert engine.journal_errors == 0
    engine.stop()
    journal.close()


def test_an_earlier_runs_execution_reported_again_is_a_counted_duplicate(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "j.sqlite"
    first_run(path, clock)
    broker = Venue2(clock)
    journal = SqliteJournal(path, synchronous="normal")
    engine = Engine(broker, clock=clock, journal=journal)
    recorder = EventRecorder(engine.bus)
    engine.start()
    [booked] = journal.fills()
    again = ExecutionReport(execution_id="X1", client_order_id="r1.1", side=Side.BUY, quantity=booked.quantity,
                            price=booked.price, ts=clock.now(), symbol="AAPL", commission=booked.commission)
    broker.report(again)  # a venue's look-up of the last days repeats an execution the journal holds
    engine.run_pending()
    assert recorder.of(ExecutionRefused) == []
    assert engine.orders.duplicates == 1
    assert len(journal.fills()) == 1
    engine.stop()
    journal.close()


def test_recovery_refuses_a_missed_fill_whose_id_the_journal_holds_for_another_order(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "j.sqlite"
    first_run(path, clock)
    broker = Venue2(clock)
    broker.script = [report("r1.2", "X1", Side.BUY, "90", clock)]  # the venue says r1.2 filled, under run 1's X1
    journal = SqliteJournal(path, synchronous="normal")
    engine = Engine(broker, clock=clock, journal=journal)
    recorder = EventRecorder(engine.bus)
    engine.start()
    assert broker.recovered is not None
    assert [o.client_order_id for o in broker.recovered] == ["r1.2"]
    [refused] = recorder.of(ExecutionRefused)
    assert (refused.client_order_id, refused.field) == ("r1.2", "execution_id")
    assert refused.expected == "X1 booked with client_order_id r1.1"
    assert {o.client_order_id: o.status for o in journal.orders()} == {
        "r1.1": OrderStatus.FILLED, "r1.2": OrderStatus.ACCEPTED,
    }
    engine.stop()
    journal.close()


@pytest.mark.parametrize(("name", "account_id"), [("ibkr", "SCRIPTED"), ("scripted", "DU1234567")])
def test_recovery_leaves_the_open_orders_of_another_venue_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, name: str, account_id: str
) -> None:
    clock = FakeClock()
    path = tmp_path / "j.sqlite"
    first_run(path, clock)  # venue scripted, account SCRIPTED: r1.2 still works there
    broker = Venue2(clock, name=name, account_id=account_id)
    journal = SqliteJournal(path, synchronous="normal")
    engine = Engine(broker, clock=clock, journal=journal)
    with caplog.at_level(logging.WARNING, logger="framework.recovery"):
        engine.start()
    assert broker.recovered is None  # nothing of this venue to look up
    assert engine.orders.get("r1.2") is None
    [line] = [r.getMessage() for r in caplog.records]
    old, new = Venue("scripted", "SCRIPTED").journaled(), Venue(name, account_id).journaled()
    assert line == (f"1 unfinished order of another venue left alone (r1.2: {old}); this run "
                    f"trades {new}; inspect them with `tradebus journal`")
    assert account_id not in line  # the journal's form masks it
    assert {o.client_order_id: o.status for o in journal.orders()} == {
        "r1.1": OrderStatus.FILLED, "r1.2": OrderStatus.ACCEPTED,
    }
    assert journal.venue(engine.gateway.run_id) == Venue(name, account_id).journaled()
    engine.stop()
    journal.close()


def test_recovery_leaves_orders_of_an_unrecorded_venue_alone(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    path = tmp_path / "j.sqlite"
    first_run(path, clock)
    db = sqlite3.connect(path)
    db.execute("DELETE FROM runs")  # a journal written before runs recorded their venue
    db.commit()
    db.close()
    broker = Venue2(clock)
    engine = Engine(broker, clock=clock, journal=SqliteJournal(path, synchronous="normal"))
    with caplog.at_level(logging.WARNING, logger="framework.recovery"):
        engine.start()
    assert broker.recovered is None
    assert "(r1.2: an unrecorded venue)" in caplog.text
    engine.stop()


def test_recovery_adopts_the_orders_of_the_same_venue(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "j.sqlite"
    first_run(path, clock)
    broker = Venue2(clock)
    engine = Engine(broker, clock=clock, journal=SqliteJournal(path, synchronous="normal"))
    engine.start()
    assert broker.recovered is not None
    assert [o.client_order_id for o in broker.recovered] == ["r1.2"]
    assert [o.client_order_id for o in engine.orders.open()] == ["r1.2"]
    assert [o.client_order_id for o in engine.orders.this_run()] == []  # adopted, not placed by this run
    engine.stop()


def test_the_summary_and_the_results_count_only_this_runs_orders(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "j.sqlite"
    first_run(path, clock)  # r1.1 filled, r1.2 still working
    broker = Venue2(clock, first_execution=2)
    engine = Engine(broker, clock=clock, journal=SqliteJournal(path, synchronous="normal"),
                    config=EngineConfig(order_id_prefix="r2"))
    engine.start()
    recorder = LiveRecorder(engine)
    broker.push_quote(Quote("AAPL", clock.now(), bid=100.0, ask=100.1))
    engine.submit_order(ticket("r2.1", side="sell"))
    engine.run_pending()
    summary = ConsoleView.summary(engine)
    assert "orders: 1 (1 filled); quantity filled: 10" in summary
    assert "earlier runs: 1 order recovered (1 accepted)" in summary
    assert [o.client_order_id for o in recorder.result().orders] == ["r2.1"]
    recorder.close()
    engine.stop()


class StopAtOnce(Strategy[StrategyConfig]):
    """Starts (after recovery) and asks to stop."""

    config_type = StrategyConfig

    def on_start(self) -> None:
        self.request_stop()


def test_a_run_without_a_journal_setting_says_the_old_shared_default_is_no_longer_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    old = SqliteJournal(Path("runs/journal.sqlite"))  # where paper and live runs used to share one file
    old.close()
    settings = load_settings(None, {})
    settings = settings.model_copy(update={"halt_file": tmp_path / "HALT", "output": tmp_path / "out"})
    with caplog.at_level(logging.WARNING, logger="tradebus.commands"):
        code = run_from_settings(Venue2(FakeClock()), SystemClock(), settings, StopAtOnce(), duration=5, quiet=True)
    assert code == 0
    assert caplog.messages == [
        'runs/journal.sqlite is no longer the default journal: this run journals to runs/scripted/journal.sqlite '
        '(set journal = "runs/journal.sqlite" to keep using the old file; recovery there adopts only this '
        "venue's orders)"
    ]
    assert (tmp_path / "runs" / "scripted" / "journal.sqlite").exists()
    assert "journal: runs/scripted/journal.sqlite;" in capsys.readouterr().out
