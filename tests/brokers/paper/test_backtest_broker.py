"""The ``backtest`` broker plug-in: listed, the same venue as ``tradebus backtest``, end of data, settings.

"""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from brokers.paper.backtest_broker import BacktestBroker
from brokers.paper.backtest_broker import BacktestBrokerConfig
from framework.broker import ConnectionState
from framework.clock import SimulatedClock
from framework.config import EngineConfig
from framework.engine import Engine
from framework.errors import ConfigError
from framework.events import BarClosed
from framework.events import BrokerDisconnected
from framework.events import OrderDenied
from framework.events import OrderFilled
from framework.history import BarData
from framework.models import OrderRequest
from framework.models import OrderStatus
from framework.models import Side
from framework.testing import EventRecorder
from strategies import SmaCross
from tradebus import cli
from tradebus import run_backtest
from tradebus.backtest_plugin import PLUGIN
from tradebus.data import load_bars
from tradebus.data import write_csv
from tradebus.journal import SqliteJournal
from tradebus.plugins import broker_plugin
from tradebus.sample_data import sample_data_path
from tradebus.sample_data.generate import synthetic_series
from tradebus.settings import load_settings

ROUND_TRIP = f"{Path(__file__).parents[3] / 'tests' / 'e2e' / 'round_trip_strategy.py'}:RoundTrip"
START = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)  # the first bar of the sample and of synthetic_series


def small_data(count: int = 5) -> BarData:
    return BarData([synthetic_series("AAPL", count, seed=3)])


def stepped_engine(broker: BacktestBroker, clock: SimulatedClock) -> Engine:
    return Engine(broker, clock=clock, config=EngineConfig(raise_errors=True, order_id_prefix="BT"))


def test_brokers_command_lists_backtest_next_to_ibkr_and_paper(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["brokers"]) == 0
    listed = capsys.readouterr().out
    for name in ("backtest", "ibkr", "paper"):
        assert f" {name} " in listed
    assert broker_plugin("backtest") is PLUGIN


def test_stepped_backtest_broker_fills_exactly_like_the_backtest_runner() -> None:
    expected = run_backtest(SmaCross(), load_bars(sample_data_path())).fills
    clock = SimulatedClock(START)
    broker = PLUGIN.create({"autoplay": False}, clock=clock)  # the shipped sample, on the engine's clock
    engine = stepped_engine(broker, clock)
    engine.add_strategy(SmaCross())
    recorder = EventRecorder(engine.bus, [OrderFilled])
    engine.start()
    engine.run_pending()
    while broker.step():
        engine.run_pending()
    engine.stop()
    fills = [e.fill for e in recorder.of(OrderFilled)]
    assert len(fills) == 56
    assert fills == expected
    assert broker.bars_replayed == 5850


def test_end_of_data_reports_disconnected_once_and_denies_new_orders() -> None:
    clock = SimulatedClock(START)
    broker = BacktestBroker(small_data(3), BacktestBrokerConfig(autoplay=False), clock=clock)
    engine = stepped_engine(broker, clock)
    recorder = EventRecorder(engine.bus, [BarClosed, BrokerDisconnected, OrderDenied])
    engine.start()
    assert [broker.step() for _ in range(5)] == [True, True, True, False, False]
    engine.run_pending()
    assert recorder.types() == [BarClosed, BarClosed, BarClosed, BrokerDisconnected]
    assert recorder.of(BrokerDisconnected)[0].reason == "end of data: 3 bars replayed"
    assert clock.now() == datetime(2024, 1, 2, 14, 33, tzinfo=UTC)  # the last bar's end
    assert broker.finished
    assert broker.connection_state is ConnectionState.DISCONNECTED
    request = OrderRequest(
        client_order_id="BT.late", instrument=broker.resolve_instrument("AAPL"), side=Side.BUY, quantity=Decimal(1)
    )
    engine.submit_order(request)
    engine.run_pending()
    [denied] = recorder.of(OrderDenied)
    assert denied.reason == ("broker backtest is disconnected; new exposure is not held while the broker cannot "
                             "take orders (degraded-order policy)")
    engine.stop()


def test_settings_errors_name_the_key() -> None:
    clock = SimulatedClock(START)
    with pytest.raises(ConfigError, match=r"^brokers\.backtest\.bar_interval: "):
        PLUGIN.create({"bar_interval": -1}, clock=clock)
    with pytest.raises(ConfigError, match=r"^brokers\.backtest\.speed: "):
        PLUGIN.create({"speed": 2}, clock=clock)
    with pytest.raises(ConfigError, match=r"^brokers\.backtest\.data: cannot read bar file"):
        PLUGIN.create({"data": "/nonexistent/bars.csv"}, clock=clock)
    with pytest.raises(ConfigError, match=r"^brokers\.backtest\.data: clock is at "):
        PLUGIN.create({}, clock=SimulatedClock(datetime(2025, 1, 1, tzinfo=UTC)))


def test_settings_error_names_the_file_it_came_from(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[brokers.backtest]\nbar_seconds = 0\n", encoding="utf-8")
    section = load_settings(path).broker_settings("backtest")
    with pytest.raises(ConfigError, match=r"^brokers\.backtest\.bar_seconds: .*\(.*bad\.toml\)$"):
        PLUGIN.create(section, clock=SimulatedClock(START))


def test_live_command_trades_a_round_trip_on_the_backtest_broker(tmp_path: Path) -> None:
    bars = tmp_path / "bars.csv"
    write_csv(BarData([synthetic_series("AAPL", 200, seed=5)]), bars)
    settings = tmp_path / "tradebus.toml"
    settings.write_text(
        f"""
journal = "{tmp_path / "journal.sqlite"}"
halt_file = "{tmp_path / "HALT"}"
output = "{tmp_path / "out"}"

[brokers.backtest]
data = "{bars}"
bar_interval = 0.005
""",
        encoding="utf-8",
    )
    args = ["live", ROUND_TRIP, "--broker", "backtest", "--config", str(settings), "--duration", "30", "--quiet"]
    assert cli.main(args) == 0  # RoundTrip asks to stop once its sell has filled
    journal = SqliteJournal(tmp_path / "journal.sqlite")
    try:
        assert [o.status for o in journal.orders()] == [OrderStatus.FILLED, OrderStatus.FILLED]
        fills = journal.fills()
    finally:
        journal.close()
    assert [f.side for f in fills] == [Side.BUY, Side.SELL]
    assert all(f.ts.year == 2024 for f in fills)  # venue time is the data's, not the wall clock's
    assert (tmp_path / "out" / "fills.csv").exists()
