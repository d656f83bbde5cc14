"""The table of a sweep: one row per parameter set, ranked by a metric, written as CSV or Parquet.

Ranking: best first. For most metrics higher is better (``max_drawdown`` is negative, so higher is
a shallower fall); for :data:`LOWER_IS_BETTER` metrics lower is better. Rows without a value (a
Sharpe ratio on a run too short to annualise) come after those with one, and runs that failed (a
strategy error stopped them; their figures cover only the part before it) come last, whatever their
figures; ties are broken by the parameter values,
so the same sweep gives the same table whatever ran it.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from framework.errors import ConfigError
from tradebus.frames import require_pandas
from tradebus.stats import Statistics
from tradebus.sweep.info import SweepInfo
from tradebus.sweep.tasks import TaskResult

if TYPE_CHECKING:
    import pandas as pd

    from tradebus.results import RunResult

LOWER_IS_BETTER = frozenset({"annualized_volatility", "max_drawdown_duration"})
"""Metrics ranked ascending."""

METRICS = (
    *sorted(name for name in Statistics.model_fields if name not in {"annualization_note", "periods_per_year"}),
    "final_equity",
)
"""The metrics a sweep can rank by: the numeric statistics and the final equity."""

PARQUET_HINT = "writing Parquet needs pyarrow: pip install 'tradebus[data]'"


def check_metric(metric: str) -> str:
    """Return ``metric`` if a sweep can rank by it.

    Raises:
        ConfigError: Naming the metric and listing the valid ones.
    """
    if metric not in METRICS:
        msg = f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}"
        raise ConfigError(msg, key="metric")
    return metric


def _order(value: Any) -> tuple[int, Any]:
    # parameter values of one column share a type; numbers compare as numbers, everything else as text
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return (0, Decimal(str(value)))
    return (1, str(value))


def rank(results: Sequence[TaskResult], metric: str) -> list[TaskResult]:
    """``results`` best first by ``metric`` (see the module docstring)."""
    sign = 1 if metric in LOWER_IS_BETTER else -1

    def key(r: TaskResult) -> tuple[Any, ...]:
        value = r.final_equity if metric == "final_equity" else r.statistics.get(metric)
        missing = value is None
        failed = r.failure is not None  # its figures cover only the part before the error
        return (failed, missing, 0 if missing else sign * Decimal(str(value)),
                tuple(_order(v) for v in r.params.values()))

    return sorted(results, key=key)


def row_of(result: TaskResult) -> dict[str, Any]:
    """One table row: the parameters, the statistics, final equity, orders and any failure."""
    return {**result.params, **result.statistics, "final_equity": result.final_equity, "orders": result.orders,
            "failure": result.failure}


@dataclass(frozen=True)
class SweepResult:
    """The results of a sweep, best first.

    Attributes:
        metric: The metric the rows are ranked by.
        params: The swept parameter names, in the grid's order.
        results: Each finished task, best first.
        planned: How many tasks the sweep had.
        interrupted: Ctrl-C ended the sweep before every task finished (``results`` holds those that did).
        info: What the sweep ran on (strategy, grid, planned sets, data, executor), for the sweep report;
            :func:`~tradebus.sweep.run_sweep` fills it in.
    """

    metric: str
    params: tuple[str, ...]
    results: tuple[TaskResult, ...]
    planned: int
    interrupted: bool = False
    info: SweepInfo | None = None

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The table: one dict per parameter set (parameters, statistics, ``final_equity``, ``orders``, ``failure``)."""
        return [row_of(r) for r in self.results]

    @property
    def best(self) -> dict[str, Any] | None:
        """The parameters of the best row (None when no run finished without a failure)."""
        first = self._best()
        return None if first is None else dict(first.params)

    @property
    def best_result(self) -> RunResult | None:
        """The best row's full run result, when the sweep kept them (``keep_results=True``)."""
        first = self._best()
        return None if first is None else first.result

    def _best(self) -> TaskResult | None:
        # failed runs rank last: the first row is the best unless every run failed
        return self.results[0] if self.results and self.results[0].failure is None else None

    @property
    def columns(self) -> list[str]:
        """The column names, parameters first."""
        return [*self.params, *(n for n in Statistics.model_fields), "final_equity", "orders", "failure"]

    @property
    def frame(self) -> pd.DataFrame:
        """The table as a pandas DataFrame (needs the ``pandas`` extra), best first; Decimals as floats."""
        lib = require_pandas("SweepResult.frame")
        rows = [{k: float(v) if isinstance(v, Decimal) else v for k, v in row.items()} for row in self.rows]
        frame: pd.DataFrame = lib.DataFrame(rows, columns=self.columns)
        return frame

    def to_csv(self, path: str | Path) -> Path:
        """Write the table as CSV (empty cells for missing values) and return the path."""
        target = Path(path)
        with target.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=self.columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in self.rows)
        return target

    def to_parquet(self, path: str | Path) -> Path:
        """Write the table as Parquet (needs pyarrow, the ``data`` extra) and return the path.

        Raises:
            ImportError: Naming the extra when pyarrow is not installed.
        """
        try:
            import pyarrow as pa  # noqa: PLC0415 - optional dependency
            import pyarrow.parquet as pq  # noqa: PLC0415
        except ImportError as e:
            raise ImportError(PARQUET_HINT) from e
        columns = {name: [row.get(name) for row in self.rows] for name in self.columns}
        target = Path(path)
        pq.write_table(pa.table(columns), target)
        return target
