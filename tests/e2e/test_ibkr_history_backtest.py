"""A backtest on history fetched through the IBKR adapter from the simulated gateway."""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path

import pytest

from brokers.ibkr import IbkrBroker
from brokers.ibkr import IbkrConfig
from brokers.paper import MarketHours
from brokers.paper import PaperConfig
from framework.clock import SystemClock
from framework.history import BarData
from simulators.ibkr import SimulatedGateway
from strategies import SmaCross
from strategies import SmaCrossConfig
from tradebus import cli
from tradebus import run_backtest
from tradebus.data import bars_from_source


def test_history_from_the_adapter_feeds_a_deterministic_backtest() -> None:
    clock = SystemClock()
    with SimulatedGateway(port=0, seed=1) as gw:
        broker = IbkrBroker(IbkrConfig(base_url=gw.base_url, ws_url=gw.ws_url, ca_file=gw.ca_file), clock=clock)
        broker.connect(lambda event: None)
        try:
            instrument = broker.resolve_instrument("AAPL")
            end = clock.now()
            series = bars_from_source(broker, instrument, timedelta(minutes=1), end - timedelta(hours=5), end)
        finally:
            broker.disconnect()
    assert len(series) == 300  # five hours of one-minute bars, validated on the way in
    assert all(b - a == 60 for a, b in zip(series.starts, series.starts[1:], strict=False))
    data = BarData([series])

    # the simulated market never closes (its default), so its history has bars at every hour, weekends
    # too: the venue trades around the clock as well, or the test would depend on the day it runs
    venue = PaperConfig(market_hours=MarketHours.ALWAYS)

    def run() -> list[tuple[str, object, object]]:
        strategy = SmaCross(SmaCrossConfig(symbol="AAPL", fast=5, slow=20, bar_seconds=60))
        return [(f.side.value, f.quantity, f.price) for f in run_backtest(strategy, data, venue).fills]

    fills = run()
    assert fills, "the crossover traded on the fetched history"
    assert fills == run()


def test_the_backtest_command_fetches_history_through_a_broker_plugin(tmp_path: Path) -> None:
    with SimulatedGateway(port=0, seed=1) as gw:
        config = tmp_path / "tradebus.toml"
        config.write_text(
            f'[brokers.ibkr]\nbase_url = "{gw.base_url}"\nws_url = "{gw.ws_url}"\nca_file = "{gw.ca_file}"\n',
            encoding="utf-8",
        )
        code = cli.main([
            "backtest", "strategies.sma_cross:SmaCross", "--param", "fast=5", "--param", "slow=20",
            "--param", "bar_seconds=60", "--data-from", "ibkr", "--symbols", "AAPL", "--hours", "5",
            "--config", str(config), "--out", str(tmp_path / "out"), "--no-progress",
            "--venue", '{"market_hours": "always"}',  # the simulated market never closes: nor may the venue
        ])
    assert code == 0
    with (tmp_path / "out" / "fills.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert rows, "the crossover traded on history fetched from the gateway"
    assert {r["symbol"] for r in rows} == {"AAPL"}


def test_the_backtest_command_refuses_both_a_file_and_a_broker(tmp_path: Path) -> None:
    code = cli.main(["backtest", "strategies.sma_cross:SmaCross", "--data", str(tmp_path / "x.csv"),
                     "--data-from", "ibkr", "--out", str(tmp_path / "out")])
    assert code == 2


def test_a_span_beyond_the_history_cap_is_cut_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    clock = SystemClock()
    with SimulatedGateway(port=0, seed=1) as gw:
        broker = IbkrBroker(IbkrConfig(base_url=gw.base_url, ws_url=gw.ws_url, ca_file=gw.ca_file), clock=clock)
        broker.connect(lambda event: None)
        try:
            end = clock.now()
            bars = broker.historical_bars(broker.resolve_instrument("AAPL"), timedelta(minutes=1),
                                          end - timedelta(days=2), end)
        finally:
            broker.disconnect()
    assert len(bars) <= 1000
    assert "IBKR returned its maximum of 1000 bars for AAPL" in caplog.text
