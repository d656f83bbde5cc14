"""``run_sweep``: validate every parameter set up front, run the backtests on an executor, rank the table.

Example::

    result = run_sweep("strategies.sma_cross:SmaCross", load_bars("bars.csv"),
                       grid={"fast": "5:30:5", "slow": [20, 40, 60]}, where=["fast < slow"])
    print(result.best)
    result.to_csv("sweep.csv")
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import Literal

from brokers.paper.config import PaperConfig
from framework.errors import ConfigError
from framework.history import BarData
from framework.strategy import Strategy
from tradebus.defaults import venue_config
from tradebus.loading import build_config
from tradebus.loading import load_strategy_class
from tradebus.sweep.constraints import Constraint
from tradebus.sweep.constraints import all_of
from tradebus.sweep.constraints import check_names
from tradebus.sweep.constraints import parse_constraint
from tradebus.sweep.executors import Executor
from tradebus.sweep.executors import LocalExecutor
from tradebus.sweep.grid import Params
from tradebus.sweep.grid import choose
from tradebus.sweep.grid import normalize_grid
from tradebus.sweep.info import sweep_info
from tradebus.sweep.table import SweepResult
from tradebus.sweep.table import check_metric
from tradebus.sweep.table import rank
from tradebus.sweep.tasks import SweepJob
from tradebus.sweep.tasks import SweepTask
from tradebus.sweep.tasks import TaskResult
from tradebus.sweep.tasks import strategy_spec

Progress = Callable[[int, int], None]
"""Called as results arrive with (finished, planned)."""


def plan(
    strategy: str | type[Strategy[Any]],
    grid: Mapping[str, Any],
    *,
    search: Literal["grid", "random"] = "grid",
    trials: int | None = None,
    seed: int | None = None,
    where: Iterable[str | Constraint] = (),
    fixed: Mapping[str, Any] | None = None,
) -> list[Params]:
    """The parameter sets a sweep will run, each checked against the strategy's config (nothing runs).

    Raises:
        ConfigError: A malformed grid or constraint, an unknown parameter, or a value (or combination) the
            config rejects, naming it.
        StrategyLoadError: If the strategy cannot be loaded.
    """
    cls = load_strategy_class(strategy_spec(strategy))
    values = normalize_grid(grid)
    if not values:
        raise ConfigError("nothing to sweep: give at least one parameter", key="grid")
    fields = cls.config_type.model_fields
    for name in [*values, *(fixed or {})]:
        if name not in fields:
            msg = f"unknown parameter {name!r}; {cls.config_type.__name__} takes {', '.join(fields)}"
            raise ConfigError(msg, key=f"grid.{name}" if name in values else "param")
    constraints = [parse_constraint(c) if isinstance(c, str) else c for c in where]
    check_names(constraints, [*values, *(fixed or {})])
    if search not in ("grid", "random"):
        raise ConfigError(f"search must be 'grid' or 'random', got {search!r}", key="search")
    if search == "random" and trials is None:
        raise ConfigError("a random search needs trials=N (--random N)", key="trials")
    keep = all_of(constraints)
    sets = choose(values, None if keep is None else lambda p: keep({**(fixed or {}), **p}),
                  trials if search == "random" else None, seed)
    if not sets:
        raise ConfigError("no parameter set satisfies the constraints", key="--where")
    for params in sets:
        _validate(cls, params, fixed or {})
    return sets


def _validate(cls: type[Strategy[Any]], params: Params, fixed: Mapping[str, Any]) -> None:
    try:
        build_config(cls.config_type, {**fixed, **params})
    except ConfigError as e:
        combo = ", ".join(f"{k}={v}" for k, v in params.items())
        hint = "; skip such sets with a constraint (--where 'fast < slow')" if e.key in (None, "strategy") else ""
        raise ConfigError(f"{combo}: {e}{hint}", key="grid") from e


def run_sweep(
    strategy: str | type[Strategy[Any]],
    data: BarData,
    grid: Mapping[str, Any],
    *,
    search: Literal["grid", "random"] = "grid",
    trials: int | None = None,
    seed: int | None = None,
    where: Iterable[str | Constraint] = (),
    metric: str = "sharpe",
    params: Mapping[str, Any] | None = None,
    venue: PaperConfig | None = None,
    executor: Executor | None = None,
    keep_results: bool = False,
    progress: Progress | None = None,
) -> SweepResult:
    """Backtest ``strategy`` over ``data`` once per parameter set of ``grid`` and rank the runs by ``metric``.

    Every set is validated before any backtest runs. Ctrl-C cancels the tasks not yet started and
    returns the finished ones (``result.interrupted``).

    Args:
        strategy: The strategy class, or its spec (``package.module:Class``, ``file.py:Class``).
        data: The bars.
        grid: Per parameter, a spec (``"5:30:5"``, ``"20,40,60"``), a sequence of values, or one value.
        search: ``grid`` runs every set; ``random`` a seeded sample of ``trials`` of them.
        trials: How many sets a random search runs (at most the grid's size).
        seed: The random search's seed (same seed, same sets).
        where: Constraints (``"fast < slow"``, or callables taking the parameter dict).
        metric: What to rank by (:data:`~tradebus.sweep.table.METRICS`).
        params: Fixed parameters every run gets.
        venue: The simulated venue (default: the application's, :func:`~tradebus.defaults.venue_config`).
        executor: Where the backtests run (default: a :class:`LocalExecutor` with a worker per CPU).
        keep_results: Keep every run's full result (orders, fills) in the table's results.
        progress: Called with (finished, planned) as results arrive.

    Raises:
        ConfigError: A bad grid, constraint, parameter, value or metric, before anything runs.
    """
    check_metric(metric)
    sets = plan(strategy, grid, search=search, trials=trials, seed=seed, where=where, fixed=params)
    job = SweepJob(strategy_spec(strategy), data, venue or venue_config(), dict(params or {}), keep_results)
    tasks = [SweepTask(i, p) for i, p in enumerate(sets)]
    executor = executor or LocalExecutor()
    finished, interrupted = collect(executor, job, tasks, progress)
    info = sweep_info(job.strategy, normalize_grid(grid), sets, search=search, executor=executor, data=data)
    return SweepResult(metric, tuple(normalize_grid(grid)), tuple(rank(finished, metric)), len(tasks), interrupted,
                       info)


def collect(executor: Executor, job: SweepJob, tasks: Sequence[SweepTask],
            progress: Progress | None) -> tuple[list[TaskResult], bool]:
    """Every result ``executor`` yields, and whether Ctrl-C cut it short (the outstanding tasks are cancelled)."""
    finished: list[TaskResult] = []
    results = executor.run(job, tasks)
    try:
        for result in results:
            finished.append(result)
            if progress is not None:
                progress(len(finished), len(tasks))
    except KeyboardInterrupt:
        with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C while the pool shuts down
            close = getattr(results, "close", None)
            if close is not None:
                close()
        return finished, True
    return finished, False
