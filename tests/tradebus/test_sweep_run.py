"""``run_sweep`` on real backtests: executors agree, validation comes first, Ctrl-C keeps what finished; the CLI."""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterator
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import pytest

from framework.errors import ConfigError
from framework.history import BarData
from tests.tradebus.sweep_fixture import SPEC
from tradebus import run_sweep
from tradebus.cli import main
from tradebus.sweep import InProcessExecutor
from tradebus.sweep import LocalExecutor
from tradebus.sweep import RayExecutor
from tradebus.sweep.info import describe_executor
from tradebus.sweep.table import SweepResult
from tradebus.sweep.table import rank
from tradebus.sweep.tasks import SweepJob
from tradebus.sweep.tasks import SweepTask
from tradebus.sweep.tasks import TaskResult
from tradebus.sweep.tasks import run_task

GRID = {"fast": "3:9:3", "slow": [12, 20]}


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


class Spy:
    """An executor that records whether it was asked to run, then runs in process (optionally Ctrl-C after n)."""

    def __init__(self, interrupt_after: int | None = None) -> None:
        self.calls = 0
        self.interrupt_after = interrupt_after
        self.closed = False

    def run(self, job: SweepJob, tasks: Sequence[SweepTask]) -> Iterator[TaskResult]:
        self.calls += 1
        try:
            for i, task in enumerate(tasks):
                if i == self.interrupt_after:
                    raise KeyboardInterrupt
                yield run_task(job, task)
        finally:
            self.closed = True


def test_executors_and_worker_counts_give_the_same_table(data: BarData) -> None:
    tables = [run_sweep(SPEC, data, GRID, metric="sharpe", executor=e).rows
              for e in (InProcessExecutor(), LocalExecutor(1), LocalExecutor(2))]
    assert tables[0] == tables[1] == tables[2]
    assert len(tables[0]) == 6
    sharpes = [row["sharpe"] for row in tables[0]]
    assert all(s is not None for s in sharpes)
    assert sharpes == sorted(sharpes, reverse=True)


def test_ranking_puts_missing_values_last_and_breaks_ties_by_parameters(data: BarData) -> None:
    result = run_sweep(SPEC, data, {"fast": [3, 6], "slow": [12], "quantity": [1, 2]}, metric="profit_factor",
                       executor=InProcessExecutor())
    keys = [(r["profit_factor"], r["fast"], r["quantity"]) for r in result.rows]
    for a, b in itertools.pairwise(keys):  # profit factor descending; equal ones by parameters
        assert a[0] > b[0] or (a[0] == b[0] and a[1:] < b[1:])
    assert result.best == {"fast": result.rows[0]["fast"], "slow": 12, "quantity": result.rows[0]["quantity"]}


def test_max_drawdown_ranks_shallowest_first(data: BarData) -> None:
    rows = run_sweep(SPEC, data, GRID, metric="max_drawdown", executor=InProcessExecutor()).rows
    drawdowns = [row["max_drawdown"] for row in rows]
    assert drawdowns == sorted(drawdowns, reverse=True)
    assert drawdowns[0] > drawdowns[-1]


def test_bad_input_fails_before_any_task_runs(data: BarData) -> None:
    spy = Spy()
    with pytest.raises(ConfigError, match="fast=30"):
        run_sweep(SPEC, data, {"fast": [3, 30], "slow": [20]}, executor=spy)
    with pytest.raises(ConfigError, match="unknown metric"):
        run_sweep(SPEC, data, GRID, metric="nope", executor=spy)
    assert spy.calls == 0


def test_ctrl_c_keeps_the_finished_runs_and_closes_the_executor(data: BarData, tmp_path: Path) -> None:
    spy = Spy(interrupt_after=2)
    result = run_sweep(SPEC, data, GRID, executor=spy)
    assert result.interrupted
    assert spy.closed
    assert (len(result.results), result.planned) == (2, 6)
    rows = read_rows(result.to_csv(tmp_path / "partial.csv"))
    assert len(rows) == 2


