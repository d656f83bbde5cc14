"""``walk_forward``: optimise on each train window, trade the winner on the test window after it, stitch the results.

Example::

    result = walk_forward("strategies.sma_cross:SmaCross", load_bars("bars.csv"),
                          grid={"fast": "5:20:5", "slow": [20, 40]}, train="120bars", test="40bars")
    print(result.summary())
    result.to_csv("windows.csv")

The windows are :mod:`tradebus.sweep.windows`'; the figures :mod:`tradebus.sweep.wf_result`'s. The
bars go to the executor once (one :class:`~tradebus.sweep.tasks.SweepJob`); each task carries its
window (:class:`~tradebus.sweep.tasks.Span`). Every window's train runs go out as one batch, then
every window's test run as another.

**Warm-up.** A test run replays the ``warmup`` bar times before its test window first (default:
its whole train window), so indicators start warm; orders placed on those bars are denied (a
pre-trade check, the strategy gets ``OrderDenied``) except on the last, whose orders can only fill
in the test window (as in an unbroken run), and the figures count only from the test window's
start. ``warmup=0`` starts cold. The bars seen are all before the test window: no look-ahead.

**Window ends.** A position still open when a test window ends is valued at its last close, and the
next window starts from that equity, flat (as if closed there, without costs).
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from decimal import ROUND_HALF_EVEN
from decimal import Decimal
from typing import Any
from typing import Literal

from brokers.paper.config import PaperConfig
from framework.errors import ConfigError
from framework.history import BarData
from framework.strategy import Strategy
from tradebus.backtest import bar_period
from tradebus.defaults import venue_config
from tradebus.stats import annualization_note
from tradebus.stats import compute_statistics
from tradebus.stats import periods_per_year
from tradebus.sweep.constraints import Constraint
from tradebus.sweep.executors import Executor
from tradebus.sweep.executors import LocalExecutor
from tradebus.sweep.grid import Params
from tradebus.sweep.grid import normalize_grid
from tradebus.sweep.info import sweep_info
from tradebus.sweep.run import collect
from tradebus.sweep.run import plan
from tradebus.sweep.table import check_metric
from tradebus.sweep.table import rank
from tradebus.sweep.tasks import Span
from tradebus.sweep.tasks import SweepJob
from tradebus.sweep.tasks import SweepTask
from tradebus.sweep.tasks import TaskResult
from tradebus.sweep.tasks import strategy_spec
from tradebus.sweep.wf_info import WalkForwardInfo
from tradebus.sweep.wf_result import WalkForwardResult
from tradebus.sweep.wf_result import WindowResult
from tradebus.sweep.wf_result import annualised
from tradebus.sweep.windows import Length
from tradebus.sweep.windows import Window
from tradebus.sweep.windows import data_end
from tradebus.sweep.windows import make_windows
from tradebus.sweep.windows import parse_length
from tradebus.sweep.windows import timeline

Progress = Callable[[int, int], None]
"""Called as runs finish with (finished, planned), over the train and the test runs."""

ANNUALISED = frozenset({"cagr", "annualized_volatility", "sharpe", "sortino"})
"""Metrics withheld on runs too short to annualise."""

CENT = Decimal("0.01")

Choice = tuple[TaskResult | None, int, str | None]
"""A window's choice: the best train result that did not fail (None if none), the train runs that did not, why none."""


