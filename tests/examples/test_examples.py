"""Every example runs as a real subprocess, with short bounded arguments, and trades.

The six runs start together in one module fixture (each in its own folder under tmp, output to files)
so the module takes about as long as the slowest run, not their sum; each test then waits for its
own process and reads what it printed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parents[2] / "examples"
TIMEOUT = 120  # seconds; every run is bounded well below this by its own arguments

RUNS: dict[str, list[str]] = {
    "backtest_sample": ["backtest_sample.py", "--out", "out"],
    "paper_on_simulator": ["paper_on_simulator.py", "--seconds", "45", "--max-fills", "2"],
    "ibkr_paper_trading": ["ibkr_paper_trading.py", "--simulator", "--minutes", "1"],  # its docstring's command
    "swap_default": ["swap_broker.py", "--max-fills", "4"],  # whatever the BROKER line says (backtest)
    "swap_paper": ["swap_broker.py", "--broker", "paper", "--seconds", "45", "--max-fills", "2"],
    "swap_ibkr": ["swap_broker.py", "--broker", "ibkr", "--seconds", "45", "--max-fills", "2"],
}

FILL_LINE = re.compile(r"^fill +\S+: (buy|sell) \d+ AAPL @ \d+\.\d\d \((\d{4})-", re.MULTILINE)


@dataclass
class Run:
    name: str
    process: subprocess.Popen[bytes]
    folder: Path

    def finish(self) -> tuple[int, str]:
        """Wait for the process; return its exit code and its stdout + stderr."""
        try:
            code = self.process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"example run {self.name} did not finish within {TIMEOUT} s")
        out = (self.folder / "stdout.txt").read_text(encoding="utf-8")
        err = (self.folder / "stderr.txt").read_text(encoding="utf-8")
        return code, out + err


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Run]]:
    started: dict[str, Run] = {}
    try:
        for name, argv in RUNS.items():
            folder = tmp_path_factory.mktemp(name)
            with (folder / "stdout.txt").open("wb") as out, (folder / "stderr.txt").open("wb") as err:
                process = subprocess.Popen(
                    [sys.executable, str(EXAMPLES / argv[0]), *argv[1:]],
                    cwd=folder,
                    stdout=out,
                    stderr=err,
                    env={**os.environ, "PYTHONUNBUFFERED": "1"},
                )
            started[name] = Run(name, process, folder)
        yield started
    finally:
        for run in started.values():
            if run.process.poll() is None:
                run.process.kill()
                run.process.wait()


def finished(runs: dict[str, Run], name: str) -> str:
    code, output = runs[name].finish()
    assert code == 0, output
    return output


def test_backtest_sample_prints_orders_statistics_and_the_report_path(runs: dict[str, Run]) -> None:
    output = finished(runs, "backtest_sample")
    assert "replayed 5,850 bars of AAPL, MSFT, SPY" in output
    assert "56 orders, 56 fills" in output  # a backtest is deterministic
    assert "2024-01-02 16:15 UTC  buy  100 AAPL @ 183.50" in output
    assert "Sharpe:" in output
    report = runs["backtest_sample"].folder / "out" / "report.html"
    assert f"report: {Path('out') / 'report.html'}" in output
    assert report.is_file()
    assert (runs["backtest_sample"].folder / "out" / "fills.csv").is_file()


def test_paper_on_simulator_fills_locally_and_never_sends_an_order(runs: dict[str, Run]) -> None:
    output = finished(runs, "paper_on_simulator")
    assert re.search(r"^order +\S+: buy 10 AAPL market$", output, re.MULTILINE)
    assert len(re.findall(r"^fill +\S+: (?:buy|sell) 10 AAPL @ \d+\.\d\d$", output, re.MULTILINE)) == 2
    assert "orders the gateway received: 0 (paper fills stay local)" in output


def test_ibkr_paper_trading_on_the_simulator_fills_orders_and_prints_readable_lines(runs: dict[str, Run]) -> None:
    output = finished(runs, "ibkr_paper_trading")
    assert "trading AAPL on 1-second bars for 1 min (account DU1234567)" in output
    assert re.search(r"^\d\d:\d\d:\d\d  connected to ibkr$", output, re.MULTILINE)
    sides = re.findall(r"^\d\d:\d\d:\d\d  filled   (buy|sell) 10 AAPL @ \d+\.\d\d \(commission 1\.00\)$", output,
                       re.MULTILINE)
    assert sides[:2] == ["buy", "sell"]
    assert "--- summary ---" in output
    assert re.search(rf"^orders: {len(sides)} \({len(sides)} filled\)", output, re.MULTILINE)
    assert "Event(" not in output
    assert "Fill(" not in output
    assert "Position(" not in output
    assert "Traceback" not in output


def test_swap_broker_changes_broker_with_one_line() -> None:
    source = (EXAMPLES / "swap_broker.py").read_text(encoding="utf-8")
    assert re.findall(r"^BROKER = .*$", source, re.MULTILINE) == [
        'BROKER = "backtest"  # the one line to change: "backtest", "paper" or "ibkr"'
    ]


@pytest.mark.parametrize(
    ("name", "broker", "fills", "year"),
    [("swap_default", "backtest", 4, "2024"), ("swap_paper", "paper", 2, None), ("swap_ibkr", "ibkr", 2, None)],
)
def test_swap_broker_runs_the_strategy_on_each_broker(
    runs: dict[str, Run], name: str, broker: str, fills: int, year: str | None
) -> None:
    output = finished(runs, name)
    assert f"running SmaCross on the {broker} broker" in output
    found = FILL_LINE.findall(output)
    assert [side for side, _ in found] == ["buy", "sell", "buy", "sell"][:fills]
    if year is not None:  # the backtest's fills happen at the sample data's time
        assert {y for _, y in found} == {year}
    assert re.search(rf"^{broker}: {fills} orders; cash ", output, re.MULTILINE)
