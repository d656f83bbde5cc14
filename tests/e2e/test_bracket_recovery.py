"""Bracket children survive a crash: held again after a restart, placed once their parent fills."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from brokers.ibkr import IbkrBroker
from brokers.ibkr import IbkrConfig
from framework.clock import SystemClock
from framework.engine import Engine
from framework.models import Instrument
from framework.models import OrderRequest
from framework.models import OrderStatus
from framework.models import OrderType
from framework.models import Side
from framework.models import TimeInForce
from simulators.ibkr import SimulatedGateway
from simulators.ibkr import SimulatorConfig
from tests.e2e.waiting import pump
from tradebus.journal import SqliteJournal

CENT = Decimal("0.01")


@pytest.fixture
def gateway() -> Iterator[SimulatedGateway]:
    config = SimulatorConfig(submit_latency=0.01, cancel_latency=0.01, pacing_enabled=False)
    with SimulatedGateway(port=0, seed=4, config=config) as gw:
        yield gw


def engine_on(gw: SimulatedGateway, journal: Path) -> Engine:
    config = IbkrConfig(base_url=gw.base_url, ws_url=gw.ws_url, ca_file=gw.ca_file, pacing=False,
                        auto_confirm_message_ids=frozenset({"o163", "o354", "o403", "o10331"}),
                        order_lookup_window=1.0)
    clock = SystemClock()
    return Engine(IbkrBroker(config, clock=clock), clock=clock, journal=SqliteJournal(journal))


def status(engine: Engine, cid: str) -> OrderStatus:
    order = engine.orders.get(cid)
    assert order is not None
    return order.status


def bracket(instrument: Instrument, entry: Decimal, last: Decimal) -> list[OrderRequest]:
    common = {"instrument": instrument, "quantity": Decimal(10), "time_in_force": TimeInForce.GTC}
    return [
        OrderRequest(client_order_id="b.1", side=Side.BUY, order_type=OrderType.LIMIT, limit_price=entry, **common),
        OrderRequest(client_order_id="b.2", side=Side.SELL, order_type=OrderType.LIMIT, parent_id="b.1",
                     oca_group="b", limit_price=(last * Decimal("1.2")).quantize(CENT), **common),
        OrderRequest(client_order_id="b.3", side=Side.SELL, order_type=OrderType.STOP, parent_id="b.1",
                     oca_group="b", stop_price=(last * Decimal("0.7")).quantize(CENT), **common),
    ]


def working_bracket(gw: SimulatedGateway, journal: Path) -> tuple[Engine, Decimal]:
    """A first run with a bracket whose entry rests (its children held in the adapter); returns it and the entry."""
    engine = engine_on(gw, journal)
    engine.start()
    last = Decimal(gw.quote("AAPL")["last"])
    entry = (last * Decimal("0.9")).quantize(CENT)
    for request in bracket(engine.instrument("AAPL"), entry, last):
        engine.submit_order(request)
    pump(engine, lambda: status(engine, "b.1") is OrderStatus.ACCEPTED)
    return engine, entry


def crash(engine: Engine) -> None:
    """The process dies: nothing stopped, nothing cancelled, the journal as it was."""
    engine.broker.disconnect()
    assert engine.journal is not None
    engine.journal.close()


def test_children_held_at_the_crash_are_placed_when_the_parent_fills_after_the_restart(
    gateway: SimulatedGateway, tmp_path: Path,
) -> None:
    journal = tmp_path / "journal.sqlite"
    first, entry = working_bracket(gateway, journal)
    crash(first)
    assert sorted(o.ticket.client_order_id for o in gateway.core.trading.orders.values()) == ["b.1"]

    second = engine_on(gateway, journal)
    second.start()
    try:
        # the children are back in the adapter's hands, not declared lost
        assert [status(second, c) for c in ("b.1", "b.2", "b.3")] == [OrderStatus.ACCEPTED, OrderStatus.SUBMITTED,
                                                                      OrderStatus.SUBMITTED]
        below = entry - Decimal("0.05")
        gateway.set_quote("AAPL", bid=str(below - CENT), ask=str(below), last=str(below))  # the entry fills
        pump(second, lambda: status(second, "b.1") is OrderStatus.FILLED
             and status(second, "b.2") is OrderStatus.ACCEPTED and status(second, "b.3") is OrderStatus.ACCEPTED)
        venue = {o.ticket.client_order_id: o for o in gateway.core.trading.orders.values()}
        assert sorted(venue) == ["b.1", "b.2", "b.3"]  # each placed exactly once
        assert str(venue["b.1"].status) == "Filled"
        assert venue["b.2"].oca_group is not None
        assert venue["b.2"].oca_group == venue["b.3"].oca_group  # still one-cancels-all
    finally:
        second.stop()


def test_children_of_a_parent_that_ended_unfilled_are_cancelled_on_restart(
    gateway: SimulatedGateway, tmp_path: Path,
) -> None:
    journal = tmp_path / "journal.sqlite"
    first, _ = working_bracket(gateway, journal)
    first.cancel_order("b.1")
    pump(first, lambda: status(first, "b.1") is OrderStatus.CANCELLED)
    crash(first)  # before the adapter dropped the held children

    second = engine_on(gateway, journal)
    second.start()
    try:
        assert [status(second, c) for c in ("b.2", "b.3")] == [OrderStatus.CANCELLED, OrderStatus.CANCELLED]
        assert sorted(o.ticket.client_order_id for o in gateway.core.trading.orders.values()) == ["b.1"]
    finally:
        second.stop()
