"""Several runs on one journal, through the real ``tradebus`` entry points on the simulated gateway.

A second paper run keeps its fills (the paper venue's ids carry the run), a restart leaves filled
orders filled, a live run never adopts what a paper run left open, by default paper and live runs
keep separate journals, and a live run after the gateway process restarted keeps its fills (the
gateway never issues an execution id twice).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from framework.journal import Venue
from framework.models import OrderStatus
from simulators.ibkr import GatewayProcess
from simulators.ibkr import SimulatedGateway
from simulators.ibkr import SimulatorConfig
from tradebus import cli
from tradebus.journal import SqliteJournal

HERE = Path(__file__).parent
ROUND_TRIP = f"{HERE / 'round_trip_strategy.py'}:RoundTrip"
RESTING = f"{HERE / 'journal_strategies.py'}:RestingBuy"
IDLE = f"{HERE / 'journal_strategies.py'}:Idle"
FAST = ["--param", "bar_seconds=1", "--duration", "90", "--quiet"]


@pytest.fixture(scope="module")
def gateway() -> Iterator[SimulatedGateway]:
    # runs follow each other within a second: the gateway's pacing of /tickle would refuse the next connect
    with SimulatedGateway(port=0, seed=13, config=SimulatorConfig(tick_interval=0.05, pacing_enabled=False)) as gw:
        yield gw


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No TRADEBUS_* variables, and the root logger as it was (``main`` reconfigures logging)."""
    for key in [k for k in os.environ if k.startswith("TRADEBUS_")]:
        monkeypatch.delenv(key)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def settings_file(tmp_path: Path, gw: SimulatedGateway | GatewayProcess, *, journal: Path | None) -> Path:
    path = tmp_path / "tradebus.toml"
    line = f'journal = "{journal}"\n' if journal is not None else ""
    path.write_text(
        f"""{line}halt_file = "{tmp_path / "HALT"}"
output = "{tmp_path / "out"}"

[brokers.ibkr]
base_url = "{gw.base_url}"
ws_url = "{gw.ws_url}"
ca_file = "{gw.ca_file}"
auto_confirm_message_ids = ["o403"]

[brokers.paper]
market_hours = "always"  # the simulated market never closes: paper fills at any hour too
""",
        encoding="utf-8",
    )
    return path


def journaled(path: Path) -> tuple[list[tuple[str, OrderStatus, str | None]], int]:
    journal = SqliteJournal(path)
    try:
        return [(o.client_order_id, o.status, o.reason) for o in journal.orders()], len(journal.fills())
    finally:
        journal.close()


def paper(config: Path, strategy: str, *extra: str) -> int:
    return cli.main(["paper", strategy, "--data-from", "ibkr", "--config", str(config), *extra])


def live(config: Path, strategy: str, *extra: str) -> int:
    return cli.main(["live", strategy, "--broker", "ibkr", "--config", str(config), *extra])


def test_a_second_paper_run_on_the_same_journal_keeps_its_fills(tmp_path: Path, gateway: SimulatedGateway) -> None:
    journal = tmp_path / "journal.sqlite"
    config = settings_file(tmp_path, gateway, journal=journal)
    assert paper(config, ROUND_TRIP, *FAST) == 0
    assert paper(config, ROUND_TRIP, *FAST) == 0
    orders, fills = journaled(journal)
    assert [status for _, status, _ in orders] == [OrderStatus.FILLED] * 4
    assert fills == 4
    assert paper(config, IDLE, "--quiet") == 0  # a restart recovers the journal: nothing is left to cancel
    assert journaled(journal) == (orders, 4)
    store = SqliteJournal(journal)
    try:
        ids = [f.execution_id for f in store.fills()]
        assert len(set(ids)) == 4
        runs = store.run_ids()
        assert len(runs) == 2
        assert all(store.venue(run) == Venue("paper", "PAPER").journaled() for run in runs)
    finally:
        store.close()


def test_a_live_run_leaves_a_paper_runs_open_orders_alone(tmp_path: Path, gateway: SimulatedGateway,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    journal = tmp_path / "journal.sqlite"  # both modes pointed at one file on purpose
    config = settings_file(tmp_path, gateway, journal=journal)
    assert paper(config, RESTING, "--duration", "90", "--quiet") == 0
    [(resting, status, _)], _ = journaled(journal)
    assert status is OrderStatus.ACCEPTED  # still working at the paper venue
    capsys.readouterr()
    assert live(config, ROUND_TRIP, *FAST) == 0
    out, err = capsys.readouterr()  # the command line logs warnings to stderr
    orders, fills = journaled(journal)
    assert orders[0] == (resting, OrderStatus.ACCEPTED, None)  # not adopted, not cancelled, not "lost"
    assert [status for _, status, _ in orders[1:]] == [OrderStatus.FILLED] * 2
    assert fills == 2
    assert "orders: 2 (2 filled)" in out  # the summary counts this run's orders only
    assert "earlier runs:" not in out  # and the live run recovered none: the paper order is not its own
    assert f"1 unfinished order of another venue left alone ({resting}: {Venue('paper', 'PAPER').journaled()})" in err


def test_by_default_paper_and_live_runs_keep_separate_journals(tmp_path: Path, gateway: SimulatedGateway,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = settings_file(tmp_path, gateway, journal=None)
    assert paper(config, RESTING, "--duration", "90", "--quiet") == 0
    assert live(config, ROUND_TRIP, *FAST) == 0
    paper_orders, _ = journaled(tmp_path / "runs" / "paper" / "journal.sqlite")
    live_orders, live_fills = journaled(tmp_path / "runs" / "ibkr" / "journal.sqlite")
    assert [status for _, status, _ in paper_orders] == [OrderStatus.ACCEPTED]
    assert [status for _, status, _ in live_orders] == [OrderStatus.FILLED] * 2
    assert live_fills == 2
    assert not (tmp_path / "runs" / "journal.sqlite").exists()


def test_live_runs_before_and_after_a_gateway_restart_keep_every_fill(tmp_path: Path) -> None:
    # the gateway process dies and starts again with empty books on the same seed; its new executions
    # must not collide with the ones the first run journaled (IBKR's ids are globally unique)
    journal = tmp_path / "journal.sqlite"
    with GatewayProcess(port=0, args=["--no-pacing", "--seed", "5", "--tick-interval", "0.05"]) as proc:
        config = settings_file(tmp_path, proc, journal=journal)
        assert live(config, ROUND_TRIP, *FAST) == 0
        proc.restart()
        assert live(config, ROUND_TRIP, *FAST) == 0
    orders, fills = journaled(journal)
    assert [status for _, status, _ in orders] == [OrderStatus.FILLED] * 4
    assert fills == 4
