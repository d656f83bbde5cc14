"""Every price of an order is shown once, with its name: the live view, the log and ``tradebus journal`` agree."""

from __future__ import annotations

import io
import logging
from decimal import Decimal
from pathlib import Path

import pytest

from framework.config import EngineConfig
from framework.engine import Engine
from framework.marketdata import Quote
from framework.models import Instrument
from framework.models import OrderRequest
from framework.models import OrderType
from framework.models import Side
from framework.testing import FakeClock
from framework.testing import ScriptedBroker
from tradebus import cli
from tradebus.console import ConsoleView
from tradebus.eventlog import EventLog
from tradebus.eventlog import order_terms
from tradebus.journal import SqliteJournal

AAPL = Instrument(symbol="AAPL")


def request(order_type: OrderType, **prices: Decimal) -> OrderRequest:
    return OrderRequest(client_order_id="T.1", instrument=AAPL, side=Side.SELL, quantity=Decimal(10),
                        order_type=order_type, **prices)


@pytest.mark.parametrize(
    ("ticket", "expected"),
    [
        (request(OrderType.MARKET), "market"),
        (request(OrderType.LIMIT, limit_price=Decimal("190.5")), "limit @ 190.5"),
        (request(OrderType.STOP, stop_price=Decimal("185.78")), "stop @ 185.78"),
        (request(OrderType.STOP_LIMIT, stop_price=Decimal("185.78"), limit_price=Decimal("185.5")),
         "stop 185.78 limit 185.5"),
        (request(OrderType.TRAILING_STOP, trail_amount=Decimal("1.5")), "trailing stop 1.5"),
        (request(OrderType.TRAILING_STOP, trail_percent=Decimal(1), stop_price=Decimal("185.78")),
         "trailing stop 1% from 185.78"),
    ],
)
def test_order_terms_name_each_price_once(ticket: OrderRequest, expected: str) -> None:
    assert order_terms(ticket) == expected


def test_a_stop_order_reads_the_same_in_the_live_view_the_log_and_the_journal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    clock = FakeClock()
    path = tmp_path / "journal.sqlite"
    journal = SqliteJournal(path, synchronous="normal")
    engine = Engine(ScriptedBroker(clock), clock=clock, config=EngineConfig(order_id_prefix="S"), journal=journal)
    view = io.StringIO()
    ConsoleView(engine, view)
    EventLog().attach(engine)
    engine.start()
    engine.broker.push_quote(Quote("AAPL", clock.now(), bid=190.0, ask=190.02))  # type: ignore[attr-defined]
    engine.run_pending()
    ticket = {"client_order_id": engine.next_client_order_id(), "instrument": AAPL, "side": Side.SELL,
              "quantity": Decimal(10), "order_type": OrderType.STOP, "stop_price": Decimal("185.78")}
    engine.submit_order(OrderRequest.model_validate(ticket))
    engine.run_pending()
    engine.stop()
    journal.close()

    live = [line for line in view.getvalue().splitlines() if "submitted" in line]
    assert len(live) == 1
    assert live[0].endswith("submitted: sell 10 AAPL stop @ 185.78")  # was "stop stop 185.78"
    assert any("submitted: sell 10 AAPL stop @ 185.78" in r.getMessage() for r in caplog.records)

    assert cli.main(["journal", "--path", str(path)]) == 0
    listed = capsys.readouterr().out.splitlines()[1]
    assert "sell 10 AAPL stop @ 185.78" in listed  # was "sell 10 AAPL stop" with no price
