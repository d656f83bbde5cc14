"""The ``paper`` broker plug-in and the ``tradebus backtest`` command."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from brokers.paper.broker import PaperBroker
from brokers.paper.cli import COMMAND
from brokers.paper.plugin import PLUGIN
from framework.errors import ConfigError
from framework.testing import FakeClock
from framework.testing import ScriptedBroker


def test_plugin_builds_a_paper_broker_over_the_given_data() -> None:
    clock = FakeClock()
    broker = PLUGIN.create({"starting_cash": "5000", "latency": 2}, clock=clock, data=ScriptedBroker(clock))
    assert isinstance(broker, PaperBroker)
    assert broker.config.starting_cash == 5000


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"volume_share": 2}, "paper.volume_share"),
        ({"commission": {"kind": "per_share", "rate": -1}}, "paper.commission"),
    ],
)
def test_plugin_names_the_bad_setting(settings: dict[str, object], key: str) -> None:
    clock = FakeClock()
    with pytest.raises(ConfigError) as caught:
        PLUGIN.create(settings, clock=clock, data=ScriptedBroker(clock))
    assert caught.value.key is not None
    assert caught.value.key.startswith(key)


def test_plugin_needs_a_data_source() -> None:
    with pytest.raises(ConfigError, match="market-data source"):
        PLUGIN.create({}, clock=FakeClock())


def test_backtest_command_writes_results_and_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    parser = argparse.ArgumentParser()
    COMMAND.configure(parser)
    args = parser.parse_args(
        ["strategies.sma_cross:SmaCross", "--param", "symbol=SPY", "--out", str(tmp_path), "--no-progress"]
    )
    assert COMMAND.run(args) == 0
    names = {p.name for p in tmp_path.iterdir()}
    assert {"orders.csv", "fills.csv", "trades.csv", "equity.csv", "result.json", "equity.png", "report.html"} <= names
    out = capsys.readouterr().out
    assert "Trades: " in out
    assert "Sharpe: " in out
