"""What one sweep task does: build the strategy from its parameters, run the backtest, keep its statistics.

A :class:`SweepJob` holds what every task shares (the strategy, the bars, the venue); executors ship it
once to each worker (:func:`install`), and each :class:`SweepTask` carries only its parameters (and,
for a walk-forward, the :class:`Span` of the bars it runs on, so the bars still travel once). A
task returns a :class:`TaskResult`, small and picklable: the statistics, not every order (unless the
job asks for the full :class:`~tradebus.results.RunResult` with ``keep_results``).
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from bisect import bisect_left
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from decimal import Decimal
from typing import Any

from brokers.paper.config import PaperConfig
from framework import order_gateway
from framework.checks import TradingState
from framework.history import BarData
from framework.models import OrderRequest
from framework.strategy import Strategy
from tradebus.backtest import run_backtest
from tradebus.loading import build_config
from tradebus.loading import load_strategy_class
from tradebus.results import RunResult
from tradebus.stats import Statistics
from tradebus.stats import compute_statistics
from tradebus.stats import periods_per_year
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
class Span:
    """The part of the job's bars a task runs on (a walk-forward window).

    Attributes:
        first: Epoch seconds: bars starting at or after this are replayed...
        end: ...up to those starting before this.
        trade_from: When set, bars starting before this time (epoch seconds) are warm-up: the strategy
            sees them, but every order it places on them is denied except on the last (whose orders can
            only fill from ``trade_from`` on), and the statistics cover only the equity from
            ``trade_from`` on (see :class:`Segment`).
        keep_curve: Return that equity (the :class:`Segment`), for stitching.
    """

    first: int
    end: int
    trade_from: int | None = None
    keep_curve: bool = False


@dataclass(frozen=True)
class SweepTask:
    """One backtest of a sweep.

    Attributes:
        index: Its place in the sweep's list of parameter sets (or a walk-forward's list of runs).
        params: The swept parameters.
        span: The bars it runs on (default: all of the job's).
    """

    index: int
    params: Params
    span: Span | None = None


@dataclass(frozen=True)
class Segment:
    """A run's equity from ``trade_from`` on: a baseline (the equity before the first traded bar), then every sample.

    Attributes:
        seconds: Sample times, epoch seconds; the first is ``trade_from``.
        equity: Equity at each sample (floats, as the run's curve).
        invested: 1 where a position was open after the sample.
        pnls: Net P&L of each closed trade.
        fills: Fills (an open position at the end is in the equity, not in ``pnls``).
    """

    seconds: tuple[float, ...]
    equity: tuple[float, ...]
    invested: bytes
    pnls: tuple[Decimal, ...]
    fills: int = 0


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
        periods: The returns the statistics cover (equity samples less one).
        segment: The evaluated equity, when the task's span asked for it.
    """

    index: int
    params: Params
    statistics: dict[str, Any]
    final_equity: Decimal
    orders: int
    failure: str | None = None
    result: RunResult | None = None
    periods: int | None = None
    segment: Segment | None = None


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
    """Backtest ``job``'s strategy with ``task``'s parameters (on its span of the bars) and summarise the run."""
    cls = load_strategy_class(job.strategy)
    config = build_config(cls.config_type, {**job.fixed, **task.params})
    span = task.span
    data = job.data if span is None else job.data.window(span.first, span.end)
    trade_from = None if span is None else span.trade_from
    last_warm = None if trade_from is None else last_bar_before(data, trade_from)
    checks = [] if last_warm is None else [NoTradingUntil(last_warm)]
    with _quiet_warmup_denials(last_warm is not None):
        result = run_backtest(cls(config), data, job.venue, checks=checks)
    segment = None if trade_from is None else evaluated(result, trade_from)
    if segment is None:
        statistics, periods = result.statistics, max(len(result.curve) - 1, 0)
    else:
        statistics, periods = segment_statistics(segment, result), len(segment.equity) - 1
    stats = statistics.model_dump()
    stats["max_drawdown_duration"] = stats["max_drawdown_duration"].total_seconds()
    failure = None if not result.outcome.failed else "; ".join(result.outcome.lines()) or "failed"
    return TaskResult(
        index=task.index, params=task.params, statistics=stats, final_equity=result.final_equity,
        orders=len(result.orders), failure=failure, result=result if job.keep_results else None,
        periods=periods, segment=segment if span is not None and span.keep_curve else None,
    )


def last_bar_before(data: BarData, moment: int) -> int | None:
    """The start (epoch seconds) of the latest bar, of any symbol, starting before ``moment``; None if none does.

    Orders are taken from that bar on: it is the last warm-up bar, and an order placed when it is
    delivered meets only bars from the test window (a continuous run would trade on it too). Every
    earlier warm-up bar was delivered by its end, so at or before this start, and its orders are denied.
    """
    found = None
    for series in data.values():
        index = bisect_left(series.starts, moment)
        if index and (found is None or series.starts[index - 1] > found):
            found = series.starts[index - 1]
    return found


WARMUP_REASON = "warm-up: orders are taken from the last warm-up bar on"
"""How a warm-up denial's reason starts."""


def _not_warmup_denial(record: logging.LogRecord) -> bool:
    return not (isinstance(record.args, tuple) and str(record.args[-1]).startswith(WARMUP_REASON))


@contextlib.contextmanager
def _quiet_warmup_denials(active: bool) -> Iterator[None]:
    # every test run denies its warm-up orders by design: one warning each would bury the real ones
    logger = logging.getLogger(order_gateway.__name__)
    if active:
        logger.addFilter(_not_warmup_denial)
    try:
        yield
    finally:
        logger.removeFilter(_not_warmup_denial)


class NoTradingUntil:
    """A pre-trade check denying every order placed at or before ``seconds`` (warm-up bars: seen, not traded).

    Args:
        seconds: Epoch seconds; orders are let through once the clock is past it (the start of the last
            warm-up bar: see :func:`last_bar_before`).
    """

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds

    def __call__(self, request: OrderRequest, state: TradingState, /) -> str | None:
        """Deny orders during the warm-up."""
        if state.now().timestamp() <= self.seconds:
            return f"{WARMUP_REASON} (after {datetime.fromtimestamp(self.seconds, UTC):%Y-%m-%d %H:%M:%S}Z)"
        return None


def evaluated(result: RunResult, trade_from: int) -> Segment:
    """The run's equity from ``trade_from`` on: the equity then (the starting cash if no bar came before), then on."""
    curve = result.curve
    seconds = curve.seconds
    first = bisect_right(seconds, trade_from)
    baseline = curve.equity[first - 1] if first else float(result.starting_cash)
    return Segment(
        seconds=(float(trade_from), *seconds[first:]), equity=(baseline, *curve.equity[first:]),
        invested=bytes([0]) + bytes(curve.invested[first:]),
        pnls=tuple(t.pnl for t in result.trades if t.exit_time.timestamp() > trade_from),
        fills=sum(1 for f in result.fills if f.ts.timestamp() > trade_from),
    )


def segment_statistics(segment: Segment, result: RunResult) -> Statistics:
    """The statistics of ``segment`` (annualised as ``result``'s curve)."""
    times = [datetime.fromtimestamp(s, UTC) for s in segment.seconds]
    return compute_statistics(times, segment.equity, segment.invested, segment.pnls,
                              periods_per_year(result.curve.period))
