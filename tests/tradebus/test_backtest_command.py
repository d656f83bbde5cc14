"""The ``paper`` broker plug-in and the ``tradebus backtest`` command."""

from __future__ import annotations

import argparse
import csv
import os
from datetime import UTC
from datetime import datetime
from pathlib import Path

import pytest

from brokers.paper.broker import PaperBroker
from brokers.paper.plugin import PLUGIN
from framework.errors import ConfigError
from framework.killswitch import halt
from framework.testing import FakeClock
from framework.testing import ScriptedBroker
from tradebus.backtest_command import COMMAND
from tradebus.journal import SqliteJournal
from tradebus.sample_data import sample_data_path


def test_plugin_builds_a_paper_broker_over_the_given_data() -> None:
    clock = FakeClock()
    broker = PLUGIN.create({"starting_cash": "5000", "latency": 2}, clock=clock, data=ScriptedBroker(clock))
    assert isinstance(broker, PaperBroker)
    assert broker.config.starting_cash == 5000


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"volume_share": 2}, "brokers.paper.volume_share"),
        ({"commission": {"kind": "per_share", "rate": -1}}, "brokers.paper.commission"),
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
    parser = argparse.ArgumentParser()
    COMMAND.configure(parser)
    args = parser.parse_args(
        ["strategies.sma_cross:SmaCross", "--param", "symbol=SPY", "--out", str(tmp_path), "--no-progress"]
    )
    assert COMMAND.run(args) == 0
    names = {p.name for p in tmp_path.iterdir()}
    assert {"orders.csv", "fills.csv", "trades.csv", "equity.csv", "result.json", "report.html"} <= names
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "SmaCross: backtest report" in page
    assert "5,850 bars replayed, bars of 1&nbsp;min" in page
    out = capsys.readouterr().out
    assert "Trades: " in out
    assert "Sharpe: " in out


# ----------------------------------------------------------------- risk limits, halt flag and journal


@pytest.fixture
def bars(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The first 500 AAPL bars of the sample as a CSV, with no TRADEBUS_* variables set."""
    for key in [k for k in os.environ if k.startswith("TRADEBUS_")]:
        monkeypatch.delenv(key)
    rows = sample_data_path().read_text(encoding="utf-8").splitlines()
    path = tmp_path / "aapl.csv"
    path.write_text("\n".join([rows[0], *[r for r in rows[1:] if ",AAPL," in r][:500]]) + "\n", encoding="utf-8")
    return path


def backtest(bars: Path, out: Path, *extra: str) -> int:
    parser = argparse.ArgumentParser()
    COMMAND.configure(parser)
    args = parser.parse_args(
        ["strategies.sma_cross:SmaCross", "--data", str(bars), "--out", str(out), "--no-progress", *extra]
    )
    return COMMAND.run(args)


def order_rows(out: Path) -> list[dict[str, str]]:
    with (out / "orders.csv").open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_backtest_denies_orders_above_the_configured_risk_limit(
    bars: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "tradebus.toml"
    config.write_text("[risk]\nmax_order_quantity = 50\n", encoding="utf-8")
    assert backtest(bars, tmp_path / "out", "--config", str(config)) == 0
    rows = order_rows(tmp_path / "out")
    assert rows
    assert {(r["status"], r["reason"]) for r in rows} == {
        ("denied", "quantity 100 exceeds max_order_quantity 50 (global limit)")
    }
    assert (tmp_path / "out" / "fills.csv").read_text(encoding="utf-8") == ""  # no fill, so not even a header
    assert f"{len(rows)} orders ({len(rows)} denied), 0 fills" in capsys.readouterr().out


def test_without_limits_the_same_run_trades(bars: Path, tmp_path: Path) -> None:
    assert backtest(bars, tmp_path / "out") == 0
    statuses = {r["status"] for r in order_rows(tmp_path / "out")}
    assert statuses <= {"filled", "accepted"}
    assert "filled" in statuses


def test_risk_limits_come_from_the_environment_too(bars: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEBUS_RISK__MAX_POSITION", "50")
    assert backtest(bars, tmp_path / "out") == 0
    rows = order_rows(tmp_path / "out")
    assert {r["reason"] for r in rows} == {"position would reach 100, above max_position 50 (global limit)"}


def test_an_invalid_risk_limit_names_the_key_and_the_file(bars: Path, tmp_path: Path) -> None:
    config = tmp_path / "tradebus.toml"
    config.write_text("[risk]\nmax_order_quantity = -1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        backtest(bars, tmp_path / "out", "--config", str(config))
    assert caught.value.key == "risk.max_order_quantity"
    assert caught.value.source == str(config)
    assert not (tmp_path / "out").exists()


def test_a_configured_halt_file_that_exists_denies_every_order(
    bars: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flag = tmp_path / "state" / "HALT"
    halt(flag, "desk closed", datetime(2024, 1, 2, tzinfo=UTC))
    config = tmp_path / "tradebus.toml"
    config.write_text(f'halt_file = "{flag.as_posix()}"\n', encoding="utf-8")
    assert backtest(bars, tmp_path / "out", "--config", str(config)) == 0
    rows = order_rows(tmp_path / "out")
    assert rows
    assert {(r["status"], r["reason"]) for r in rows} == {("denied", "trading halted: desk closed")}
    assert "trading is halted (desk closed" in capsys.readouterr().err


def test_the_default_halt_file_of_live_runs_is_not_applied(
    bars: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    halt(Path("runs/HALT"), "live desk halted", datetime(2024, 1, 2, tzinfo=UTC))
    assert backtest(bars, tmp_path / "out") == 0
    assert "denied" not in {r["status"] for r in order_rows(tmp_path / "out")}


def test_journal_option_records_the_run_and_refuses_a_used_journal(bars: Path, tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    assert backtest(bars, tmp_path / "out", "--journal", str(path)) == 0
    journal = SqliteJournal(path)
    try:
        assert [o.client_order_id for o in journal.orders()] == [
            r["client_order_id"] for r in order_rows(tmp_path / "out")
        ]
        assert journal.fills()
    finally:
        journal.close()
    with pytest.raises(ConfigError, match="already holds orders") as caught:
        backtest(bars, tmp_path / "again", "--journal", str(path))
    assert caught.value.key == "--journal"
