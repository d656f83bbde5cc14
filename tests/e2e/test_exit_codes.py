"""Exit codes of real ``tradebus`` processes: a strategy that raises, and Ctrl-C.

Each test starts the CLI as a child process. For Ctrl-C it reads the child's output until the child
says it is running (or trading, or waiting at a bar), sends SIGINT, and then checks what the child
said, its exit code, its exports and its journal. Every wait is bounded by :data:`DEADLINE`; none
sleeps.
"""

from __future__ import annotations

import csv
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulators.ibkr import SimulatedGateway
from simulators.ibkr import SimulatorConfig
from tradebus.journal import SqliteJournal

HERE = Path(__file__).parent
STRATEGIES = HERE / "failing_strategy.py"
DEADLINE = 120.0  # seconds; a bound for a stuck child, never reached by a healthy one
LAUNCH = "import sys; from tradebus.cli import main; sys.exit(main())"


def _default_sigint() -> None:
    # A shell starts background jobs (`pytest ... &`) with SIGINT ignored, and children inherit that:
    # then Python installs no KeyboardInterrupt handler and Ctrl-C does nothing. A user's terminal
    # delivers SIGINT with its default disposition, so give the child that, however pytest was started.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Child:
    """A ``tradebus`` child process whose standard output is read line by line as it comes."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        self.stderr_path = cwd / "stderr.txt"
        self._stderr = self.stderr_path.open("w", encoding="utf-8")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-c", LAUNCH, *args], cwd=cwd, env=env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
            preexec_fn=_default_sigint,  # noqa: PLW1509 - no lock is taken between fork and exec here
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        with stdout:
            for line in stdout:
                self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, marker: str) -> None:
        """Read output until a line contains ``marker``; fail if the child ends or the deadline passes."""
        deadline = time.monotonic() + DEADLINE
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"{marker!r} not seen; output so far: {self.lines}"
            line = self._queue.get(timeout=remaining)
            if line is None:
                pytest.fail(f"the child ended before {marker!r}: {self.lines}\n{self.stderr()}")
            self.lines.append(line)
            if marker in line:
                return

    def finish(self) -> int:
        """Close the child's input, wait for it to end, collect the rest of its output; its exit code."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        code = self.process.wait(timeout=DEADLINE)
        self._reader.join(timeout=DEADLINE)
        while (line := self._queue.get_nowait()) is not None:
            self.lines.append(line)
        self._stderr.close()
        return code

    def output(self) -> str:
        """Everything the child printed on standard output."""
        return "\n".join(self.lines)

    def stderr(self) -> str:
        """Everything the child printed on standard error."""
        return self.stderr_path.read_text(encoding="utf-8")

    def kill(self) -> None:
        """End the child if a test failed half-way."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._reader.join(timeout=DEADLINE)
        if self.process.stdin is not None:
            self.process.stdin.close()
        self._stderr.close()


@pytest.fixture
def children() -> Iterator[list[Child]]:
    started: list[Child] = []
    yield started
    for child in started:
        child.kill()


def start(children: list[Child], args: list[str], cwd: Path) -> Child:
    child = Child(args, cwd)
    children.append(child)
    return child


@pytest.fixture(scope="module")
def gateway() -> Iterator[SimulatedGateway]:
    with SimulatedGateway(port=0, seed=13, config=SimulatorConfig(tick_interval=0.05)) as gw:
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
auto_confirm_message_ids = ["o403", "o163", "o354", "o10331"]

[brokers.paper]
market_hours = "always"  # the simulated market never closes: paper fills at any hour too
""",
        encoding="utf-8",
    )
    return path


