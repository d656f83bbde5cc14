"""What a broker may ask of the engine beyond order events: ``DataGap`` reaches the strategies of
that instrument only, and ``HaltRequested`` halts trading at once and engages the kill switch."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from framework.commands import CancelAllOrders
from framework.engine import Engine
from framework.events import DataGap
from framework.events import HaltRequested
from framework.events import OrderDenied
from framework.killswitch import KillSwitch
from framework.killswitch import halt_reason
from framework.models import Instrument
from framework.models import OrderRequest
from framework.strategy import Strategy
from framework.testing import EventRecorder
from framework.testing import FakeClock
from framework.testing import ScriptedBroker


class Watcher(Strategy):
    def __init__(self, strategy_id: str, symbol: str) -> None:
        super().__init__(strategy_id=strategy_id)
        self.symbol = symbol
        self.gaps: list[DataGap] = []

    def on_start(self) -> None:
        self.subscribe_quotes(self.symbol)

    def on_data_gap(self, event: DataGap) -> None:
        self.gaps.append(event)


def order(cid: str) -> OrderRequest:
    return OrderRequest(client_order_id=cid, instrument=Instrument(symbol="AAPL"), side="buy", quantity=1,
                        order_type="limit", limit_price=90)


def test_a_data_gap_reaches_only_the_strategies_of_its_instrument() -> None:
    clock = FakeClock()
    broker = ScriptedBroker(clock)
    engine = Engine(broker, clock=clock)
    apple, micro = Watcher("a", "AAPL"), Watcher("m", "MSFT")
    engine.add_strategy(apple)
    engine.add_strategy(micro)
    engine.start()
    start = clock.now()
    end = clock.advance(timedelta(seconds=30))
    broker.emit(DataGap(ts=end, symbol="AAPL", start=start, end=end))
    engine.run_pending()
    assert [(g.symbol, g.start, g.end) for g in apple.gaps] == [("AAPL", start, end)]
    assert micro.gaps == []


def test_a_halt_request_halts_at_once_and_engages_the_kill_switch(tmp_path: Path) -> None:
    clock = FakeClock()
    broker = ScriptedBroker(clock)
    engine = Engine(broker, clock=clock)
    switch = KillSwitch(tmp_path / "HALT")
    engine.add_kill_switch(switch)
    denied = EventRecorder(engine.bus, [OrderDenied, HaltRequested])
    engine.start()
    broker.emit(HaltRequested(ts=clock.now(), source="scripted", reason="another account"))
    engine.run_pending()
    assert engine.gateway.halt_reason == "scripted: another account"
    assert halt_reason(tmp_path / "HALT") == "scripted: another account"  # it outlives the process
    assert any(isinstance(c, CancelAllOrders) for c in broker.commands)
    engine.submit_order(order("x"))
    engine.run_pending()
    assert [type(e) for e in denied.events] == [HaltRequested, OrderDenied]
    assert denied.events[1].reason == "trading halted: scripted: another account"
    assert broker.submitted == []


def test_without_a_kill_switch_a_halt_request_still_halts_the_run() -> None:
    clock = FakeClock()
    broker = ScriptedBroker(clock)
    engine = Engine(broker, clock=clock)
    engine.start()
    broker.emit(HaltRequested(ts=clock.now(), source="scripted", reason="another account"))
    engine.run_pending()
    engine.submit_order(order("x"))
    engine.run_pending()
    assert engine.orders.get("x").reason == "trading halted: scripted: another account"  # type: ignore[union-attr]
    assert broker.submitted == []
