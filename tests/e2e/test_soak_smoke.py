"""R24 (soak) in small: the soak runner for half a minute, and its checker catching a broken journal.

R24: an accelerated soak with random faults from R1-R15 ends with 0 invariant violations, memory
growth < 50 MB, bounded queues never dropping an order or fill event, and no thread leak (count
stable +-2). The full soak is run by hand (``benchmarks/soak.py --minutes 60 --speed 8``); this test
runs the same command in a process of its own (so its memory, threads and descriptors are the soak's,
not the test session's) for 30 wall seconds at speed 8 (four simulated minutes) with a few faults
from the quick kinds: a websocket abort (R1), malformed frames (R3), an ambiguous placement (R6), a
session expiry (R8) and a gateway process SIGKILL and restart (R7). It measures:

* every invariant the runner judges (journal equals the gateway's ledger, every execution journaled
  exactly once, fills and positions equal, nothing open or stuck, every fault recovered, every
  adapter event dispatched, no refused execution, memory, threads and descriptors after the
  warm-up), asserted to hold; the seed is in the failure message;
* that the checker cannot pass silently: on the finished run's journal and the gateway's final
  ledger (both kept in the work folder), a deleted fill row is reported as a lost fill, a deleted
  order as a gateway order missing from the journal, a fill event journaled twice as a duplicate,
  and the running check reports an execution or a finished order the journal lacks.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tradebus.soak.books import RunningCheck
from tradebus.soak.books import check_books

SEED = 3
SOAK = Path(__file__).resolve().parents[2] / "benchmarks" / "soak.py"
TIMEOUT = 300.0  # seconds; a bound for a hung soak (it ends in about 40 s)
FAULTS = ("ws_abort", "ws_malformed", "ambiguous_drop", "session_expire", "restart_process")


@dataclass(frozen=True)
class Soak:
    """What the soak command left: its summary, the gateway's final ledger and the journal."""

    summary: dict[str, Any]
    ledger: dict[str, Any]
    journal: Path
    exit_code: int


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Soak:
    folder = tmp_path_factory.mktemp("soak")
    command = [sys.executable, str(SOAK), "--minutes", "0.5", "--speed", "8", "--seed", str(SEED),
               "--fault-gap", "24", "--faults", ",".join(FAULTS), "--warmup", "8",
               "--workdir", str(folder / "work"), "--out", str(folder / "summary.json")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert done.returncode in (0, 1), f"seed {SEED}: the soak did not run: {done.stderr[-3000:]}"
    return Soak(json.loads((folder / "summary.json").read_text(encoding="utf-8")),
                json.loads((folder / "work" / "ledger.json").read_text(encoding="utf-8")),
                folder / "work" / "journal.sqlite", done.returncode)


def test_r24_soak_smoke_every_invariant_holds(report: Soak) -> None:
    summary = report.summary
    failed = [v for v in summary["invariants"] if not v["ok"]]
    assert not failed, f"seed {SEED}: {json.dumps(failed, indent=1)}"
    assert summary["passed"]
    assert report.exit_code == 0
    assert summary["faults"]["total"] >= 3, summary["faults"]
    assert summary["fills"]["count"] > 0
    assert summary["orders"]["at_gateway"] > 0
    assert {v["name"] for v in summary["invariants"]} >= {
        "journal_equals_ledger", "every_execution_once", "positions_match", "no_dropped_events", "rss_growth",
        "threads_stable", "fds_stable", "no_stuck_orders", "recoveries"}
    assert summary["duration"]["simulated_s"] == pytest.approx(summary["duration"]["wall_s"] * 8.0, abs=1.0)


def _execute(journal: Path, sql: str, *params: str) -> None:
    db = sqlite3.connect(journal)
    try:
        db.execute(sql, params)
        db.commit()
    finally:
        db.close()


def test_r24_soak_checker_reports_a_deleted_fill(report: Soak, tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite"
    journal.write_bytes(report.journal.read_bytes())
    assert check_books(journal, report.ledger).ok
    lost = report.ledger["executions"][0]["execution_id"]
    _execute(journal, "DELETE FROM fills WHERE execution_id = ?", lost)
    broken = check_books(journal, report.ledger)
    assert not broken.ok
    assert any(p.startswith(f"lost fill: execution {lost}") for p in broken.problems["every_execution_once"])
    assert broken.problems["positions_match"]  # the lost shares are missing from the journal's position too


def test_r24_soak_checker_reports_a_deleted_order_and_a_fill_journaled_twice(report: Soak,
                                                                              tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite"
    journal.write_bytes(report.journal.read_bytes())
    # an order the gateway never filled if the run had one (a loaded machine may fill them all), else any order
    orders = report.ledger["orders"]
    unfilled = next((o for o in orders if Decimal(o["filled"]) == 0), orders[0])
    _execute(journal, "DELETE FROM order_events WHERE client_order_id = ?", unfilled["coid"])
    _execute(journal, "DELETE FROM orders WHERE client_order_id = ?", unfilled["coid"])
    twice = report.ledger["executions"][-1]["execution_id"]
    _execute(journal, "INSERT INTO order_events (client_order_id, event, ts, payload) SELECT client_order_id, event, "
                      "ts, payload FROM order_events WHERE event IN ('OrderFilled', 'OrderPartiallyFilled') AND "
                      "json_extract(payload, '$.fill.execution_id') = ?", twice)
    broken = check_books(journal, report.ledger)
    assert f"gateway order {unfilled['order_id']} ({unfilled['coid']}) is not in the journal" in \
        broken.problems["journal_equals_ledger"]
    assert f"execution {twice} journaled as 2 fill events" in broken.problems["every_execution_once"]


def test_r24_running_check_reports_what_stays_wrong_at_two_looks(report: Soak, tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite"
    journal.write_bytes(report.journal.read_bytes())
    filled = next(o for o in report.ledger["orders"] if o["status"] == "Filled")
    _execute(journal, "UPDATE orders SET status = 'accepted' WHERE client_order_id = ?", filled["coid"])
    ghost = {**report.ledger["executions"][0], "execution_id": "ghost.1", "order_ref": filled["coid"]}
    ledger = {**report.ledger, "executions": [*report.ledger["executions"], ghost]}
    later = datetime.fromisoformat(report.ledger["executions"][-1]["time"]) + timedelta(minutes=5)

    def gateway(since: int, coids: list[str]) -> dict[str, Any]:  # what the control action answers
        return {"executions": ledger["executions"][since:], "execution_count": len(ledger["executions"]),
                "orders": [o for o in ledger["orders"] if o["coid"] in coids]}

    check = RunningCheck(lag=timedelta(seconds=5))
    check.look(journal, gateway, later)
    assert check.problems == []  # once may be a moment's lag
    check.look(journal, gateway, later)
    assert any(p.startswith(f"execution ghost.1 of {filled['coid']} still not journaled") for p in check.problems)
    assert f"{filled['coid']} is Filled at the gateway but still accepted in the journal" in check.problems
    check.look(journal, gateway, later)
    assert len(check.problems) == 2  # each reported once
