"""``tradebus walk-forward``: optimise on rolling (or anchored) train windows, trade the winners out of sample.

Example::

    tradebus walk-forward strategies.sma_cross:SmaCross --data bars.csv --grid fast=5:30:5 --grid slow=20,40,60
        --where "fast < slow" --train 250bars --test 50bars --metric sharpe  # one line

Writes ``windows.csv`` (one row per window: its dates, the best parameters, in-sample versus
out-of-sample figures) and ``oos_equity.csv`` (the stitched out-of-sample equity) to a new
``runs/walk-forward/<run id>/`` or ``--out``, with ``walkforward.html`` (the report:
:func:`tradebus.report.write_walk_forward_report`; skipped with one line when plotly is missing), and
prints the table and the summary. Ctrl-C cancels the runs not finished, writes the windows that
finished (the report with a partial banner) and exits 130.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any
from typing import Literal

from tqdm.auto import tqdm

from framework.errors import ConfigError
from tradebus.backtest_command import bars_from_file
from tradebus.backtest_command import parse_venue
from tradebus.interrupts import EXIT_INTERRUPTED
from tradebus.loading import parse_params
from tradebus.report import ReportUnavailableError
from tradebus.report import write_walk_forward_report
from tradebus.runs import next_run_folder
from tradebus.runs import open_run_folder
from tradebus.sweep.arguments import add_sweep_arguments
from tradebus.sweep.choice import executor_from_args
from tradebus.sweep.grid import parse_grid
from tradebus.sweep.run import plan
from tradebus.sweep.table import check_metric
from tradebus.sweep.walkforward import walk_forward
from tradebus.sweep.wf_result import WalkForwardResult
from tradebus.sweep.windows import parse_length

LENGTHS = "bar times (250bars) or time (90d, 12w, 6mo, 1y; 8h, 30m)"


class WalkForwardCommand:
    """The ``walk-forward`` sub-command."""

    name = "walk-forward"
    help = "optimise on each train window, trade the best parameters on the test window after it"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        """Strategy, data, grid, windows, warm-up, search, metric, executor and output folder."""
        add_sweep_arguments(parser, mode="walk-forward")
        parser.add_argument("--train", required=True, metavar="LENGTH", help=f"train window: {LENGTHS}")
        parser.add_argument("--test", required=True, metavar="LENGTH", help=f"test window: {LENGTHS}")
        parser.add_argument("--step", metavar="LENGTH",
                            help="from one test window's start to the next (default and minimum: --test)")
        parser.add_argument("--anchored", action="store_true",
                            help="every train window starts at the first bar (default: they roll, --train long)")
        parser.add_argument("--drop-partial", action="store_true",
                            help="drop a last test window the data cuts short (default: keep it)")
        parser.add_argument("--warmup", metavar="N|train", default="train",
                            help="bar times each test run sees, untraded, before its window (default: its train "
                                 "window; 0: start cold)")

    def run(self, args: argparse.Namespace) -> int:
        """Validate, run, write, print."""
        executor = executor_from_args(args)
        check_metric(args.metric)
        for key in ("train", "test", "step"):
            if getattr(args, key) is not None:
                parse_length(getattr(args, key), f"--{key}")  # before the data is loaded
        warmup = parse_warmup(args.warmup)
        grid, fixed = parse_grid(args.grid), parse_params(args.param)
        search: Literal["grid", "random"] = "random" if args.random is not None else "grid"
        sets = plan(args.strategy, grid, search=search, trials=args.random, seed=args.seed, where=args.where,
                    fixed=fixed)
        venue = parse_venue(args.venue)
        data = bars_from_file(args)
        out = next_run_folder("walk-forward", args.out)
        with tqdm(unit="run", disable=args.no_progress) as bar:
            result = walk_forward(
                args.strategy, data, grid, train=args.train, test=args.test, step=args.step, anchored=args.anchored,
                partial=not args.drop_partial, metric=args.metric, where=args.where, search=search,
                trials=args.random, seed=args.seed, params=fixed, venue=venue, executor=executor, warmup=warmup,
                progress=lambda done, total: _advance(bar, done, total),
            )
        print(f"tradebus walk-forward: {args.strategy}, {result.planned} windows x {len(sets)} parameter sets "  # noqa: T201
              f"ranked by {args.metric}; output {out}/")
        folder = open_run_folder(out, latest=args.out is None)
        written = [result.to_csv(folder / "windows.csv"), result.equity_to_csv(folder / "oos_equity.csv")]
        written += write_walk_forward_html(result, folder)
        print_windows(result)
        print_summary(result)
        names = ", ".join(p.name for p in written)
        if result.interrupted:
            print(f"interrupted: {len(result.windows)} of {result.planned} windows finished; "  # noqa: T201
                  f"wrote {names} to {out}")
            return EXIT_INTERRUPTED
        print(f"wrote {names} to {out}")  # noqa: T201
        return 0


def write_walk_forward_html(result: WalkForwardResult, folder: Path) -> list[Path]:
    """``walkforward.html``, or nothing and a ``walk-forward report skipped: ...`` line on stderr without plotly."""
    try:
        return [write_walk_forward_report(result, folder)]
    except ReportUnavailableError as e:
        print(f"walk-forward report skipped: {e}", file=sys.stderr)  # noqa: T201
        return []


def parse_warmup(text: str) -> int | None:
    """``--warmup``: ``train`` (None: the train window) or a whole number of bar times.

    Raises:
        ConfigError: Naming ``--warmup``.
    """
    if text.strip() == "train":
        return None
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise ConfigError(f"{text!r} must be 'train' or a whole number of bar times (0: start cold)", key="--warmup")
    return value


def _advance(bar: Any, done: int, total: int) -> None:
    bar.total = total
    bar.update(done - bar.n)


def _cell(value: Any, when: str = "%Y-%m-%d") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return value.strftime(when) if hasattr(value, "strftime") else str(value)


def print_windows(result: WalkForwardResult) -> None:
    """One line per window: number, test dates, best parameters, IS and OOS metric and return, trades.

    The dates carry their time (UTC) when windows start at different times of day (intraday windows).
    """
    m = result.metric
    returns = m != "total_return"  # else the metric columns are the returns
    edges = [t for w in result.windows for t in (w.test_start, w.test_end)]
    when = "%Y-%m-%d %H:%M" if len({t.time() for t in edges}) > 1 else "%Y-%m-%d"
    print("  ".join(["window", "test_start", "test_end", *result.params, f"is_{m}", f"oos_{m}",  # noqa: T201
                     *(["is_return", "oos_return"] if returns else []), "trades", "fills"]))
    for w in result.windows:
        params = [_cell((w.params or {}).get(p)) for p in result.params]
        cells = [f"{w.number:>6}", _cell(w.test_start, when), _cell(w.test_end, when) + ("*" if w.partial else ""),
                 *params,
                 _cell(w.is_metric), _cell(w.oos_metric),
                 *([_cell(w.is_return), _cell(w.oos_return)] if returns else []), str(w.trades), str(w.fills)]
        print("  ".join(cells) + (f"  ({w.failure})" if w.failure else ""))  # noqa: T201


def print_summary(result: WalkForwardResult) -> None:
    """The headline figures, one per line."""
    for key, value in result.summary().items():
        if key not in ("metric", "interrupted"):
            print(f"{key}: {_cell(value)}")  # noqa: T201
    if any(w.partial for w in result.windows):
        print("* the data ended inside this test window (kept; --drop-partial drops it)")  # noqa: T201
    blind = [str(w.number) for w in result.windows if w.params is not None and w.is_metric is None]
    if blind:
        print(f"note: in window {', '.join(blind)} no parameter set had a {result.metric}, so the first set in "  # noqa: T201
              "grid order was taken; rank by another --metric, such as total_return", file=sys.stderr)


COMMAND = WalkForwardCommand()
