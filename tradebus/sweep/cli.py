"""``tradebus sweep``: backtest a strategy over a grid of parameters and write the ranked table.

Example::

    tradebus sweep strategies.sma_cross:SmaCross --data bars.csv --grid fast=5:30:5 --grid slow=20,40,60
        --where "fast < slow" --metric total_return --workers 4  # one line

Every parameter set is validated before anything runs. The table goes to ``sweep.csv`` (and
``sweep.parquet`` when pyarrow is installed) in a new ``runs/sweep/<run id>/`` or ``--out``; the top
rows are printed, and the best set's full backtest (exports and report) is written to the same
folder, with the sweep report ``sweep.html`` (a heat map over ``--heatmap X,Y``, the ranking, a link to
the best run's report; skipped with one line when plotly is missing). Ctrl-C cancels the tasks not
started, stops the running ones, writes those that finished (and a partial sweep report) and exits 130.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from typing import Literal

from tqdm.auto import tqdm  # a widget in notebooks (Jupyter), a text bar in a terminal

from brokers.paper.config import PaperConfig
from framework.history import BarData
from tradebus.backtest import run_backtest
from tradebus.backtest_command import bars_from_file
from tradebus.backtest_command import parse_venue
from tradebus.interrupts import EXIT_INTERRUPTED
from tradebus.loading import build_config
from tradebus.loading import load_strategy_class
from tradebus.loading import parse_params
from tradebus.recording import write_outputs
from tradebus.report import ReportUnavailableError
from tradebus.report import write_sweep_report
from tradebus.report.sweep_cells import check_heatmap
from tradebus.runs import next_run_folder
from tradebus.runs import open_run_folder
from tradebus.sweep.arguments import add_sweep_arguments
from tradebus.sweep.choice import executor_from_args
from tradebus.sweep.grid import parse_grid
from tradebus.sweep.run import plan
from tradebus.sweep.run import run_sweep
from tradebus.sweep.table import SweepResult
from tradebus.sweep.table import check_metric

TOP = 10
"""Rows printed."""


class SweepCommand:
    """The ``sweep`` sub-command."""

    name = "sweep"
    help = "backtest a strategy over a grid of parameters and rank the runs"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        """Strategy, data, grid, search, metric, executor and output folder."""
        add_sweep_arguments(parser, mode="sweep")
        parser.add_argument("--heatmap", metavar="X,Y", type=_names,
                            help="the sweep report's heat map parameters (default: the first two swept)")

    def run(self, args: argparse.Namespace) -> int:
        """Validate, run, write, print."""
        executor = executor_from_args(args)
        check_metric(args.metric)
        grid, fixed = parse_grid(args.grid), parse_params(args.param)
        if args.heatmap is not None:
            check_heatmap(list(grid), args.heatmap)
        search: Literal["grid", "random"] = "random" if args.random is not None else "grid"
        sets = plan(args.strategy, grid, search=search, trials=args.random, seed=args.seed, where=args.where,
                    fixed=fixed)  # every set checked before the data is loaded
        venue = parse_venue(args.venue)
        data = bars_from_file(args)
        out = next_run_folder("sweep", args.out)
        print(f"tradebus sweep: {args.strategy}, {len(sets)} parameter sets "  # noqa: T201
              f"ranked by {args.metric}; output {out}/", flush=True)
        with tqdm(total=len(sets), unit="run", disable=args.no_progress) as bar:
            result = run_sweep(args.strategy, data, grid, search=search, trials=args.random, seed=args.seed,
                               where=args.where, metric=args.metric, params=fixed, venue=venue, executor=executor,
                               progress=lambda done, total: _advance(bar))
        folder = open_run_folder(out, latest=args.out is None)
        written = write_table(result, folder)
        print_top(result)
        if result.interrupted:
            written += write_sweep_html(result, folder, args.heatmap)
            print(f"interrupted: {len(result.results)} of {result.planned} runs finished; "  # noqa: T201
                  f"wrote {', '.join(p.name for p in written)} to {out}")
            return EXIT_INTERRUPTED
        written += best_backtest(args.strategy, result, fixed, data, venue, folder=folder)
        written += write_sweep_html(result, folder, args.heatmap)
        print(f"wrote {', '.join(p.name for p in written)} to {out}")  # noqa: T201
        return 0


def _advance(bar: Any) -> None:
    bar.update(1)


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",")]


def write_sweep_html(result: SweepResult, folder: Path, heatmap: Sequence[str] | None) -> list[Path]:
    """``sweep.html``, or nothing and a ``sweep report skipped: ...`` line on stderr when plotly is missing."""
    try:
        return [write_sweep_report(result, folder, heatmap=heatmap)]
    except ReportUnavailableError as e:
        print(f"sweep report skipped: {e}", file=sys.stderr)  # noqa: T201
        return []


def write_table(result: SweepResult, folder: Path) -> list[Path]:
    """``sweep.csv``, and ``sweep.parquet`` when pyarrow is installed."""
    written = [result.to_csv(folder / "sweep.csv")]
    if importlib.util.find_spec("pyarrow") is not None:
        written.append(result.to_parquet(folder / "sweep.parquet"))
    return written


def print_top(result: SweepResult, count: int = TOP) -> None:
    """The best ``count`` rows: rank, parameters, the metric, total return, drawdown, trades."""
    shown = ["total_return", "max_drawdown", "trade_count"]
    columns = [*result.params, result.metric, *(c for c in shown if c != result.metric)]
    print("  ".join(["rank", *columns]))  # noqa: T201
    for i, row in enumerate(result.rows[:count], 1):
        print("  ".join([f"{i:>4}", *(_cell(row[c]) for c in columns)]))  # noqa: T201
    if result.rows and all(r.get(result.metric) is None for r in result.rows):
        print(f"note: no run has a {result.metric} (the data may be too short to annualise); "  # noqa: T201
              "rank by another --metric, such as total_return", file=sys.stderr)
    failed = [r for r in result.results if r.failure is not None]
    if failed:
        print(f"note: {len(failed)} of {len(result.results)} runs failed and rank last; the first: "  # noqa: T201
              f"{failed[0].failure} (the failure column of sweep.csv has each)", file=sys.stderr)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def best_backtest(spec: str, result: SweepResult, fixed: dict[str, str], data: BarData, venue: PaperConfig, *,
                  folder: Path) -> list[Path]:
    """Run the best parameters' full backtest and write its exports and report into ``folder``."""
    if result.best is None:
        return []
    cls = load_strategy_class(spec)
    strategy = cls(build_config(cls.config_type, {**fixed, **result.best}))
    run = run_backtest(strategy, data, venue)
    return write_outputs(run, folder, mode="backtest", strategies=[strategy.id])


COMMAND = SweepCommand()
