"""The simulated gateway's own program: ``python -m simulators.ibkr`` (and ``tradebus gateway-sim``).

Prints one line ``READY port=<n> ca_file=<path> base_url=<url> ws_url=<url>`` on stdout once it
serves (child-process helpers wait for it), then logs to stderr until interrupted. With
``--announce-file PATH`` it also writes the same facts and its process id there as JSON (``tradebus
gateway-sim`` writes ``runs/gateway-sim.json``, which ``tradebus paper/live --gateway sim`` read to
find it), and removes the file when it stops.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

from framework.clock import SystemClock
from simulators.ibkr import tls
from simulators.ibkr.app import start
from simulators.ibkr.config import MarketHours
from simulators.ibkr.config import MarketMode
from simulators.ibkr.config import SessionState
from simulators.ibkr.config import SimulatorConfig
from simulators.ibkr.core import GatewayCore
from simulators.ibkr.instruments import load_bars
from simulators.ibkr.persistence import BookStore
from simulators.ibkr.persistence import load

STATE_DIR = Path(tempfile.gettempdir()) / "tradebus-gateway-sim"


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    """Build the simulator settings from parsed command-line options."""
    updates: dict[str, Any] = {
        "market_mode": MarketMode(args.market), "pacing_enabled": not args.no_pacing,
        "partial_fills": args.partial_fills, "initial_state": SessionState(args.state),
        "ws_binary_frames": args.binary_frames, "paper": not args.live_account,
        "market_hours": MarketHours(args.market_hours),
    }
    optional = {"seed": args.seed, "starting_cash": args.cash, "replay_speed": args.speed,
                "tick_interval": args.tick_interval, "idle_timeout": args.idle_timeout, "account_id": args.account,
                "nightly_reset_at": args.nightly_reset_at, "nightly_reset_timezone": args.nightly_reset_tz}
    updates.update({k: v for k, v in optional.items() if v is not None})
    if args.live_account and args.account is None:
        updates["account_id"] = "U1234567"
    return SimulatorConfig().with_updates(updates)


async def serve(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM."""
    ca_file = args.ca_file or STATE_DIR / "ca.pem"
    key_file = args.ca_key_file or (STATE_DIR / "ca.key" if args.ca_file is None else None)
    context = tls.server_context(tls.load_or_create_ca(ca_file, key_file))
    bars = load_bars(args.data) if args.data is not None else []
    store = saved = None
    if args.state_file is not None:  # the books survive a restart, as IBKR's do
        saved = load(args.state_file)
        store = BookStore(args.state_file)
    core = GatewayCore(config_from_args(args), SystemClock(), bars, store=store, saved=saved)
    server = await start(core, args.host, args.port, context)
    host = "localhost" if args.host in ("127.0.0.1", "localhost") else args.host
    facts = {"port": server.port, "ca_file": str(Path(ca_file).resolve()),
             "base_url": f"https://{host}:{server.port}/v1/api", "ws_url": f"wss://{host}:{server.port}/v1/api/ws"}
    stop = asyncio.Event()  # SIGTERM is handled from the moment anyone can know the gateway is up
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    announce_file: Path | None = getattr(args, "announce_file", None)
    if announce_file is not None:  # before READY: whoever waits for READY finds the file
        announce(announce_file, {**facts, "pid": os.getpid()})
    sys.stdout.write("READY " + " ".join(f"{k}={v}" for k, v in facts.items()) + "\n")
    sys.stdout.flush()
    await stop.wait()
    if announce_file is not None:
        withdraw(announce_file)
    await server.stop()
    if store is not None:
        store.market(core.market.quotes(), core.clock.monotonic(), force=True)
        store.close()
    return 0


def announce(path: Path, facts: dict[str, object]) -> None:
    """Write where the gateway listens (port, URLs, CA file, process id) to ``path`` as JSON, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_name(f".{path.name}.{os.getpid()}")
    staged.write_text(json.dumps(facts, indent=2) + "\n", encoding="utf-8")
    os.replace(staged, path)


def withdraw(path: Path) -> None:
    """Remove the file :func:`announce` wrote, unless another gateway has written it since."""
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
            path.unlink()


HELP = "run a simulated IBKR Client Portal gateway (HTTPS + WSS on loopback)"
"""One line describing the program."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the gateway's options to ``parser``."""
    parser.add_argument("--port", type=int, default=5000, help="TCP port (0 = any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (keep it loopback)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the market and ids")
    parser.add_argument("--data", type=Path, default=None, help="bars CSV to replay")
    parser.add_argument("--speed", type=float, default=None, help="replay speed in bars per second")
    parser.add_argument("--tick-interval", type=float, default=None, help="seconds between market steps")
    parser.add_argument("--market", choices=[m.value for m in MarketMode], default="auto")
    parser.add_argument("--market-hours", choices=[m.value for m in MarketHours], default="always",
                        help="always: the market never closes (default); exchange: US trading hours, holidays, "
                             "frozen quotes while closed")
    parser.add_argument("--ca-file", type=Path, default=None, help=f"CA PEM to write (default {STATE_DIR})")
    parser.add_argument("--ca-key-file", type=Path, default=None, help="CA key, to reuse the CA")
    parser.add_argument("--no-pacing", action="store_true", help="disable rate limits (load tests)")
    parser.add_argument("--partial-fills", action="store_true", help="fill at most the displayed size")
    parser.add_argument("--live-account", action="store_true", help="report a live-looking U account")
    parser.add_argument("--account", default=None, help="account id (default DU1234567)")
    parser.add_argument("--idle-timeout", type=float, default=None, help="brokerage idle timeout, seconds")
    parser.add_argument("--state", choices=[s.value for s in SessionState], default="authenticated",
                        help="session state at start")
    parser.add_argument("--binary-frames", action="store_true", help="send websocket JSON as binary frames")
    parser.add_argument("--state-file", type=Path, default=None, metavar="PATH",
                        help="keep orders, executions, positions and prices in this file across restarts")
    parser.add_argument("--cash", type=Decimal, default=None, help="starting cash of the account (default 1,000,000)")
    parser.add_argument("--announce-file", type=Path, default=None, metavar="PATH",
                        help="write port, URLs, CA file and process id here as JSON while serving")
    parser.add_argument("--nightly-reset-at", default=None, metavar="HH:MM",
                        help="daily scheduled nightly reset at this local time (default off)")
    parser.add_argument("--nightly-reset-tz", default=None, metavar="ZONE",
                        help="IANA time zone of --nightly-reset-at (default America/New_York)")


def run(args: argparse.Namespace) -> int:
    """Run the gateway until interrupted."""
    return asyncio.run(serve(args))


def main(argv: list[str] | None = None) -> int:
    """Run ``gateway-sim`` without the ``tradebus`` front end (``python -m simulators.ibkr``)."""
    parser = argparse.ArgumentParser(prog="python -m simulators.ibkr", description=HELP)
    parser.add_argument("-v", "--verbose", action="count", default=0)
    add_arguments(parser)
    args = parser.parse_args(argv)
    level = logging.WARNING if args.verbose == 0 else logging.INFO if args.verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    return run(args)
