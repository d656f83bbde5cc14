"""The kill switch on the real IBKR adapter and simulated gateway, with the websocket down."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from brokers.ibkr import IbkrBroker
from brokers.ibkr import IbkrConfig
from framework.broker import ConnectionState
from framework.clock import SystemClock
from framework.config import EngineConfig
from framework.engine import Engine
from framework.events import OrderDenied
from framework.killswitch import KillSwitch
from framework.models import OrderRequest
from framework.models import OrderStatus
from framework.models import OrderType
from framework.models import Side
from framework.testing import EventRecorder
from simulators.ibkr import SimulatedGateway
from simulators.ibkr import SimulatorConfig
from tests.e2e.waiting import pump


@pytest.fixture
def gateway() -> Iterator[SimulatedGateway]:
    config = SimulatorConfig(submit_latency=0.01, cancel_latency=0.01)
    with SimulatedGateway(port=0, seed=3, config=config) as gw:
        yield gw


def test_a_halt_with_the_websocket_down_cancels_every_order_over_rest(gateway: SimulatedGateway,
                                                                        tmp_path: Path) -> None:
    config = IbkrConfig(base_url=gateway.base_url, ws_url=gateway.ws_url, ca_file=gateway.ca_file,
                        auto_confirm_message_ids=frozenset({"o163", "o354", "o403"}),
                        reconnect_initial=1.0, reconnect_max=2.0)
    clock = SystemClock()
    engine = Engine(IbkrBroker(config, clock=clock), clock=clock, config=EngineConfig(require_connected=False))
    switch = KillSwitch(tmp_path / "HALT")
    engine.add_kill_switch(switch)
    denied = EventRecorder(engine.bus, [OrderDenied])
    engine.start()
    try:
        instrument = engine.instrument("AAPL")
        far = (Decimal(gateway.quote("AAPL")["last"]) * Decimal("0.8")).quantize(Decimal("0.01"))
        cids = []
        for _ in range(3):
            cid = engine.next_client_order_id()
            engine.submit_order(OrderRequest(client_order_id=cid, instrument=instrument, side=Side.BUY,
                                             quantity=Decimal(10), order_type=OrderType.LIMIT, limit_price=far))
            cids.append(cid)
        pump(engine, lambda: all(engine.orders.get(c).status is OrderStatus.ACCEPTED for c in cids))  # type: ignore[union-attr]
        gateway.ws_drop()
        pump(engine, lambda: engine.broker.connection_state is not ConnectionState.CONNECTED)
        switch.engage("risk desk says stop")
        # the DELETEs went over REST at once, with no stream to confirm them
        venue = {o.ticket.client_order_id: o for o in gateway.core.trading.orders.values()}
        pump(engine, lambda: all(str(venue[c].status) == "Cancelled" for c in cids))
        engine.submit_order(OrderRequest(client_order_id=engine.next_client_order_id(), instrument=instrument,
                                         side=Side.BUY, quantity=Decimal(1)))
        engine.run_pending()
        assert [e.reason for e in denied.events] == ["trading halted: risk desk says stop"]
        # once the stream is back, the engine learns what the gateway did
        pump(engine, lambda: all(engine.orders.get(c).status is OrderStatus.CANCELLED for c in cids))  # type: ignore[union-attr]
        assert gateway.state()["orders"] == 3  # nothing else reached the gateway
    finally:
        engine.stop()
    assert KillSwitch(tmp_path / "HALT").halted  # and the halt outlives the process