def test_table_files_and_frame(data: BarData, tmp_path: Path) -> None:
    result = run_sweep(SPEC, data, GRID, executor=InProcessExecutor(), keep_results=True)
    rows = read_rows(result.to_csv(tmp_path / "s.csv"))
    assert [(int(r["fast"]), int(r["slow"])) for r in rows] == [(r["fast"], r["slow"]) for r in result.rows]
    pq = pytest.importorskip("pyarrow.parquet")
    table = pq.read_table(result.to_parquet(tmp_path / "s.parquet"))
    assert table.column("sharpe").to_pylist() == [r["sharpe"] for r in result.rows]
    frame = result.frame
    assert list(frame["fast"]) == [r["fast"] for r in result.rows]
    assert result.best_result is not None
    assert result.best_result.final_equity == result.rows[0]["final_equity"]


def test_cli_sweep_end_to_end(bars_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = main(["sweep", SPEC, "--data", str(bars_file), "--grid", "fast=3:9:3", "--grid", "slow=6,12",
                 "--where", "fast < slow", "--metric", "total_return", "--workers", "2", "--out", str(out),
                 "--no-progress"])
    assert code == 0
    rows = read_rows(out / "sweep.csv")
    assert [(r["fast"], r["slow"]) for r in rows if int(r["fast"]) >= int(r["slow"])] == []
    assert len(rows) == 4  # 3<6, 3<12, 6<12, 9<12
    returns = [float(r["total_return"]) for r in rows]
    assert returns == sorted(returns, reverse=True)
    assert (out / "result.json").exists()  # the best set's full backtest
    printed = capsys.readouterr().out
    assert f"   1  {rows[0]['fast']}  {rows[0]['slow']}" in printed


def test_cli_bad_grid_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", SPEC, "--grid", "fast=5:x:1", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "tradebus sweep: error: --grid fast: range '5:x:1' must be start:end:step with numbers, e.g. 5:30:5"


def test_a_failed_run_ranks_after_every_run_that_finished_whatever_its_partial_figures() -> None:
    def done(index: int, sharpe: float | None, failure: str | None = None) -> TaskResult:
        return TaskResult(index, {"fast": index}, {"sharpe": sharpe}, Decimal(100_000), 1, failure=failure)

    # the failed run stopped on a strategy error after a lucky start: its partial Sharpe must not win
    ranked = rank([done(0, 0.5), done(1, 9.0, failure="ValueError: bad bar"), done(2, None), done(3, 1.5)], "sharpe")
    assert [r.index for r in ranked] == [3, 0, 2, 1]


def test_a_sweep_whose_every_run_failed_has_no_best() -> None:
    failed = TaskResult(0, {"fast": 3}, {"sharpe": 2.0}, Decimal(100_000), 1, failure="ValueError: bad bar")
    result = SweepResult("sharpe", ("fast",), (failed,), 1)
    assert (result.best, result.best_result, len(result.rows)) == (None, None, 1)


def test_the_printed_table_says_how_many_runs_failed(capsys: pytest.CaptureFixture[str]) -> None:
    from tradebus.sweep.cli import print_top

    figures = {"sharpe": 1.0, "total_return": 0.1, "max_drawdown": -0.05, "trade_count": 3}
    ok = TaskResult(0, {"fast": 3}, figures, Decimal(100_000), 1)
    failed = TaskResult(1, {"fast": 4}, {**figures, "sharpe": 2.0}, Decimal(100_000), 1, failure="ValueError: bad bar")
    print_top(SweepResult("sharpe", ("fast",), (ok, failed), 2))
    err = capsys.readouterr().err.strip()
    assert err == ("note: 1 of 2 runs failed and rank last; the first: ValueError: bad bar "
                   "(the failure column of sweep.csv has each)")


def test_the_executor_in_words_is_its_own_description_or_its_kind_and_workers() -> None:
    assert describe_executor(LocalExecutor(workers=2)) == "local, 2 workers"
    assert describe_executor(InProcessExecutor()) == "in process"
    assert describe_executor(RayExecutor()) == "ray, local"
    assert describe_executor(RayExecutor(address="127.0.0.1:6379", workers=1)) == "ray at 127.0.0.1:6379, 1 worker"
