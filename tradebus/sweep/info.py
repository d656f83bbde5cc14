"""What a sweep ran on, kept with its table for the sweep report: strategy, grid, planned sets, data, executor.

:func:`~tradebus.sweep.run.run_sweep` fills a :class:`SweepInfo` into ``SweepResult.info``; the report
(:func:`tradebus.report.write_sweep_report`) uses it for its title and to say why a heat-map cell is
blank (excluded by a constraint, not drawn by a random search, or not run before an interruption).
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from framework.history import BarData
from tradebus.sweep.grid import Params


@dataclass(frozen=True)
class SweepInfo:
    """The context of a sweep.

    Attributes:
        strategy: The strategy's spec (``package.module:Class``).
        grid: Every swept parameter's values, in the grid's order.
        sets: The parameter sets planned (after constraints and sampling), in order.
        search: ``grid`` or ``random``.
        executor: Where it ran, in words (``local, 2 workers``).
        symbols: The symbols of the data.
        start: Epoch seconds of the first bar's start (None without bars).
        end: Epoch seconds of the last bar's end (None without bars).
        bar_seconds: The bars' length in seconds (None without bars or with several lengths).
        bars: Bars over all symbols.
    """

    strategy: str
    grid: Mapping[str, Sequence[Any]]
    sets: Sequence[Params]
    search: str = "grid"
    executor: str = ""
    symbols: tuple[str, ...] = ()
    start: float | None = None
    end: float | None = None
    bar_seconds: float | None = None
    bars: int = 0


def describe_executor(executor: object) -> str:
    """An executor in words, for the reports and the printed summary.

    Its ``description`` if it has one (a string), else its kind from the class name (``LocalExecutor`` ->
    ``local``) and its ``workers``.
    """
    description = getattr(executor, "description", None)
    if isinstance(description, str) and description:
        return description
    kind = type(executor).__name__.removesuffix("Executor").lower() or "custom"
    kind = "in process" if kind == "inprocess" else kind
    workers = getattr(executor, "workers", None)
    if isinstance(workers, int):
        return f"{kind}, {workers} worker{'s' if workers != 1 else ''}"
    return kind


def sweep_info(strategy: str, grid: Mapping[str, Sequence[Any]], sets: Sequence[Params], *, search: str,
               executor: object, data: BarData) -> SweepInfo:
    """Collect a :class:`SweepInfo` (the data's span and bar size from ``data``)."""
    series = [s for s in data.values() if len(s)]
    durations = {s.duration.total_seconds() for s in series}
    return SweepInfo(
        strategy=strategy, grid={k: tuple(v) for k, v in grid.items()}, sets=tuple(sets), search=search,
        executor=describe_executor(executor), symbols=tuple(data),
        start=min((float(s.starts[0]) for s in series), default=None),
        end=max((float(s.starts[-1]) + s.duration.total_seconds() for s in series), default=None),
        bar_seconds=durations.pop() if len(durations) == 1 else None, bars=data.bar_count,
    )