def run_record(directory: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((directory / "result.json").read_text(encoding="utf-8"))
    return doc


def exported_statuses(directory: Path) -> dict[str, str]:
    with (directory / "orders.csv").open(encoding="utf-8") as handle:
        return {row["client_order_id"]: row["status"] for row in csv.DictReader(handle)}


def journaled_statuses(path: Path) -> dict[str, str]:
    journal = SqliteJournal(path)
    try:
        return {o.client_order_id: o.status.value for o in journal.orders()}
    finally:
        journal.close()


def error_records(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if " ERROR " in line]


# ----------------------------------------------------------------- a strategy that raises


def test_backtest_of_a_failing_strategy_exits_1_with_partial_exports(tmp_path: Path, children: list[Child]) -> None:
    out = tmp_path / "bt"
    child = start(children, ["backtest", f"{STRATEGIES}:FailsOnBar", "--param", "at_bar=12", "--out", str(out),
                             "--no-progress"], tmp_path)
    assert child.finish() == 1, child.stderr()
    stderr = child.stderr()
    [record] = error_records(stderr)
    assert "strategy FailsOnBar failed: on_bar on BarClosed AAPL 60s bar ending" in record
    assert "ValueError: bad bar 12" in record
    assert stderr.count("Traceback (most recent call last)") == 1
    output = child.output()
    assert "strategy FailsOnBar FAILED: on_bar on BarClosed AAPL" in output
    assert "1 working order cancelled, positions kept; the run was stopped" in output
    assert "PARTIAL: 36 of 5,850 bars replayed" in output  # 12 bar times of AAPL, MSFT and SPY
    run = run_record(out)["run"]
    assert (run["status"], run["partial"], run["bars_replayed"], run["bars_total"]) == ("failed", True, 36, 5850)
    assert exported_statuses(out) == {"BT.1": "filled", "BT.2": "cancelled"}


def test_paper_run_of_a_failing_strategy_exits_1_and_its_summary_says_why(
    tmp_path: Path, children: list[Child], gateway: SimulatedGateway
) -> None:
    settings = settings_file(tmp_path, gateway)
    args = ["paper", f"{STRATEGIES}:FailsOnBar", "--data-from", "ibkr", "--config", str(settings),
            "--param", "bar_seconds=1", "--duration", "90", "--quiet"]
    child = start(children, args, tmp_path)
    assert child.finish() == 1, child.stderr()
    [record] = error_records(child.stderr())
    assert "strategy FailsOnBar failed: on_bar" in record
    output = child.output()
    assert "strategy FailsOnBar FAILED: on_bar on BarClosed AAPL 1s bar ending" in output
    assert "ValueError: bad bar 3 (strategy stopped, 1 working order cancelled, positions kept)" in output
    exported = exported_statuses(tmp_path / "out")
    assert sorted(exported.values()) == ["cancelled", "filled"]
    assert journaled_statuses(tmp_path / "journal.sqlite") == exported  # the cancel is journaled
    assert run_record(tmp_path / "out")["run"]["status"] == "failed"


# ----------------------------------------------------------------- Ctrl-C


@pytest.mark.parametrize("mode", ["paper", "live"])
def test_ctrl_c_stops_a_session_cleanly_and_exits_130(
    mode: str, tmp_path: Path, children: list[Child], gateway: SimulatedGateway
) -> None:
    source = ["--data-from", "ibkr"] if mode == "paper" else ["--broker", "ibkr"]
    args = [mode, f"{STRATEGIES}:TradesThenWaits", *source, "--config", str(settings_file(tmp_path, gateway)),
            "--param", "bar_seconds=1", "--param", "quantity=1", "--quiet"]
    child = start(children, args, tmp_path)
    child.wait_for(f"tradebus {mode}: running TradesThenWaits")
    child.wait_for("traded")
    child.process.send_signal(signal.SIGINT)
    assert child.finish() == 130, child.stderr()
    output = child.output()
    assert output.count("run interrupted (Ctrl-C)") == 1
    assert "1 still working at the broker" in output  # nothing was cancelled that the user did not ask for
    assert "Traceback" not in child.stderr()
    out = tmp_path / "out"
    run = run_record(out)["run"]
    assert (run["status"], run["partial"], run["stop_reason"]) == ("interrupted", True, "interrupted (Ctrl-C)")
    exported = exported_statuses(out)
    assert sorted(exported.values()) == ["accepted", "filled"]
    assert journaled_statuses(tmp_path / "journal.sqlite") == exported
    with (out / "fills.csv").open(encoding="utf-8") as handle:
        assert len(list(csv.DictReader(handle))) == 1


def test_ctrl_c_stops_the_demo_cleanly_and_exits_130(tmp_path: Path, children: list[Child]) -> None:
    out = tmp_path / "demo"
    args = ["demo", "--duration", "600", "--out", str(out), "--halt-file", str(tmp_path / "HALT"), "--quiet"]
    child = start(children, args, tmp_path)
    child.wait_for("tradebus demo: running SmaCross on ibkr; Ctrl-C stops")
    child.process.send_signal(signal.SIGINT)
    assert child.finish() == 130, child.stderr()
    assert child.output().count("run interrupted (Ctrl-C)") == 1
    assert run_record(out)["run"]["status"] == "interrupted"
    assert (out / "journal.sqlite").exists()


def test_ctrl_c_stops_a_backtest_after_the_current_bar_with_partial_exports(
    tmp_path: Path, children: list[Child]
) -> None:
    out = tmp_path / "bt"
    child = start(children, ["backtest", f"{STRATEGIES}:WaitsOnBar", "--param", "at_bar=40", "--out", str(out),
                             "--no-progress"], tmp_path)
    child.wait_for("waiting at bar 40")
    child.process.send_signal(signal.SIGINT)
    assert child.finish() == 130, child.stderr()
    output = child.output()
    assert output.count("run interrupted (Ctrl-C)") == 1
    assert "PARTIAL: 120 of 5,850 bars replayed" in output  # 40 bar times of AAPL, MSFT and SPY
    assert "(partial results)" in output
    run = run_record(out)["run"]
    assert (run["status"], run["partial"], run["bars_replayed"], run["bars_total"]) == ("interrupted", True, 120, 5850)
    with (out / "equity.csv").open(encoding="utf-8") as handle:
        assert len(list(csv.DictReader(handle))) == 40