def walk_forward(
    strategy: str | type[Strategy[Any]],
    data: BarData,
    grid: Mapping[str, Any],
    *,
    train: int | timedelta | str,
    test: int | timedelta | str,
    step: int | timedelta | str | None = None,
    anchored: bool = False,
    partial: bool = True,
    metric: str = "sharpe",
    where: Iterable[str | Constraint] = (),
    search: Literal["grid", "random"] = "grid",
    trials: int | None = None,
    seed: int | None = None,
    params: Mapping[str, Any] | None = None,
    venue: PaperConfig | None = None,
    executor: Executor | None = None,
    warmup: int | None = None,
    progress: Progress | None = None,
) -> WalkForwardResult:
    """Walk ``strategy`` forward over ``data``: per window, sweep ``grid`` on the train bars, test the best after.

    Args:
        strategy: The strategy class, or its spec (``package.module:Class``, ``file.py:Class``).
        data: The bars.
        grid: The parameters to sweep, as :func:`~tradebus.sweep.run_sweep` takes them.
        train: Train window length: bars (an int or ``"250bars"``), a ``timedelta``, or ``"90d"``, ``"6mo"``...
        test: Test window length, in the same forms.
        step: From one test window's start to the next (default ``test``; at least ``test``, same unit).
        anchored: Every train window starts at the first bar (else they roll, ``train`` long).
        partial: Keep a last test window the data cuts short.
        metric: What each window's sets are ranked by (as :func:`~tradebus.sweep.run_sweep`).
        where: Constraints between parameters.
        search: ``grid`` or ``random`` (``trials`` sets, the same in every window).
        trials: How many sets a random search runs.
        seed: The random search's seed.
        params: Fixed parameters every run gets.
        venue: The simulated venue (default: the application's); the stitched equity starts at its cash.
        executor: Where the backtests run (default: a :class:`LocalExecutor` with a worker per CPU).
        warmup: Bar times each test run replays, untraded, before its test window (default: its train window).
        progress: Called with (finished, planned) as runs finish.

    Raises:
        ConfigError: A bad grid, constraint, metric, length or warm-up, or lengths no window fits, before anything runs.
    """
    check_metric(metric)
    sets = plan(strategy, grid, search=search, trials=trials, seed=seed, where=where, fixed=params)
    train_length, test_length = parse_length(train, "--train"), parse_length(test, "--test")
    step_length = None if step is None else parse_length(step, "--step")
    if warmup is not None and warmup < 0:
        raise ConfigError(f"must be 0 or more bar times, got {warmup}", key="--warmup")
    times, end = timeline(data), data_end(data)
    windows = make_windows(times, end, train_length, test_length, step_length, anchored=anchored, partial=partial)
    per_year = periods_per_year(bar_period(data))
    _check_annualisable(metric, windows, per_year, train_length)
    venue = venue or venue_config()
    job = SweepJob(strategy_spec(strategy), data, venue, dict(params or {}))
    plan_ = _Plan(times, end, windows, sets, warmup)
    total = len(windows) * (len(sets) + 1)
    executor = executor or LocalExecutor()
    train_results, interrupted = collect(executor, job, plan_.train_tasks(), _offset(progress, 0, total))
    best = plan_.best(train_results, metric)
    test_results: list[TaskResult] = []
    if not interrupted:
        tests = plan_.test_tasks(best)
        done = len(train_results)  # a window without a winner has no test run
        test_results, interrupted = collect(executor, job, tests, _offset(progress, done, done + len(tests)))
    return _assemble(plan_, best, test_results, WalkForwardResult(
        metric=metric, params=tuple(normalize_grid(grid)), windows=(), planned=len(windows),
        starting_cash=venue.starting_cash, equity_times=(), equity=(), equity_windows=(), statistics=None,
        periods_per_year=per_year, interrupted=interrupted,
        info=WalkForwardInfo(sweep_info(job.strategy, normalize_grid(grid), sets, search=search, executor=executor,
                                        data=data), train_length.text, test_length.text,
                             None if step_length is None else step_length.text, anchored, warmup, partial)))


def _check_annualisable(metric: str, windows: Sequence[Window], per_year: float, train: Length) -> None:
    if metric not in ANNUALISED:
        return
    shortest = min(w.train_end - w.train_start for w in windows)
    if annualization_note(shortest, per_year) is not None:
        msg = (f"{metric} is not given for runs shorter than about a month of trading days, and the shortest "
               f"train window ({train.text}) holds {shortest} bar times; use a longer --train or "
               "--metric total_return")
        raise ConfigError(msg, key="--metric")


def _offset(progress: Progress | None, done: int, total: int) -> Progress | None:
    if progress is None:
        return None
    return lambda finished, _planned: progress(done + finished, total)


