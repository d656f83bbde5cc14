"""One strategy, every mode, through the real ``tradebus`` entry points.

The same strategy file runs as a backtest on the shipped sample data, paper-trades on the simulated
gateway's live feed (fills simulated locally: the gateway sees no order), and trades live on the
simulated gateway through the IBKR adapter (the gateway's own ledger shows the orders and fills).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from pathlib import Path

import pytest

from framework.models import Instrument
from framework.models import OrderRequest
from framework.models import OrderStatus
from framework.orders import new_order
from simulators.ibkr import SimulatedGateway
from simulators.ibkr import SimulatorConfig
from tradebus import cli
from tradebus.journal import SqliteJournal

STRATEGY = f"{Path(__file__).with_name('round_trip_strategy.py')}:RoundTrip"


@pytest.fixture(scope="module")
def gateway() -> Iterator[SimulatedGateway]:
    with SimulatedGateway(port=0, seed=11, config=SimulatorConfig(tick_interval=0.05)) as gw:
        yield gw


def settings_file(tmp_path: Path, gw: SimulatedGateway) -> Path:
    path = tmp_path / "tradebus.toml"
    path.write_text(
        f"""
journal = "{tmp_path / "journal.sqlite"}"
halt_file = "{tmp_path / "HALT"}"
output = "{tmp_path / "out"}"

[brokers.ibkr]
base_url = "{gw.base_url}"
ws_url = "{gw.ws_url}"
ca_file = "{gw.ca_file}"
auto_confirm_message_ids = ["o403"]

[brokers.paper]
market_hours = "always"  # the simulated market never closes: paper fills at any hour too

[risk]
max_order_quantity = 100
""",
        encoding="utf-8",
    )
    return path


def journaled(tmp_path: Path) -> tuple[list[OrderStatus], int]:
    journal = SqliteJournal(tmp_path / "journal.sqlite")
    try:
        return [o.status for o in journal.orders()], len(journal.fills())
    finally:
        journal.close()


def test_backtest_mode_on_the_sample_data(tmp_path: Path) -> None:
    out = tmp_path / "bt"
    assert cli.main(["backtest", STRATEGY, "--out", str(out), "--no-progress"]) == 0
    with (out / "fills.csv").open(encoding="utf-8") as handle:
        fills = list(csv.DictReader(handle))
    assert [f["side"] for f in fills] == ["buy", "sell"]
    assert (out / "report.html").exists()


def test_live_mode_on_the_simulated_gateway(tmp_path: Path, gateway: SimulatedGateway) -> None:
    before = gateway.state()
    args = ["live", STRATEGY, "--broker", "ibkr", "--config", str(settings_file(tmp_path, gateway))]
    assert cli.main([*args, "--param", "bar_seconds=1", "--duration", "90", "--quiet"]) == 0
    assert journaled(tmp_path) == ([OrderStatus.FILLED, OrderStatus.FILLED], 2)
    after = gateway.state()
    assert after["orders"] - before["orders"] == 2  # the orders really went to the gateway
    assert after["executions"] - before["executions"] == 2
    assert (tmp_path / "out" / "fills.csv").exists()


def test_paper_mode_on_the_simulated_feed(tmp_path: Path, gateway: SimulatedGateway) -> None:
    before = gateway.state()
    args = ["paper", STRATEGY, "--data-from", "ibkr", "--config", str(settings_file(tmp_path, gateway))]
    assert cli.main([*args, "--param", "bar_seconds=1", "--duration", "90", "--quiet"]) == 0
    assert journaled(tmp_path) == ([OrderStatus.FILLED, OrderStatus.FILLED], 2)
    assert gateway.state()["orders"] == before["orders"]  # paper fills never reach the broker


def test_bad_settings_key_is_reported_with_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # where the default journal (runs/ibkr/journal.sqlite) would be made
    path = tmp_path / "bad.toml"
    path.write_text("[risk]\nmax_order_qty = 5\n", encoding="utf-8")
    code = cli.main(["live", STRATEGY, "--broker", "ibkr", "--config", str(path), "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert "risk.max_order_qty" in err
    assert str(path) in err
    assert not (tmp_path / "runs").exists()  # the bad key stopped the run before any journal was created


def test_brokers_command_lists_the_built_in_plugins(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["brokers"]) == 0
    listed = capsys.readouterr().out
    for name in ("ibkr", "paper"):
        assert f" {name} " in listed


def test_demo_trades_a_round_trip_and_writes_its_outputs(tmp_path: Path) -> None:
    # SMA(1) against SMA(2) crosses every few one-second bars of the seeded market; the run ends
    # as soon as the buy and the sell have filled (about 5 s), well before the 60 s cap.
    out = tmp_path / "demo"
    out.mkdir()
    leftover = SqliteJournal(out / "journal.sqlite")  # a previous demo's unfinished order, on a gone gateway
    request = OrderRequest(client_order_id="old.1", instrument=Instrument(symbol="AAPL"), side="buy", quantity=1)
    leftover.record_intent(new_order(request, datetime.now(UTC)), "old")
    leftover.close()
    args = ["demo", "--fast", "1", "--slow", "2", "--until-fills", "2", "--duration", "60"]
    assert cli.main([*args, "--out", str(out), "--quiet"]) == 0
    statuses, fills = journaled(out)
    assert statuses[:2] == [OrderStatus.FILLED, OrderStatus.FILLED]  # a fresh journal: no "old.1"
    assert fills >= 2
    with (out / "fills.csv").open(encoding="utf-8") as handle:
        exported = list(csv.DictReader(handle))
    assert [f["side"] for f in exported[:2]] == ["buy", "sell"]
    assert all(f["symbol"] == "AAPL" and f["quantity"] == "100" for f in exported)
    assert (out / "result.json").exists()
    assert (out / "report.html").exists()
