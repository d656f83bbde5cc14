"""The executor a command runs its sweep on, chosen by ``--executor``, ``--workers`` and ``--address``.

Shared by ``tradebus sweep`` and the commands built on sweeps, so each offers the same choice.
"""

from __future__ import annotations

import argparse

from framework.errors import ConfigError
from tradebus.sweep.executors import Executor
from tradebus.sweep.executors import LocalExecutor
from tradebus.sweep.ray_executor import RayExecutor
from tradebus.sweep.ray_executor import require_ray

EXECUTORS = ("local", "ray")
"""The values ``--executor`` takes."""


def add_executor_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--executor``, ``--workers`` and ``--address`` to ``parser``."""
    parser.add_argument("--executor", choices=EXECUTORS, default="local",
                        help="where the backtests run: a local process pool, or Ray (pip install 'tradebus[ray]')")
    parser.add_argument("--workers", type=int,
                        help="worker processes (default: the CPU count); with ray, the runs in flight at once")
    parser.add_argument("--address", metavar="HOST:PORT",
                        help="with --executor ray: join the Ray cluster there (default: start a local Ray)")


def executor_from_args(args: argparse.Namespace) -> Executor:
    """The executor ``args`` ask for.

    Raises:
        ConfigError: A worker count below 1, naming ``--workers``; ``--address`` without ``--executor ray``.
            ``--executor ray`` without Ray installed, naming ``--executor`` and the ``ray`` extra.
    """
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"must be at least 1, got {args.workers}", key="--workers")
    address = getattr(args, "address", None)
    if args.executor == "ray":
        try:
            require_ray()  # before any work: one line with the install command
        except ImportError as e:
            raise ConfigError(str(e), key="--executor") from e
        return RayExecutor(address=address, workers=args.workers)
    if address is not None:
        raise ConfigError("joins a Ray cluster: add --executor ray", key="--address")
    return LocalExecutor(args.workers)
