"""The numbers behind the sweep report's charts: a heat map's cells, a one-parameter curve, metric text.

Pure Python (no plotly), so the cells can be checked on their own. A cell of the heat map over
parameters ``x`` and ``y`` holds the best value of the metric among the runs with those two values
(with more swept parameters, the best over the others, and which set gave it). A cell without a value
is blank (None) with the reason: every run there failed, no run there has the metric (too short to
annualise, no trades), or no run had those values (excluded by a constraint, not drawn by a random
search, or not run because the sweep was interrupted).
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from framework.errors import ConfigError
from tradebus.report.formatting import human_duration
from tradebus.report.formatting import number
from tradebus.report.formatting import percent
from tradebus.sweep.table import LOWER_IS_BETTER
from tradebus.sweep.table import SweepResult
from tradebus.sweep.tasks import TaskResult

PERCENT_METRICS = frozenset({"total_return", "cagr", "max_drawdown", "annualized_volatility", "win_rate", "exposure"})
"""Metrics shown as percentages (the others as numbers, ``max_drawdown_duration`` as a duration)."""


def metric_value(result: TaskResult, metric: str) -> float | None:
    """The run's ``metric`` as a float; None when it has none or the run failed."""
    if result.failure is not None:
        return None
    value = result.final_equity if metric == "final_equity" else result.statistics.get(metric)
    return None if value is None else float(value)


def metric_text(metric: str, value: float | Decimal | None) -> str:
    """``value`` of ``metric`` as the report shows it (``12.30 %``, ``1.52``, ``3 d 4 h``, ``n/a``)."""
    number_ = None if value is None else float(value)
    if metric in PERCENT_METRICS:
        return percent(number_)
    if metric == "max_drawdown_duration":
        return human_duration(number_)
    return number(number_)


def _key(value: Any) -> tuple[int, Any]:
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return (0, Decimal(str(value)))
    return (1, str(value))


MAX_AXIS = 200
"""Values drawn at most along a heat-map axis (a grid that only a random search could sample may have more)."""


def _hashable(value: Any) -> Any:
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value


def _distinct(values: Iterable[Any]) -> list[Any]:
    seen: dict[Any, Any] = {}
    for value in values:
        seen.setdefault(_hashable(value), value)
    return list(seen.values())


def axis_values(result: SweepResult, name: str) -> list[Any]:
    """The values of parameter ``name`` along an axis, in the grid's order.

    Every value of the grid when it is known and has at most :data:`MAX_AXIS` values; else those of the sets
    planned (or, without :attr:`SweepResult.info`, of the runs), numbers ascending.
    """
    info = result.info
    if info is not None and name in info.grid and len(_distinct(info.grid[name])) <= MAX_AXIS:
        return _distinct(info.grid[name])
    sets = info.sets if info is not None else [r.params for r in result.results]
    return sorted(_distinct(p[name] for p in sets if name in p), key=_key)


@dataclass(frozen=True)
class Cell:
    """One heat-map cell (or a point of the one-parameter curve).

    Attributes:
        value: The best value of the metric there, or None (a blank cell).
        params: The parameter set that gave it (None for a blank cell).
        why: For a blank cell, why it has no value; else empty.
    """

    value: float | None
    params: dict[str, Any] | None = None
    why: str = ""


def _params_text(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())


def _key_of(params: Mapping[str, Any], names: Sequence[str]) -> tuple[Any, ...]:
    return tuple(_hashable(params.get(n)) for n in names)


def cells_by(result: SweepResult, names: Sequence[str]) -> Callable[[Sequence[Any]], Cell]:
    """A function from values of ``names`` to their :class:`Cell` (the runs grouped once, so each cell is quick)."""
    runs: dict[tuple[Any, ...], list[TaskResult]] = {}
    for run in result.results:
        runs.setdefault(_key_of(run.params, names), []).append(run)
    info = result.info
    planned = {_key_of(p, names) for p in info.sets} if info is not None else set()

    def cell(values: Sequence[Any]) -> Cell:
        key = tuple(_hashable(v) for v in values)
        return best_cell(result.metric, runs.get(key, []), _not_run(result, key in planned))

    return cell


