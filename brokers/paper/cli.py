"""``tradebus backtest``: run a strategy over bar files (or the shipped sample) and write the results.

Example::

    tradebus backtest strategies.sma_cross:SmaCross --param symbol=MSFT --out results/

It prints the summary, writes ``orders.csv``, ``fills.csv``, ``trades.csv``, ``equity.csv``,
``result.json`` and, when matplotlib is installed, ``equity.png`` and ``report.html`` to ``--out``.
A progress bar runs on stderr unless ``--no-progress`` is given.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from brokers.paper.backtest import run_backtest
from brokers.paper.config import PaperConfig
from framework.history import load_bars
from framework.loading import create_strategy
from framework.loading import parse_params
from framework.recording import write_outputs
from framework.report import headline
from framework.sample_data import sample_data_path


class BacktestCommand:
    """The ``backtest`` sub-command."""

    name = "backtest"
    help = "backtest a strategy on historical bars with simulated fills"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        """Strategy, data, venue settings and output folder."""
        parser.add_argument("strategy", help="strategy class: package.module:Class or file.py[:Class]")
        parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="strategy parameter")
        parser.add_argument("--data", type=Path, help="bar file (.csv or .parquet); default: the shipped sample")
        parser.add_argument(
            "--venue", metavar="JSON", default="{}", help="PaperConfig as JSON, e.g. '{\"latency\": 1}'"
        )
        parser.add_argument("--out", type=Path, default=Path("backtest-results"), help="output folder")
        parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    def run(self, args: argparse.Namespace) -> int:
        """Load, run, export, report."""
        data = load_bars(args.data or sample_data_path())
        strategy = create_strategy(args.strategy, parse_params(args.param))
        config = PaperConfig.model_validate(json.loads(args.venue))
        result = run_backtest(strategy, data, config, progress=not args.no_progress)
        written = write_outputs(result, args.out, title=f"{strategy.id} backtest")
        print(  # noqa: T201
            f"{strategy.id}: {data.bar_count:,} bars, {len(result.orders)} orders, {len(result.fills)} fills; "
            f"equity {result.starting_cash:,.2f} -> {result.final_equity:,.2f}"
        )
        for label, value in headline(result.statistics):
            print(f"{label:>20}: {value}")  # noqa: T201
        print(f"wrote {', '.join(p.name for p in written)} to {args.out}")  # noqa: T201
        return 0


COMMAND = BacktestCommand()
