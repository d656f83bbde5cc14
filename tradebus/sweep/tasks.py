"""What one sweep task does: build the strategy from its parameters, run the backtest, keep its statistics.

A :class:`SweepJob` holds what every task shares (the strategy, the bars, the venue); executors ship it
once to each worker (:func:`install`), and each :class:`SweepTask` carries only its parameters. A
task returns a :class:`TaskResult`, small and picklable: the statistics, not every order (unless the
job asks for the full :class:`~tradebus.results.RunResult` with ``keep_results``).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from typing import Any

from brokers.paper.config import PaperConfig
from framework.history import BarData
from framework.strategy import Strategy
from tradebus.backtest import run_backtest
from tradebus.loading import build_config
from tradebus.loading import load_strategy_class
from tradebus.results import RunResult
from tradebus.sweep.grid import Params


def strategy_spec(strategy: str | type[Strategy[Any]]) -> str:
    """A spec a worker process can load: ``strategy`` itself, or ``module:Class`` / ``file.py:Class`` for a class.

    A class loaded from a file (``file.py:Class``) is named by its file, since its module exists only in
    the process that loaded it.
    """
    if isinstance(strategy, str):
        return strategy
    module = inspect.getmodule(strategy)
    if module is not None and module.__name__.startswith("tradebus_user_") and module.__file__:
        return f"{module.__file__}:{strategy.__qualname__}"
    return f"{strategy.__module__}:{strategy.__qualname__}"


@dataclass(frozen=True)
class SweepJob:
    """What every task of a sweep shares.

    Attributes:
        strategy: The strategy's spec (``package.module:Class`` or ``file.py:Class``).
        data: The bars.
        venue: The simulated venue.
        fixed: Parameters every task gets (the swept ones win).
        keep_results: Return each task's full run result too (orders, fills, curve), not only statistics.
    """

    strategy: str
    data: BarData
    venue: PaperConfig
    fixed: Params = field(default_factory=dict)
    keep_results: bool = False


@dataclass(frozen=True)
class SweepTask:
    """One backtest of a sweep.

    Attributes:
        index: Its place in the sweep's list of parameter sets.
        params: The swept parameters.
    """

    index: int
    params: Params


@dataclass(frozen=True)
class TaskResult:
    """The outcome of one task.

    Attributes:
        index: The task's index.
        params: The swept parameters.
        statistics: The run's statistics as plain values (see :class:`~tradebus.stats.Statistics`; the drawdown
            duration in seconds).
        final_equity: Equity at the end.
        orders: Orders placed.
        failure: Why the run stopped early (a strategy error), or None.
        result: The full run result, when the job asked for it.
    """

    index: int
    params: Params
    statistics: dict[str, Any]
    final_equity: Decimal
    orders: int
    failure: str | None = None
    result: RunResult | None = None


_JOB: SweepJob | None = None


def install(job: SweepJob) -> None:
    """Keep ``job`` for the tasks this process will run (a worker pool's initializer)."""
    global _JOB  # noqa: PLW0603 - one job per worker process, set once by the pool's initializer
    _JOB = job


def run_installed(task: SweepTask) -> TaskResult:
    """Run ``task`` with the job :func:`install` kept (in a worker process).

    Raises:
        RuntimeError: If no job was installed.
    """
    if _JOB is None:
        msg = "no sweep job installed in this process"
        raise RuntimeError(msg)
    return run_task(_JOB, task)


def run_task(job: SweepJob, task: SweepTask) -> TaskResult:
    """Backtest ``job``'s strategy with ``task``'s parameters and summarise the run."""
    cls = load_strategy_class(job.strategy)
    config = build_config(cls.config_type, {**job.fixed, **task.params})
    result = run_backtest(cls(config), job.data, job.venue)
    stats = result.statistics.model_dump()
    stats["max_drawdown_duration"] = stats["max_drawdown_duration"].total_seconds()
    failure = None if not result.outcome.failed else "; ".join(result.outcome.lines()) or "failed"
    return TaskResult(
        index=task.index, params=task.params, statistics=stats, final_equity=result.final_equity,
        orders=len(result.orders), failure=failure, result=result if job.keep_results else None,
    )
