"""The executor a command runs its sweep on, chosen by ``--executor`` and ``--workers``.

Shared by ``tradebus sweep`` and the commands built on sweeps, so each offers the same choice.
"""

from __future__ import annotations

import argparse

from framework.errors import ConfigError
from tradebus.sweep.executors import Executor
from tradebus.sweep.executors import LocalExecutor

EXECUTORS = ("local",)
"""The values ``--executor`` takes."""


def add_executor_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--executor`` and ``--workers`` to ``parser``."""
    parser.add_argument("--executor", choices=EXECUTORS, default="local", help="where the backtests run")
    parser.add_argument("--workers", type=int, help="worker processes (default: the CPU count)")


def executor_from_args(args: argparse.Namespace) -> Executor:
    """The executor ``args`` ask for.

    Raises:
        ConfigError: A worker count below 1, naming ``--workers``.
    """
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"must be at least 1, got {args.workers}", key="--workers")
    return LocalExecutor(args.workers)
