"""Built-in ``tradebus`` commands that work with any broker plug-in: ``brokers``, ``live``, ``paper``.

``live`` runs a strategy on a broker (``--broker ibkr``); ``paper`` runs it on the ``paper``
broker, which simulates fills over another broker's live market data (``--data-from ibkr``). Both
build everything from plug-ins and settings, so a strategy moves from paper to live by changing one
word. Each broker keeps its own order journal unless ``journal`` is set (``runs/paper/journal.sqlite``
for paper runs, ``runs/ibkr/journal.sqlite`` for live runs on IBKR); each run writes its report and
exports to a new ``runs/<mode>/<run id>/`` (``runs/<mode>/latest`` names the newest; ``--out`` or
``output`` choose another folder). Paper runs start from the application's defaults
(:mod:`tradebus.defaults`); ``--gateway sim`` trades on a simulated IBKR gateway on this machine with
no settings file (:mod:`tradebus.local_gateway`). Broker packages add their own commands
(``backtest``, ``demo``, ``gateway-sim``).

A strategy whose hook raises is stopped by default (``--on-strategy-error`` or ``[engine]
on_strategy_error`` choose otherwise); Ctrl-C stops the run cleanly. Either way the summary says
what happened, the exports are written, and the exit code tells it (see :mod:`tradebus.interrupts`).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Callable
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from brokers.paper.config import PaperConfig
from framework.broker import Broker
from framework.clock import Clock
from framework.clock import SystemClock
from framework.config import ErrorPolicy
from framework.config import StrategyConfig
from framework.engine import Engine
from framework.errors import BrokerConnectionError
from framework.errors import ConfigError
from framework.redaction import masked
from framework.redaction import redact
from framework.strategy import Strategy
from tradebus.assembly import assemble
from tradebus.assembly import risk_limits
from tradebus.assembly import run_session
from tradebus.console import ConsoleView
from tradebus.defaults import describe_venue
from tradebus.defaults import fill_defaults
from tradebus.failures import output_closed
from tradebus.interrupts import exit_code
from tradebus.journal import SqliteJournal
from tradebus.loading import create_strategy
from tradebus.loading import parse_params
from tradebus.local_gateway import local_tls_hint
from tradebus.local_gateway import sim_gateway
from tradebus.plugins import broker_plugin
from tradebus.plugins import describe_plugins
from tradebus.recording import write_outputs
from tradebus.runs import next_run_folder
from tradebus.runs import open_run_folder
from tradebus.settings import DEFAULT_JOURNALS
from tradebus.settings import Settings
from tradebus.settings import SettingsSection
from tradebus.settings import load_settings

log = logging.getLogger(__name__)

SHARED_JOURNAL = DEFAULT_JOURNALS / "journal.sqlite"  # the default before each broker had its own

class BrokersCommand:
    """``tradebus brokers``: list installed broker plug-ins."""

    name = "brokers"
    help = "list installed broker plug-ins"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        """No arguments."""

    def run(self, args: argparse.Namespace) -> int:
        """Print one line per plug-in."""
        infos = describe_plugins()
        width = max((len(i.name) for i in infos), default=0)
        for info in infos:
            mark = " " if info.loaded else "!"
            print(f"{mark} {info.name:<{width}}  {info.description}  [{info.target}]")  # noqa: T201
        return 0 if all(i.loaded for i in infos) else 1


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments shared by commands that run a strategy."""
    parser.add_argument("strategy", nargs="?", help="strategy class: package.module:Class or file.py[:Class]")
    parser.add_argument("--config", type=Path, help="TOML settings file")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="strategy parameter")
    parser.add_argument("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    parser.add_argument("--quiet", action="store_true", help="no live view, summary only")
    parser.add_argument("--out", type=Path, help="report and exports folder (default: a new runs/<mode>/<run id>/)")
    parser.add_argument(
        "--gateway", choices=["sim"],
        help="sim: the IBKR gateway is the simulated one on this machine: the running `tradebus gateway-sim` "
             "(runs/gateway-sim.json), else one started for this run; no settings file needed",
    )
    add_error_policy_argument(parser, default=None)


def add_error_policy_argument(parser: argparse.ArgumentParser, *, default: ErrorPolicy | None) -> None:
    """``--on-strategy-error``: what to do when a strategy's hook raises."""
    choices = [p.value for p in ErrorPolicy]
    shown = default.value if default is not None else "settings [engine] on_strategy_error, else stop-strategy"
    parser.add_argument(
        "--on-strategy-error", choices=choices, default=default.value if default is not None else None,
        help=f"when a strategy raises: stop it (cancel its working orders, keep positions), stop the run, "
             f"or log and continue (default: {shown})",
    )


def announce(mode: str) -> Callable[[Engine], None]:
    """A ``started`` callback printing that the run is going and how to stop it."""
    def started(engine: Engine) -> None:
        names = ", ".join(s.id for s in engine.strategies)
        try:
            print(f"tradebus {mode}: running {names} on {engine.broker.name}; Ctrl-C stops", flush=True)  # noqa: T201
        except BrokenPipeError:  # stdout's reader left before the run began: trade on, print nowhere
            output_closed(sys.stdout)
    return started


def resolve_settings(args: argparse.Namespace) -> Settings:
    """Load settings from ``--config`` and the environment (the CLI's one read of ``os.environ``)."""
    return load_settings(args.config, os.environ)


def strategy_from(args: argparse.Namespace, settings: Settings) -> Strategy[Any]:
    """Build the strategy from the command line and the ``[strategy]`` section, the same way in every mode.

    ``STRATEGY`` on the command line wins over ``[strategy] spec``; the section's ``params`` apply
    when it names the same strategy (a warning says so when they are left out), and each ``--param``
    overrides the parameter of that name. A bad value names where it came from: ``--param fast``, or
    ``strategy.params.fast`` and the settings file (or the ``TRADEBUS_*`` variable that set it).

    Raises:
        ConfigError: If no strategy is named, or a parameter is malformed or invalid.
        StrategyLoadError: If the strategy cannot be imported.
    """
    section = settings.strategy
    spec = args.strategy or (section.spec if section else None)
    if not spec:
        msg = "no strategy given: pass STRATEGY or set [strategy] spec in the config file"
        raise ConfigError(msg, key="strategy", source=settings.source)
    params: dict[str, Any] = {}
    origins: dict[str, tuple[str, str | None]] = {}
    if section is not None and section.spec == spec:
        params.update(section.params)
        origins.update({k: (f"strategy.params.{k}", settings.source_of(f"strategy.params.{k}")) for k in params})
    elif section is not None and section.params:
        log.warning("[strategy] params of %s are not applied: they belong to %s, and this run's strategy is %s",
                    settings.source, section.spec, spec)
    given = parse_params(args.param)
    params.update(given)
    origins.update({k: (f"--param {k}", None) for k in given})
    return create_strategy(spec, params, strategy_id=section.id if section else None, source=settings.source,
                           origins=origins)


def run_from_settings(broker: Broker, clock: Clock, settings: Settings, strategy: Strategy[Any], *,
                      duration: float | None, quiet: bool, mode: str = "run",
                      on_strategy_error: str | None = None, out: Path | None = None,
                      costs: str = "cash and costs: the broker account's") -> int:
    """Assemble the run the settings describe (journal, ``[risk]``, kill switch), run it and report.

    It first prints what runs: the mode, the strategy and its parameters, the broker, ``costs`` and
    the output folder (``out``, else ``output``, else a new ``runs/<mode>/<run id>/``).

    Returns:
        The exit code: 0, 1 when a strategy failed, 130 when Ctrl-C interrupted the run.
    """
    path = settings.journal_path(broker.name)
    if settings.journal is None and SHARED_JOURNAL.exists():
        log.warning("%s is no longer the default journal: this run journals to %s (set journal = \"%s\" to keep "
                    "using the old file; recovery there adopts only this venue's orders)", SHARED_JOURNAL, path,
                    SHARED_JOURNAL)
    limits = risk_limits(settings.risk, settings.source)  # a bad [risk] key stops the run before any file is made
    config = settings.engine
    if on_strategy_error is not None:
        config = config.model_copy(update={"on_strategy_error": ErrorPolicy(on_strategy_error)})
    chosen = out or settings.output
    folder = next_run_folder(mode, chosen)  # created when the run has something to write
    print(f"tradebus {mode}: {describe_strategy(strategy)} on {broker.name}", flush=True)  # noqa: T201
    print(f"  {costs}; output {folder}/", flush=True)  # noqa: T201
    journal = SqliteJournal(path)
    run = assemble(broker, clock, [strategy], config=config, journal=journal, risk=limits,
                   halt_file=settings.halt_file)
    result = run_session(run, duration=timedelta(seconds=duration) if duration else None,
                         view=None if quiet else sys.stdout, started=announce(mode))
    print(ConsoleView.summary(run.engine))  # noqa: T201
    outputs = write_outputs(result, open_run_folder(folder, latest=chosen is None), mode=mode,
                            strategies=[strategy.id])
    print(f"journal: {path}; report and exports: {folder} ({len(outputs)} files)")  # noqa: T201
    return exit_code(result.outcome)


def describe_strategy(strategy: Strategy[Any]) -> str:
    """The strategy's id and parameters in one line (``SmaCross(symbol=AAPL, fast=10, ...)``), secrets masked."""
    config = getattr(strategy, "config", None)
    fields = config.model_dump(mode="json") if isinstance(config, StrategyConfig) else {}
    shown = {k: masked(k, v) for k, v in fields.items() if k not in StrategyConfig.model_fields or v is not None}
    return redact(f"{strategy.id}({', '.join(f'{k}={v}' for k, v in shown.items())})")  # secret parameters: ***


@contextlib.contextmanager
def local_gateway(args: argparse.Namespace, section: SettingsSection, broker: str) -> Iterator[None]:
    """With ``--gateway sim``: find or start the simulated gateway and point ``section`` (``[brokers.ibkr]``) at it.

    A certificate refused by a gateway on this machine gets a second line saying how to fix it.

    Raises:
        ConfigError: If ``--gateway sim`` is given for another broker than ``ibkr``.
    """
    try:
        if args.gateway is None:
            yield
            return
        if broker != "ibkr":
            msg = f"--gateway sim simulates the ibkr gateway; it cannot serve broker {broker!r}"
            raise ConfigError(msg, key="--gateway")
        with sim_gateway() as gateway:
            section.update(gateway.ibkr_settings())
            print(gateway.describe(), flush=True)  # noqa: T201
            yield
    except BrokerConnectionError as e:
        hint = local_tls_hint(e)
        if hint is None:
            raise
        raise BrokerConnectionError(f"{e}; {hint}") from e


class LiveCommand:
    """``tradebus live STRATEGY --broker NAME``: trade on a broker."""

    name = "live"
    help = "run a strategy live on a broker (refuses live accounts without --i-understand-live)"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        """Strategy, broker and the live-account acknowledgement."""
        add_run_arguments(parser)
        parser.add_argument("--broker", help="broker plug-in (default: settings 'broker', else ibkr)")
        parser.add_argument(
            "--i-understand-live",
            action="store_true",
            help="allow trading a live (non-paper) account; real money is at stake",
        )

    def run(self, args: argparse.Namespace) -> int:
        """Build broker + engine + strategy from settings and run."""
        settings = resolve_settings(args)
        name = args.broker or settings.broker or "ibkr"
        broker_settings = settings.broker_settings(name)
        if args.i_understand_live:  # the only way a run from the command line allows a live account
            broker_settings.allow_live("--i-understand-live")
        clock = SystemClock()
        with local_gateway(args, broker_settings, name):
            broker = broker_plugin(name).create(broker_settings, clock=clock)
            strategy = strategy_from(args, settings)
            return run_from_settings(broker, clock, settings, strategy, duration=args.duration, quiet=args.quiet,
                                     mode="live", on_strategy_error=args.on_strategy_error, out=args.out)


class PaperCommand:
    """``tradebus paper STRATEGY --data-from NAME``: simulated fills on a broker's live data."""

    name = "paper"
    help = "paper-trade a strategy: simulated fills on a live broker's market data"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        """Strategy and the market-data source."""
        add_run_arguments(parser)
        parser.add_argument("--data-from", help="broker plug-in supplying market data (default: ibkr)")

    def run(self, args: argparse.Namespace) -> int:
        """Build data broker + paper broker + engine + strategy and run."""
        settings = resolve_settings(args)
        source = args.data_from or settings.data_from or "ibkr"
        clock = SystemClock()
        data_settings, paper_settings = settings.broker_settings(source), settings.broker_settings("paper")
        fill_defaults(paper_settings)
        if args.gateway is not None:
            paper_settings.setdefault("market_hours", "always")  # the simulated market never closes
        with local_gateway(args, data_settings, source):
            data = broker_plugin(source).create(data_settings, clock=clock)
            broker = broker_plugin("paper").create(paper_settings, clock=clock, data=data)
            strategy = strategy_from(args, settings)
            venue = getattr(broker, "config", None)  # PaperBroker's
            costs = describe_venue(venue) if isinstance(venue, PaperConfig) else "cash and costs: the paper broker's"
            return run_from_settings(broker, clock, settings, strategy, duration=args.duration, quiet=args.quiet,
                                     mode="paper", on_strategy_error=args.on_strategy_error, out=args.out,
                                     costs=costs)


BROKERS = BrokersCommand()
LIVE = LiveCommand()
PAPER = PaperCommand()
