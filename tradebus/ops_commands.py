"""Operational commands: ``tradebus journal`` (show orders and fills) and ``tradebus halt``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from framework.clock import SystemClock
from framework.errors import ConfigError
from framework.killswitch import clear
from framework.killswitch import halt
from framework.killswitch import halt_reason
from tradebus.eventlog import order_terms
from tradebus.journal import SqliteJournal
from tradebus.settings import load_settings


class JournalCommand:
    """``tradebus journal``: list the journaled orders (and fills) of a run."""

    name = "journal"
    help = "show orders and fills recorded in the order journal"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        """Journal path, run filter, fills."""
        parser.add_argument("--config", type=Path, help="TOML settings file (for the journal path)")
        parser.add_argument("--path", type=Path,
                            help="journal file (default: settings 'journal', else runs/<broker>/journal.sqlite)")
        parser.add_argument("--broker", help="whose default journal: a broker plug-in, or paper for paper runs "
                                             "(default: settings 'broker', else ibkr)")
        parser.add_argument("--run", help="only this run id (default: every run)")
        parser.add_argument("--fills", action="store_true", help="also list every fill")

    def run(self, args: argparse.Namespace) -> int:
        """Print one line per order, then fills."""
        path: Path = args.path
        key, source = "--path", None
        if path is None:
            settings = load_settings(args.config, os.environ)
            path = settings.journal_path(args.broker or settings.broker or "ibkr")
            key, source = ("journal", settings.source) if settings.journal is not None else ("--broker", None)
        if not path.is_file():
            msg = f"no journal at {path}; give the journal of a run with --path, or the run's --broker or --config"
            raise ConfigError(msg, key=key, source=source)
        journal = SqliteJournal(path)
        try:
            runs = journal.run_ids()
            if args.run is not None and args.run not in runs:
                msg = f"no run {args.run!r} in {path}; its runs: {', '.join(runs) or 'none'}"
                raise ConfigError(msg, key="--run")
            orders = journal.orders(run_id=args.run)
            print(f"journal {path}: {len(runs)} run(s): {', '.join(runs) or 'none'}")  # noqa: T201
            for o in orders:
                r = o.request
                avg = f" avg {o.average_fill_price:.4f}" if o.average_fill_price is not None else ""
                reason = f" ({o.reason})" if o.reason else ""
                line = (
                    f"{o.updated:%Y-%m-%d %H:%M:%S}  {o.client_order_id:<14} {r.strategy_id:<12} {r.side.value:<4} "
                    f"{r.quantity} {r.symbol} {order_terms(r)}  {o.status.value}  "
                    f"filled {o.filled_quantity}{avg}{reason}"
                )
                print(line)  # noqa: T201
            if args.fills:
                wanted = {o.client_order_id for o in orders}
                for f in journal.fills():
                    if f.client_order_id in wanted:
                        print(  # noqa: T201
                            f"fill {f.execution_id}  {f.client_order_id}  {f.side.value} {f.quantity} {f.symbol} "
                            f"@ {f.price}  commission {f.commission}  {f.ts:%Y-%m-%d %H:%M:%S}"
                        )
        finally:
            journal.close()
        return 0


class HaltCommand:
    """``tradebus halt``: engage (or clear) the kill switch of every engine watching the flag file."""

    name = "halt"
    help = "kill switch: stop new orders and cancel open ones in running engines (--clear to resume)"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        """Reason, clear, flag file."""
        parser.add_argument("--config", type=Path, help="TOML settings file (for the flag file path)")
        parser.add_argument("--flag-file", type=Path, help="flag file (default: settings 'halt_file')")
        parser.add_argument("--reason", default="halted from the command line", help="why (shown in denials)")
        parser.add_argument("--clear", action="store_true", help="remove the halt")
        parser.add_argument("--status", action="store_true", help="only say whether trading is halted")

    def run(self, args: argparse.Namespace) -> int:
        """Write, remove or report the flag file."""
        flag: Path = args.flag_file or load_settings(args.config, os.environ).halt_file
        if args.status:
            reason = halt_reason(flag)
            print(f"halted: {reason}" if reason else "not halted", f"({flag})")  # noqa: T201
            return 0
        if args.clear:
            existed = clear(flag)
            print(f"halt cleared ({flag})" if existed else f"was not halted ({flag})")  # noqa: T201
            return 0
        halt(flag, args.reason, SystemClock().now())
        print(f"trading halted: {args.reason} ({flag}); engines stop within a second")  # noqa: T201
        return 0


JOURNAL = JournalCommand()
HALT = HaltCommand()
