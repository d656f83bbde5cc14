"""One set of run defaults (tradebus.defaults), used by the CLI backtest, paper runs and the example."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from brokers.paper.costs import NoCommission
from brokers.paper.costs import PerShareCommission
from brokers.paper.fill_model import FillModel
from framework.testing import FakeClock
from framework.testing import ScriptedBroker
from strategies import SmaCross
from tradebus import cli
from tradebus.backtest import run_backtest
from tradebus.commands import describe_strategy
from tradebus.data import load_bars
from tradebus.defaults import describe_venue
from tradebus.defaults import fill_defaults
from tradebus.defaults import venue_config
from tradebus.loading import create_strategy
from tradebus.plugins import broker_plugin
from tradebus.runs import latest_run
from tradebus.sample_data import sample_data_path
from tradebus.settings import SettingsSection


def test_the_defaults_are_what_a_trader_expects() -> None:
    venue = venue_config()
    assert venue.starting_cash == Decimal(100_000)
    assert venue.commission == PerShareCommission(rate=Decimal("0.005"), minimum=Decimal("1.00"),
                                                  maximum_percent=Decimal(1))
    assert venue.fill_model is FillModel.BAR
    assert describe_venue(venue) == (
        "cash 100,000.00 USD; costs: commission 0.005 USD/share, min 1.00, max 1% of value, no slippage; "
        "market orders fill at the next bar's open"
    )


def test_overrides_win_field_by_field() -> None:
    venue = venue_config({"starting_cash": "5000", "commission": {"kind": "none"}})
    assert venue.starting_cash == 5000
    assert isinstance(venue.commission, NoCommission)
    assert venue_config({"latency": 1}).starting_cash == Decimal(100_000)  # untouched fields keep the defaults
    assert describe_venue(venue).startswith("cash 5,000.00 USD; costs: no commission, no slippage")


def test_a_paper_settings_section_gets_the_defaults_under_its_own_keys() -> None:
    section = SettingsSection({"starting_cash": "25000"}, name="brokers.paper")
    fill_defaults(section)
    clock = FakeClock()
    broker = broker_plugin("paper").create(section, clock=clock, data=ScriptedBroker(clock))
    assert broker.config.starting_cash == 25_000  # the file's value wins
    assert broker.config.commission == PerShareCommission()  # the default fills the gap


def test_the_cli_backtest_runs_on_the_defaults_prints_them_and_writes_a_new_run_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["backtest", "strategies.sma_cross:SmaCross", "--no-progress"]) == 0
    out = capsys.readouterr().out
    folder = latest_run("backtest", root=Path("runs"))
    assert folder is not None
    assert folder.parent == Path("runs/backtest")
    first, second = out.splitlines()[:2]
    assert first == "tradebus backtest: SmaCross on bars_1m.csv: AAPL, MSFT, SPY; 1m bars"
    assert second == f"  {describe_venue(venue_config())}; output {folder}/"
    summary = json.loads((folder / "result.json").read_text(encoding="utf-8"))["summary"]
    # the same run in code, on the same defaults (examples/backtest_sample.py does this too)
    expected = run_backtest(SmaCross(), load_bars(sample_data_path()), venue_config())
    assert Decimal(summary["starting_cash"]) == Decimal(100_000)
    assert Decimal(summary["final_equity"]) == expected.final_equity
    assert Decimal(summary["commissions"]) == sum(f.commission for f in expected.fills) > 0  # costs are charged


def test_the_start_line_shows_the_strategy_parameters_with_secrets_masked() -> None:
    strategy = create_strategy("tests.reliability.canary_strategy:CanaryTrader",
                               {"notify_password": "hunter2-canary"})
    line = describe_strategy(strategy)
    assert line.startswith("CanaryTrader(")
    assert "notify_password=***" in line
    assert "hunter2-canary" not in line
    assert describe_strategy(SmaCross()) == "SmaCross(symbol=AAPL, fast=10, slow=30, quantity=100, bar_seconds=None)"
