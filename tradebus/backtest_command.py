"""``tradebus backtest``: run a strategy over bar files (or the shipped sample) and write the results.

Example::

    tradebus backtest strategies.sma_cross:SmaCross --param symbol=MSFT --out results/
    tradebus backtest strategies.sma_cross:SmaCross --data-from ibkr --symbols AAPL --hours 6.5

It prints what it runs (strategy, data, bar size, cash, costs, output folder) in two lines, then the
summary; it writes ``orders.csv``, ``fills.csv``, ``trades.csv``, ``equity.csv``, ``result.json`` and
``report.html`` (interactive, self-contained; needs the ``report`` extra, else it is skipped with a line
on stderr, or an error with ``--report``) to a new folder ``runs/backtest/<run id>/``
(``runs/backtest/latest`` names the newest; see :mod:`tradebus.runs`), or to ``--out``. The venue starts
from the application's defaults (:mod:`tradebus.defaults`: 100,000 cash, IBKR per-share commission);
``--venue`` JSON overrides them field by field. A progress bar runs on stderr unless ``--no-progress``
is given.

Safety settings are those of ``tradebus paper`` and ``live``: the ``[risk]`` limits of ``--config``
(and ``TRADEBUS_RISK__*`` overrides) are checked on every order, and when the settings name a
``halt_file``, the kill switch watches it on the replayed clock (while it exists every order is
denied). ``--journal``
records the run's orders in a new SQLite journal.

A strategy that raises stops the replay at that bar by default (``--on-strategy-error`` chooses
otherwise), and Ctrl-C stops it after the current bar: the results of the bars replayed are still
written, marked partial in ``result.json`` and in the summary, and the exit code says what happened
(1: a strategy failed, 130: interrupted; see :mod:`tradebus.interrupts`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import timedelta
from pathlib import Path

from pydantic import ValidationError

from brokers.paper.config import PaperConfig
from framework.clock import SystemClock
from framework.config import ErrorPolicy
from framework.config import problem
from framework.errors import ConfigError
from framework.errors import DataError
from framework.history import BarData
from framework.killswitch import halt_reason
from framework.models import OrderStatus
from framework.resample import format_size
from framework.resample import parse_bar_size
from tradebus.assembly import risk_limits
from tradebus.backtest import run_backtest
from tradebus.commands import add_error_policy_argument
from tradebus.commands import strategy_from
from tradebus.data import bars_from_source
from tradebus.data import load_bars
from tradebus.defaults import describe_venue
from tradebus.defaults import venue_config
from tradebus.interrupts import exit_code
from tradebus.journal import SqliteJournal
from tradebus.plugins import broker_plugin
from tradebus.recording import write_outputs
from tradebus.report import INSTALL_HINT
from tradebus.report import ReportUnavailableError
from tradebus.report import headline
from tradebus.report import report_available
from tradebus.results import RunResult
from tradebus.runs import next_run_folder
from tradebus.runs import open_run_folder
from tradebus.sample_data import sample_data_path
from tradebus.settings import Settings
from tradebus.settings import load_settings


class BacktestCommand:
    """The ``backtest`` sub-command."""

    name = "backtest"
    help = "backtest a strategy on historical bars with simulated fills"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        """Strategy, data, venue settings and output folder."""
        parser.add_argument("strategy", nargs="?",
                            help="strategy class: package.module:Class or file.py[:Class] (default: [strategy] spec)")
        parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                            help="strategy parameter (overrides [strategy] params of --config)")
        parser.add_argument(
            "--data", type=Path, help="bar file (.csv, .parquet, .json) or folder of them; default: the shipped sample"
        )
        parser.add_argument("--tz", help="time zone of --data timestamps written without an offset (America/New_York)")
        parser.add_argument(
            "--bar-size", type=bar_size_argument, metavar="SIZE",
            help="size of the bars in --data or fetched by --data-from: 60s, 5m, 1h, 1d ... (overrides the file's)",
        )
        parser.add_argument(
            "--venue", metavar="JSON", default="{}",
            help="PaperConfig fields as JSON over the defaults (100,000 cash, IBKR per-share commission), "
                 "e.g. '{\"latency\": 1}'",
        )
        parser.add_argument("--out", type=Path, help="output folder (default: a new runs/backtest/<run id>/)")
        parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
        parser.add_argument(
            "--report", action=argparse.BooleanOptionalAction, default=None,
            help="write report.html (--report: fail if the 'report' extra is missing; default: write it when "
                 "plotly is installed, else say it was skipped)",
        )
        parser.add_argument("--config", type=Path, help="TOML settings file ([strategy], [risk] limits, halt_file)")
        parser.add_argument("--journal", type=Path, help="record orders in this new SQLite journal")
        add_error_policy_argument(parser, default=ErrorPolicy.STOP_RUN)
        history = parser.add_argument_group("history from a broker (instead of --data)")
        history.add_argument("--data-from", metavar="BROKER", help="fetch bars through this broker plug-in (ibkr)")
        history.add_argument("--symbols", default="AAPL", help="comma-separated symbols to fetch (default AAPL)")
        parser.add_argument(
            "--bar-seconds", type=int, help="bar length in seconds (default: inferred from --data; 60 with --data-from)"
        )
        history.add_argument("--hours", type=float, default=6.5, help="how far back to fetch (default 6.5)")

    def run(self, args: argparse.Namespace) -> int:
        """Load, run, export, report."""
        settings = load_settings(args.config, os.environ)  # the command line's one read of the environment
        if args.data_from is not None and args.data is not None:
            msg = "give either --data or --data-from"
            raise ConfigError(msg, key="--data-from")
        strategy = strategy_from(args, settings)  # --param and [strategy] as in paper and live
        if args.report and not report_available():  # asked for: say so before a long replay, not after
            msg = f"the HTML report needs plotly, which is not installed: {INSTALL_HINT}"
            raise ReportUnavailableError(msg)
        config = parse_venue(args.venue)
        data = history_from_broker(args, settings) if args.data_from else bars_from_file(args)
        risk, halt_file = risk_limits(settings.risk, settings.source), explicit_halt_file(settings)
        journal = open_journal(args.journal) if args.journal is not None else None
        out = start_run(args, strategy.id, data, config)  # named now, created when the results are written
        try:
            result = run_backtest(
                strategy, data, config, progress=not args.no_progress, risk=risk, journal=journal, halt_file=halt_file,
                on_strategy_error=ErrorPolicy(args.on_strategy_error),
            )
        finally:
            if journal is not None:
                journal.close()
        written = write_outputs(result, open_run_folder(out, latest=args.out is None), mode="backtest",
                                strategies=[strategy.id], report=args.report)
        for line in result.outcome.lines():
            print(line)  # noqa: T201
        bars = f"{data.bar_count:,} bars"
        if result.partial:
            bars = f"PARTIAL: {result.bar_count:,} of {data.bar_count:,} bars replayed"
        print(  # noqa: T201
            f"{strategy.id}: {bars}, {len(result.orders)} orders{_denied(result)}, "
            f"{len(result.fills)} fills; equity {result.starting_cash:,.2f} -> {result.final_equity:,.2f}"
        )
        for label, value in headline(result.statistics):
            print(f"{label:>26}: {value}")  # noqa: T201
        if result.statistics.annualization_note:
            print(f"{'':>26}  ({result.statistics.annualization_note})")  # noqa: T201
        partial = " (partial results)" if result.partial else ""
        print(f"wrote {', '.join(p.name for p in written)} to {out}{partial}")  # noqa: T201
        return exit_code(result.outcome)


def bars_from_file(args: argparse.Namespace) -> BarData:
    """Load ``--data`` (default: the sample) with ``--tz``; bar length ``--bar-size``, ``--bar-seconds`` or inferred.

    Raises:
        ConfigError: If ``--data`` names nothing (key ``--data``).
        DataError: If the file is invalid (naming the file and line) or holds no bars.
    """
    path = args.data
    if path is not None and not path.exists():
        msg = f"bar file {path} does not exist; give a bar file or a folder of them, or leave --data out for the sample"
        raise ConfigError(msg, key="--data")
    duration = args.bar_size or (None if args.bar_seconds is None else timedelta(seconds=args.bar_seconds))
    source = path or sample_data_path()
    data = load_bars(source, duration, tz=args.tz)
    if not data.bar_count:
        raise DataError("no bars: the file has a header but no rows", source=str(source))
    return data


def history_from_broker(args: argparse.Namespace, settings: Settings) -> BarData:
    """Fetch ``--symbols`` bars of ``--bar-seconds`` over the last ``--hours`` through ``--data-from``.

    The broker is built from its plug-in and ``[brokers.<name>]`` settings, connected only for the
    fetch, and every series is validated like a bar file.

    Raises:
        BrokerConnectionError: If the broker cannot be reached.
        DataError: If it returns invalid bars, or none.
    """
    clock = SystemClock()
    broker = broker_plugin(args.data_from).create(settings.broker_settings(args.data_from), clock=clock)
    duration = args.bar_size or timedelta(seconds=args.bar_seconds or 60)
    end = clock.now()
    start = end - timedelta(hours=args.hours)
    broker.connect(lambda event: None)  # market data only: its events have no one to go to
    try:
        symbols = [s.strip() for s in args.symbols.split(",") if s.strip()]
        data = BarData([bars_from_source(broker, broker.resolve_instrument(s), duration, start, end) for s in symbols])
    finally:
        broker.disconnect()
    if not data.bar_count:
        msg = f"no bars of {args.symbols} in the last {args.hours:g} hours; try a longer --hours or other --symbols"
        raise DataError(msg, source=f"{args.data_from} history")
    return data


def start_run(args: argparse.Namespace, strategy_id: str, data: BarData, config: PaperConfig) -> Path:
    """Name the run's folder and print what runs: strategy, data, bar size, cash, costs, output."""
    out = next_run_folder("backtest", args.out)
    print(f"tradebus backtest: {strategy_id} on {describe_data(args, data)}")  # noqa: T201
    print(f"  {describe_venue(config)}; output {out}/", flush=True)  # noqa: T201
    return out


