"""The flags ``tradebus sweep`` and ``tradebus walk-forward`` share, so both read them the same way.

:func:`add_sweep_arguments` adds the strategy, its data, the grid and its search, the metric, the
executor (:mod:`tradebus.sweep.choice`), the venue, the output folder and the progress bar;
each command adds its own flags after them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tradebus.backtest_command import bar_size_argument
from tradebus.sweep.choice import add_executor_arguments
from tradebus.sweep.table import METRICS


def add_sweep_arguments(parser: argparse.ArgumentParser, *, mode: str) -> None:
    """Add the shared flags to ``parser``; ``mode`` names the ``runs/<mode>/`` folder ``--out`` replaces."""
    parser.add_argument("strategy", help="strategy class: package.module:Class or file.py[:Class]")
    parser.add_argument("--data", type=Path, help="bar file or folder (default: the shipped sample)")
    parser.add_argument("--tz", help="time zone of --data timestamps written without an offset")
    parser.add_argument("--bar-size", type=bar_size_argument, metavar="SIZE",
                        help="size of the bars in --data (60s, 5m, 1d)")
    parser.add_argument("--bar-seconds", type=int, help=argparse.SUPPRESS)  # read by bars_from_file
    parser.add_argument("--grid", action="append", default=[], metavar="NAME=VALUES", required=True,
                        help="a swept parameter: name=start:end:step (inclusive), name=v1,v2,... or name=value")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="a fixed strategy parameter")
    parser.add_argument("--where", action="append", default=[], metavar="EXPR",
                        help="a constraint such as 'fast < slow' (NAME OP NAME|NUMBER; OP one of < <= > >= == !=)")
    parser.add_argument("--random", type=int, metavar="N", help="run N sets drawn at random instead of all")
    parser.add_argument("--seed", type=int, help="seed of --random (same seed, same sets)")
    parser.add_argument("--metric", default="sharpe", help=f"rank by this ({', '.join(METRICS)}; default sharpe)")
    add_executor_arguments(parser)
    parser.add_argument("--venue", metavar="JSON", default="{}", help="PaperConfig fields as JSON over the defaults")
    parser.add_argument("--out", type=Path, help=f"output folder (default: a new runs/{mode}/<run id>/)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