class _Plan:
    """The runs of a walk-forward: train tasks (window-major) and a test task per window."""

    def __init__(self, times: Sequence[int], end: int, windows: Sequence[Window], sets: Sequence[Params],
                 warmup: int | None) -> None:
        self.times, self.end, self.windows, self.sets, self.warmup = times, end, windows, sets, warmup

    def at(self, index: int) -> int:
        """Epoch seconds of timeline ``index`` (one past the end: the data's end)."""
        return self.times[index] if index < len(self.times) else self.end

    def warm_start(self, window: Window) -> int:
        """The first bar time a window's test run replays."""
        if self.warmup is None:
            return window.train_start
        return max(0, window.test_start - self.warmup)

    def train_tasks(self) -> list[SweepTask]:
        """Every set on every train window; task ``w * len(sets) + j`` is set ``j`` on window ``w``."""
        n = len(self.sets)
        return [SweepTask(w * n + j, p, Span(self.at(win.train_start), self.at(win.train_end)))
                for w, win in enumerate(self.windows) for j, p in enumerate(self.sets)]

    def best(self, results: Sequence[TaskResult], metric: str) -> dict[int, Choice]:
        """Per window index: the best train result that did not fail (ranked as a sweep), runs counted, why none."""
        n = len(self.sets)
        by_window: dict[int, list[TaskResult]] = {}
        for r in results:
            by_window.setdefault(r.index // n, []).append(r)
        chosen: dict[int, Choice] = {}
        for w, found in by_window.items():
            ok = [r for r in found if r.failure is None]
            reason = None if ok else f"every train run failed; the first: {sorted(found, key=_index)[0].failure}"
            if len(found) == n:  # a window half-run (Ctrl-C) is not chosen from
                chosen[w] = (rank(ok, metric)[0] if ok else None, len(ok), reason)
        return chosen

    def test_tasks(self, best: Mapping[int, Choice]) -> list[SweepTask]:
        """The best set of each window on its test window, after the warm-up."""
        tasks = []
        for w, win in enumerate(self.windows):
            winner = best.get(w, (None, 0, None))[0]
            if winner is not None:
                span = Span(self.at(self.warm_start(win)), self.at(win.test_end), trade_from=self.at(win.test_start),
                            keep_curve=True)
                tasks.append(SweepTask(w, winner.params, span))
        return tasks


def _index(result: TaskResult) -> int:
    return result.index


def _metric(result: TaskResult, metric: str) -> float | None:
    value = result.final_equity if metric == "final_equity" else result.statistics.get(metric)
    return None if value is None else float(value)


def _moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class _Stitch:
    """The out-of-sample equity, chained window by window from the starting cash."""

    def __init__(self, cash: Decimal) -> None:
        self.level = cash.quantize(CENT, ROUND_HALF_EVEN)
        self.seconds: list[float] = []
        self.equity: list[Decimal] = []
        self.windows: list[int] = []
        self.invested: list[int] = []
        self.pnls: list[Decimal] = []

    def add(self, number: int, result: TaskResult) -> None:
        """Append a test run's segment, scaled so it starts at the running level."""
        segment = result.segment
        assert segment is not None  # test tasks keep their curve
        base, start = Decimal(repr(segment.equity[0])), self.level
        samples = zip(segment.seconds, segment.equity, segment.invested, strict=True)
        for i, (seconds, value, held) in enumerate(samples):
            if i == 0 and self.seconds and seconds <= self.seconds[-1]:
                continue  # the previous window's last sample is this one's baseline, at the same time
            level = start if i == 0 else (start * Decimal(repr(value)) / base).quantize(CENT, ROUND_HALF_EVEN)
            self.seconds.append(seconds)
            self.equity.append(level)
            self.windows.append(number)
            self.invested.append(held)
        self.level = self.equity[-1]
        self.pnls.extend((p * start / base).quantize(CENT, ROUND_HALF_EVEN) for p in segment.pnls)


def _assemble(plan: _Plan, best: Mapping[int, Choice], test_results: Sequence[TaskResult],
              empty: WalkForwardResult) -> WalkForwardResult:
    # ``empty`` holds the settings; the windows, the stitched equity and its statistics are filled in
    tested = {r.index: r for r in test_results}
    metric, per_year, interrupted = empty.metric, empty.periods_per_year, empty.interrupted
    stitch = _Stitch(empty.starting_cash)
    rows = []
    stitching = True
    for w, win in enumerate(plan.windows):
        winner, runs, reason = best.get(w, (None, 0, None))
        oos = tested.get(w)
        finished = oos is not None or (reason is not None and not interrupted)
        if not finished:
            stitching = False
            continue
        if oos is not None and oos.segment is not None and stitching:
            stitch.add(win.number, oos)
        is_return = None if winner is None else winner.statistics.get("total_return")
        oos_return = None if oos is None else oos.statistics.get("total_return")
        rows.append(WindowResult(
            number=win.number, train_start=_moment(plan.at(win.train_start)),
            train_end=_moment(plan.at(win.train_end)), test_start=_moment(plan.at(win.test_start)),
            test_end=_moment(plan.at(win.test_end)), partial=win.partial,
            params=None if winner is None else dict(winner.params),
            is_metric=None if winner is None else _metric(winner, metric),
            oos_metric=None if oos is None else _metric(oos, metric),
            is_return=is_return, oos_return=oos_return,
            is_annualised=None if winner is None else annualised(is_return, winner.periods, per_year),
            oos_annualised=None if oos is None else annualised(oos_return, oos.periods, per_year),
            trades=0 if oos is None else int(oos.statistics.get("trade_count") or 0),
            fills=0 if oos is None or oos.segment is None else oos.segment.fills, train_runs=runs,
            warmup_bars=win.test_start - plan.warm_start(win), failure=reason if oos is None else oos.failure,
            is_periods=None if winner is None else winner.periods,
        ))
    statistics = None
    if stitch.equity:
        times = [_moment(s) for s in stitch.seconds]
        statistics = compute_statistics(times, [float(e) for e in stitch.equity], stitch.invested, stitch.pnls,
                                        per_year)
    return replace(
        empty, windows=tuple(rows), equity_times=tuple(_moment(s) for s in stitch.seconds), equity=tuple(stitch.equity),
        equity_windows=tuple(stitch.windows), statistics=statistics,
    )