def describe_data(args: argparse.Namespace, data: BarData) -> str:
    """The data of the run in a few words: where it came from, its symbols and bar size."""
    sizes = sorted({series.duration for series in data.values()})
    size = ", ".join(format_size(s) for s in sizes) or "no"
    where = f"{args.data_from} history ({args.hours:g} h)" if args.data_from else (args.data or sample_data_path()).name
    return f"{where}: {', '.join(data)}; {size} bars"


def bar_size_argument(text: str) -> timedelta:
    """``--bar-size``: a whole number and a unit (``60s``, ``5m``, ``1h``, ``1d``); a usage error otherwise.

    Raises:
        argparse.ArgumentTypeError: If ``text`` is not a bar size (argparse names the option).
    """
    try:
        return parse_bar_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from e


def parse_venue(text: str) -> PaperConfig:
    """``--venue``: the simulated venue's settings as a JSON object over the defaults (:func:`venue_config`).

    Raises:
        ConfigError: If ``text`` is not a JSON object or a key is unknown or invalid (naming ``--venue`` and the key).
    """
    try:
        values = json.loads(text)
    except json.JSONDecodeError as e:
        msg = f"not valid JSON ({e.msg} at column {e.colno}); write an object such as '{{\"latency\": 1}}'"
        raise ConfigError(msg, key="--venue") from e
    if not isinstance(values, dict):
        msg = f"expected a JSON object such as '{{\"latency\": 1}}', got {text!r}"
        raise ConfigError(msg, key="--venue")
    try:
        return venue_config(values)
    except ValidationError as e:
        first = e.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{key}: {problem(first, PaperConfig)}", key="--venue") from e


def explicit_halt_file(settings: Settings) -> Path | None:
    """The kill switch's flag file when the settings name one (the default path belongs to live runs)."""
    if "halt_file" not in settings.model_fields_set:
        return None
    reason = halt_reason(settings.halt_file)
    if reason is not None:
        print(  # noqa: T201
            f"tradebus backtest: trading is halted ({reason}; {settings.halt_file}): every order is denied",
            file=sys.stderr,
        )
    return settings.halt_file


def open_journal(path: Path) -> SqliteJournal:
    """Open ``path`` as the run's journal (durable on a process crash, not on a power cut).

    Raises:
        ConfigError: If it already holds orders (backtest order ids repeat every run).
    """
    journal = SqliteJournal(path, synchronous="normal")  # a backtest can be run again: no fsync per write
    if journal.orders():
        journal.close()
        msg = "the journal already holds orders; backtest order ids (BT.1 ...) repeat every run, so give a new file"
        raise ConfigError(msg, key="--journal", source=str(path))
    return journal


def _denied(result: RunResult) -> str:
    count = sum(1 for o in result.orders if o.status is OrderStatus.DENIED)
    return f" ({count} denied)" if count else ""


COMMAND = BacktestCommand()
