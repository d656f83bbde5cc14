"""The soak's command line (``python benchmarks/soak.py``): options, the run, the summary, the exit code.

Exit codes: 0 every invariant held, 1 one failed, 2 bad options, 130 interrupted by Ctrl-C before
the verdict.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from framework.errors import ConfigError
from framework.private_files import private_file
from tradebus.cli import configure_logging
from tradebus.soak.faults import CATALOGUE
from tradebus.soak.runner import run_soak
from tradebus.soak.settings import DEFAULT_SYMBOLS
from tradebus.soak.settings import SoakConfig
from tradebus.soak.summary import render

DESCRIPTION = ("Soak test (R24): trade through the IBKR adapter, engine and journal against the simulated gateway "
               "with seeded random faults from R1-R15, check the invariants, print a summary.")


def build_parser() -> argparse.ArgumentParser:
    """The soak's options."""
    parser = argparse.ArgumentParser(prog="soak", description=DESCRIPTION)
    parser.add_argument("--minutes", type=float, default=60.0, help="wall-clock minutes to trade (default 60)")
    parser.add_argument("--speed", type=float, default=8.0,
                        help="simulated seconds per wall second: market, timers and faults (default 8)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the market, the strategy and the faults")
    parser.add_argument("--symbols", default=",".join(DEFAULT_SYMBOLS), help="instruments, comma separated")
    parser.add_argument("--fault-gap", type=float, default=120.0,
                        help="mean simulated seconds between faults (default 120)")
    parser.add_argument("--faults", default=None, help="fault kinds to inject, comma separated (default all; "
                                                      "--list-faults shows them)")
    parser.add_argument("--action-interval", type=float, default=0.5,
                        help="wall seconds between the strategy's actions (default 0.5)")
    parser.add_argument("--warmup", type=float, default=None, help="wall seconds before the resource baseline")
    parser.add_argument("--workdir", type=Path, default=None, help="folder for the journal (default: a temp folder)")
    parser.add_argument("--out", type=Path, default=None, help="write the summary as JSON to this file")
    parser.add_argument("--log-file", type=Path, default=None, help="append the log to this file too")
    parser.add_argument("--list-faults", action="store_true", help="list the fault kinds and exit")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="-v: faults and recoveries; -vv: debug")
    return parser


def config_from(args: argparse.Namespace) -> SoakConfig:
    """The options as a :class:`SoakConfig`.

    Raises:
        ConfigError: An option is out of range (naming it).
    """
    symbols = tuple(s.strip().upper() for s in args.symbols.split(",") if s.strip())
    faults = tuple(f.strip() for f in args.faults.split(",") if f.strip()) if args.faults else None
    return SoakConfig(minutes=args.minutes, speed=args.speed, seed=args.seed, symbols=symbols,
                      fault_gap=args.fault_gap, faults=faults, action_interval=args.action_interval,
                      warmup=args.warmup, workdir=args.workdir)


def main(argv: Sequence[str] | None = None) -> int:
    """Run a soak from the command line; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list_faults:
        for kind in CATALOGUE:
            print(f"{kind.name:<16} {kind.rid}")  # noqa: T201
        return 0
    configure_logging(args.verbose, args.log_file)
    try:
        config = config_from(args)
        print(f"soak: {config.minutes:g} min at speed {config.speed:g} (seed {config.seed}), "  # noqa: T201
              f"{', '.join(config.symbols)}", flush=True)
        report = run_soak(config)
    except (ConfigError, ValueError) as e:
        print(f"soak: {e}", file=sys.stderr)  # noqa: T201
        return 2
    except KeyboardInterrupt:
        print("soak: interrupted", file=sys.stderr)  # noqa: T201
        return 130
    print(render(report.summary), flush=True)  # noqa: T201
    if args.out is not None:
        private_file(args.out).write_text(json.dumps(report.summary, indent=2) + "\n", encoding="utf-8")
        print(f"summary: {args.out}", flush=True)  # noqa: T201
    print(f"journal: {report.journal}", flush=True)  # noqa: T201
    return 0 if report.passed else 1
