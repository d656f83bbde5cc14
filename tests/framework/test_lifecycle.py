"""The one order lifecycle: a report that contradicts its order is refused loudly and books nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest

from framework.engine import Engine
from framework.events import BrokerConnected
from framework.events import BrokerDegraded
from framework.events import ExecutionRefused
from framework.events import OrderDenied
from framework.events import OrderFilled
from framework.events import OrderPartiallyFilled
from framework.models import ExecutionReport
from framework.models import Instrument
from framework.models import OrderRequest
from framework.models import OrderStatus
from framework.models import Side
from framework.testing import EventRecorder
from framework.testing import FakeClock
from framework.testing import ScriptedBroker

AAPL = Instrument(symbol="AAPL", broker_id="265598")


@pytest.fixture
def desk() -> tuple[Engine, ScriptedBroker, EventRecorder, FakeClock]:
    clock = FakeClock()
    broker = ScriptedBroker(clock, auto_fill=False, instruments=[AAPL])
    engine = Engine(broker, clock=clock)
    recorder = EventRecorder(engine.bus)
    engine.start()
    engine.submit_order(OrderRequest(client_order_id="c1", instrument=AAPL, side=Side.BUY, quantity=Decimal(10),
                                     strategy_id="s"))
    engine.run_pending()
    return engine, broker, recorder, clock


def report(clock: FakeClock, **changes: object) -> ExecutionReport:
    fields: dict[str, object] = {
        "execution_id": "x1", "client_order_id": "c1", "side": Side.BUY, "quantity": Decimal(4),
        "price": Decimal("101.5"), "ts": clock.now(), "symbol": "AAPL", "instrument_id": "265598",
        "account_id": "SCRIPTED", "commission": Decimal("0.35"),
    }
    fields.update(changes)
    return ExecutionReport(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "field", "expected", "received"),
    [
        ({"side": Side.SELL}, "side", "buy", "sell"),
        ({"symbol": "MSFT"}, "instrument", "AAPL", "MSFT"),
        ({"instrument_id": "8314"}, "instrument", "AAPL (265598)", "8314"),
        ({"account_id": "DU999"}, "account", "SCRIPTED", "DU999"),
        ({"quantity": Decimal(11)}, "quantity", "at most 10 remaining", "11 (cumulative 11 of 10)"),
        ({"quantity": Decimal(-4)}, "quantity", "a positive finite size", "-4"),
        ({"price": Decimal("-101.5")}, "price", "a positive finite price", "-101.5"),
        ({"price": Decimal("NaN")}, "price", "a positive finite price", "NaN"),
        ({"commission": Decimal("-0.35")}, "commission", "a cost, zero or positive", "-0.35"),
    ],
)
def test_a_contradicting_report_books_nothing_names_the_field_and_degrades_the_broker(
    desk: tuple[Engine, ScriptedBroker, EventRecorder, FakeClock],
    changes: dict[str, object], field: str, expected: str, received: str,
) -> None:
    engine, broker, recorder, clock = desk
    cash = engine.portfolio.cash
    broker.report(report(clock, **changes))
    engine.run_pending()
    [refused] = recorder.of(ExecutionRefused)
    assert (refused.client_order_id, refused.execution_id, refused.field, refused.expected, refused.received) == (
        "c1", "x1", field, expected, received)
    assert recorder.of(OrderFilled) == recorder.of(OrderPartiallyFilled) == []
    order = engine.orders.get("c1")
    assert order is not None
    assert (order.status, order.filled_quantity) == (OrderStatus.ACCEPTED, 0)
    assert (engine.portfolio.quantity("AAPL"), engine.portfolio.cash) == (0, cash)
    [degraded] = recorder.of(BrokerDegraded)
    assert field in degraded.reason
    # while the broker is not trusted, new orders are denied with the reason
    engine.submit_order(OrderRequest(client_order_id="c2", instrument=AAPL, side=Side.BUY, quantity=Decimal(1)))
    engine.run_pending()
    assert recorder.of(OrderDenied)[0].reason.startswith("broker scripted is degraded: execution x1")


def test_an_execution_reported_again_with_other_content_is_refused(
    desk: tuple[Engine, ScriptedBroker, EventRecorder, FakeClock],
) -> None:
    engine, broker, recorder, clock = desk
    broker.report(report(clock))
    broker.report(report(clock))  # the same report again: a harmless duplicate
    broker.report(report(clock, quantity=Decimal(6)))  # the same id, other content: an inconsistency
    engine.run_pending()
    assert len(recorder.of(OrderPartiallyFilled)) == 1
    assert engine.orders.duplicates == 1
    [refused] = recorder.of(ExecutionRefused)
    assert (refused.field, refused.expected, refused.received) == ("execution_id", "x1 booked with quantity 4",
                                                                   "quantity 6")
    assert engine.portfolio.quantity("AAPL") == 4


def test_the_broker_is_trusted_again_once_it_reconnects(
    desk: tuple[Engine, ScriptedBroker, EventRecorder, FakeClock],
) -> None:
    engine, broker, recorder, clock = desk
    broker.report(report(clock, side=Side.SELL))
    engine.run_pending()
    broker.emit(BrokerConnected(ts=clock.now(), broker="scripted"))
    engine.run_pending()
    engine.submit_order(OrderRequest(client_order_id="c2", instrument=AAPL, side=Side.BUY, quantity=Decimal(1)))
    engine.run_pending()
    assert recorder.of(OrderDenied) == []


def test_r15_a_fill_is_booked_once_in_the_one_portfolio_with_its_commission(
    desk: tuple[Engine, ScriptedBroker, EventRecorder, FakeClock],
) -> None:
    """R15 (stale positions): positions come from fills at once; the gateway's cached positions are never trusted
    (invalidated before every read). Partial versus the criterion: see docs/reliability.md."""
    engine, broker, recorder, clock = desk
    cash = engine.portfolio.cash
    broker.report(report(clock))
    engine.run_pending()
    [fill] = [e.fill for e in recorder.of(OrderPartiallyFilled)]
    assert (fill.quantity, fill.price, fill.commission) == (4, Decimal("101.5"), Decimal("0.35"))
    assert engine.portfolio.cash == cash - Decimal(4) * Decimal("101.5") - Decimal("0.35")
    assert engine.portfolio.commissions == Decimal("0.35")