def best_cell(metric: str, runs: Sequence[TaskResult], absent: str = "not in the sweep") -> Cell:
    """The best of ``runs`` by ``metric``, or a blank cell saying why there is none (``absent``: no runs)."""
    scored = [(v, r) for r in runs if (v := metric_value(r, metric)) is not None]
    if scored:
        lower = metric in LOWER_IS_BETTER
        value, run = (min if lower else max)(scored, key=lambda pair: pair[0])
        return Cell(value, dict(run.params))
    if runs:
        failed = [r for r in runs if r.failure is not None]
        if len(failed) == len(runs):
            return Cell(None, why=f"failed: {failed[0].failure}")
        return Cell(None, why=f"no {metric} (too short to annualise, or no trades)")
    return Cell(None, why=absent)


def _not_run(result: SweepResult, planned: bool) -> str:
    info = result.info
    if info is None:
        return "not in the sweep"
    if planned:
        return "not run: the sweep was interrupted"
    if info.search == "random":
        return "not drawn by the random search"
    return "excluded by a constraint"


@dataclass(frozen=True)
class HeatMap:
    """The heat map of the metric over two parameters.

    Attributes:
        x: The parameter across (columns).
        y: The parameter down (rows).
        xs: Its values, in order.
        ys: Its values, in order.
        cells: ``cells[row][column]``: the cell for ``y = ys[row]`` and ``x = xs[column]``.
        others: The swept parameters besides ``x`` and ``y``; when any, each cell is the best over them.
        higher_is_better: False for a :data:`~tradebus.sweep.table.LOWER_IS_BETTER` metric (the colour scale is
            reversed, so the best cells are the same colour either way).
    """

    x: str
    y: str
    xs: list[Any]
    ys: list[Any]
    cells: list[list[Cell]]
    others: tuple[str, ...]
    higher_is_better: bool

    @property
    def values(self) -> list[list[float | None]]:
        """The cell values, row by row (None for blank cells)."""
        return [[c.value for c in row] for row in self.cells]

    def hover(self, metric: str) -> list[list[str]]:
        """Each cell's hover text: the parameters and the metric, or why it is blank."""
        def text(cell: Cell, x: Any, y: Any) -> str:
            if cell.params is None:
                return f"{self.x}={x}, {self.y}={y}<br>blank: {cell.why}"
            best = f"<br>best over {', '.join(self.others)}" if self.others else ""
            return f"{_params_text(cell.params)}<br>{metric} {metric_text(metric, cell.value)}{best}"

        return [[text(c, x, y) for c, x in zip(row, self.xs, strict=True)] for row, y in zip(self.cells, self.ys,
                                                                                              strict=True)]


def heat_map(result: SweepResult, x: str, y: str) -> HeatMap:
    """The heat map of ``result``'s metric over parameters ``x`` (across) and ``y`` (down).

    Raises:
        ConfigError: If ``x`` or ``y`` is not a swept parameter, or they are the same (key ``--heatmap``).
    """
    check_heatmap(result.params, (x, y))
    xs, ys = axis_values(result, x), axis_values(result, y)
    cell = cells_by(result, (x, y))
    cells = [[cell((xv, yv)) for xv in xs] for yv in ys]
    others = tuple(p for p in result.params if p not in (x, y))
    return HeatMap(x, y, xs, ys, cells, others, result.metric not in LOWER_IS_BETTER)


def curve(result: SweepResult, name: str) -> tuple[list[Any], list[Cell]]:
    """The metric's best value at each value of parameter ``name`` (a one-parameter sweep's line chart)."""
    xs = axis_values(result, name)
    cell = cells_by(result, (name,))
    return xs, [cell((v,)) for v in xs]


def check_heatmap(swept: Sequence[str], names: Sequence[str]) -> tuple[str, str]:
    """``names`` as the heat map's (x, y) if they are two different swept parameters.

    Raises:
        ConfigError: Naming ``--heatmap`` and the swept parameters otherwise.
    """
    if len(names) != 2 or names[0] == names[1]:
        msg = f"give two different swept parameters, e.g. --heatmap {','.join(swept[:2]) or 'fast,slow'}"
        raise ConfigError(msg, key="--heatmap")
    for name in names:
        if name not in swept:
            raise ConfigError(f"{name!r} is not swept; choose from {', '.join(swept)}", key="--heatmap")
    return names[0], names[1]
