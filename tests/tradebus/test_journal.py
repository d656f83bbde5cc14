"""The SQLite journal: intent before send, every event appended, fills de-duplicated, reopenable."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from framework.engine import Engine
from framework.events import OrderFilled
from framework.marketdata import Quote
from framework.models import Instrument
from framework.models import Order
from framework.models import OrderRequest
from framework.models import OrderStatus
from framework.testing import FakeClock
from framework.testing import ScriptedBroker
from tradebus.journal import SqliteJournal

AAPL = Instrument(symbol="AAPL", broker_id="265598")


def request(cid: str, **ticket: object) -> OrderRequest:
    return OrderRequest.model_validate(
        {"client_order_id": cid, "instrument": AAPL, "side": "buy", "quantity": 10, "strategy_id": "s", **ticket}
    )


def journaled_engine(path: Path, **broker_options: bool) -> tuple[Engine, ScriptedBroker, SqliteJournal]:
    clock = FakeClock()
    broker = ScriptedBroker(clock, instruments=[AAPL], **broker_options)
    journal = SqliteJournal(path, synchronous="normal")
    engine = Engine(broker, clock=clock, journal=journal)
    engine.start()
    broker.push_quote(Quote("AAPL", clock.now(), bid=100.0, ask=100.1))
    engine.run_pending()
    return engine, broker, journal


def test_intent_is_on_disk_before_the_broker_sees_the_order(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    engine, broker, journal = journaled_engine(path)
    seen_on_disk: list[list[str]] = []
    original = broker.submit_order

    def spy(req: OrderRequest) -> None:
        other = sqlite3.connect(path)  # a second connection sees only committed data
        seen_on_disk.append([r[0] for r in other.execute("SELECT client_order_id FROM orders")])
        other.close()
        original(req)

    broker.submit_order = spy  # type: ignore[method-assign]
    engine.submit_order(request("c1"))
    engine.run_pending()
    assert seen_on_disk == [["c1"]]
    journal.close()


def test_every_event_and_fill_is_recorded_and_state_follows(tmp_path: Path) -> None:
    engine, _, journal = journaled_engine(tmp_path / "j.sqlite")
    engine.submit_order(request("c1"))
    engine.run_pending()
    [order] = journal.orders()
    assert order.status is OrderStatus.FILLED
    assert order.filled_quantity == 10
    assert order.broker_order_id == "Bc1"
    assert [e.event for e in journal.history("c1")] == ["OrderIntent", "OrderSubmitted", "OrderAccepted", "OrderFilled"]
    [fill] = journal.fills()
    assert (fill.execution_id, fill.quantity, str(fill.price)) == ("X1", 10, "100.1")
    journal.close()


def test_duplicate_fill_is_stored_once(tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "j.sqlite")
    engine, broker, _ = journaled_engine(tmp_path / "other.sqlite", auto_fill=False)
    engine.submit_order(request("c1"))
    engine.run_pending()
    order = engine.orders.get("c1")
    assert order is not None
    journal.record_intent(order, "run")
    report = broker.fill("c1", 100.0, quantity=None)
    engine.run_pending()
    state = engine.orders.get("c1")
    assert state is not None
    fill = engine.orders.booked(report.execution_id)
    assert fill is not None
    filled = OrderFilled(ts=fill.ts, client_order_id="c1", fill=fill)
    assert journal.record_event(filled, state) is True
    assert journal.record_event(filled, state) is False
    assert len(journal.fills()) == 1
    journal.close()


def test_denied_order_is_journaled_with_its_reason(tmp_path: Path) -> None:
    engine, broker, journal = journaled_engine(tmp_path / "j.sqlite")
    broker.disconnect()
    engine.submit_order(request("c1"))
    engine.run_pending()
    [order] = journal.orders()
    assert order.status is OrderStatus.DENIED
    assert order.reason is not None
    assert order.reason.startswith("broker scripted is disconnected; new exposure")
    assert [e.event for e in journal.history("c1")] == ["OrderIntent", "OrderDenied"]
    assert broker.submitted == []
    journal.close()


def test_reopened_journal_lists_open_orders_and_runs(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    engine, _, journal = journaled_engine(path, auto_fill=False)
    engine.submit_order(request("resting", order_type="limit", limit_price=99))
    engine.submit_order(request("market"))
    engine.run_pending()
    journal.close()
    reopened = SqliteJournal(path)
    assert [o.client_order_id for o in reopened.open_orders()] == ["resting", "market"]
    assert reopened.run_ids() == [engine.gateway.run_id]  # the run id is the order-id prefix
    reopened.close()


def test_same_client_order_id_can_never_be_journaled_twice(tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "j.sqlite")
    clock = FakeClock()
    order = Order(request=request("dup"), updated=clock.now())
    journal.record_intent(order, "run")
    with pytest.raises(sqlite3.IntegrityError):
        journal.record_intent(order, "run")
    journal.close()


def test_journal_write_failure_denies_the_order(tmp_path: Path) -> None:
    engine, broker, journal = journaled_engine(tmp_path / "j.sqlite")
    journal.close()  # every write now fails
    engine.submit_order(request("c1"))
    engine.run_pending()
    assert broker.submitted == []
    order = engine.orders.get("c1")
    assert order is not None
    assert order.status is OrderStatus.DENIED
    assert order.reason is not None
    assert "journal write failed" in order.reason
    assert engine.journal_errors == 1  # the OrderDenied itself could not be journaled either
