"""The ``tradebus demo`` command.

Starts the simulated Client Portal gateway in this process (real HTTPS and WSS on 127.0.0.1, its own
CA), connects the real IBKR adapter to it with TLS verified, and runs the SMA-crossover strategy on
one-second bars with the live console view (and the event log with ``-v``). The run is assembled
like every other (:mod:`tradebus.assembly`): orders pass the same risk checks, journal, kill switch
(``tradebus halt`` stops it) and reply dialogue as live trading. At the end it prints a summary and
where the journal, the exports and the report were written: a new ``runs/demo/<run id>/``
(``runs/demo/latest`` names the newest), or ``--out``.

**Repeatable.** The simulated market is a seeded walk whose trend turns every five seconds
(:data:`DEMO_MARKET`), so the averages cross on a schedule: with the default seed and averages the
demo buys 100 AAPL, sells them, buys and sells again, and stops once those four orders have filled
(``--until-fills``, about 25 seconds), every time. Order times and fill prices move with the wall
clock by a tick or two; the orders do not. The account starts with the application's defaults
(:mod:`tradebus.defaults`: 100,000 USD, IBKR's per-share commission).

Needs no account and no network beyond loopback. Ctrl-C
stops it cleanly: the summary says it was interrupted, the exports cover what was done, and the
exit code is 130 (1 if the strategy failed; see :mod:`tradebus.interrupts`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from brokers.ibkr.broker import IbkrBroker
from brokers.ibkr.config import IbkrConfig
from framework.clock import SystemClock
from framework.config import EngineConfig
from framework.config import ErrorPolicy
from framework.engine import Engine
from framework.models import OrderStatus
from framework.risk import RiskConfig
from simulators.ibkr import SimulatedGateway
from simulators.ibkr import SimulatorConfig
from tradebus.assembly import Run
from tradebus.assembly import assemble
from tradebus.assembly import run_session
from tradebus.commands import add_error_policy_argument
from tradebus.commands import announce
from tradebus.console import ConsoleView
from tradebus.defaults import COMMISSION
from tradebus.defaults import STARTING_CASH
from tradebus.interrupts import exit_code
from tradebus.journal import SqliteJournal
from tradebus.loading import create_strategy
from tradebus.local_gateway import SIM_CONFIRMS
from tradebus.recording import write_outputs
from tradebus.runs import run_folder

STRATEGY = "strategies.sma_cross:SmaCross"

# Precaution questions the demo confirms: "o403" (the order will trigger and fill at once) is what a
# marketable order draws. Anything else (price far from the market, size limits, no market data)
# is declined and the order ends as OrderRejected with the gateway's text, exactly as in live use.
DEMO_CONFIRMS = SIM_CONFIRMS

DEMO_MARKET = SimulatorConfig(
    tick_interval=0.1, regime_steps=50, trend=1.0,  # the trend turns every 50 steps (5 s): the averages cross
    starting_cash=STARTING_CASH, commission_per_share=COMMISSION.rate, commission_minimum=COMMISSION.minimum,
    commission_max_pct=(COMMISSION.maximum_percent or 100) / 100,
)
"""The demo's simulated gateway: a zig-zag market, and the account and costs of :mod:`tradebus.defaults`."""

FAST, SLOW, UNTIL_FILLS = 2, 4, 4
"""The demo's averages (in one-second bars) and the fills after which it stops: two round trips."""


class DemoCommand:
    """``tradebus demo``: a bounded, offline, end-to-end run on the simulated gateway."""

    name = "demo"
    help = "run the SMA crossover through the IBKR adapter on the simulated gateway (no account needed)"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        """Duration, instrument, seed, averages and output folder."""
        parser.add_argument("--duration", type=float, default=60.0, help="most seconds to trade (default 60)")
        parser.add_argument("--fast", type=int, default=FAST, help=f"fast average, in one-second bars (default {FAST})")
        parser.add_argument("--slow", type=int, default=SLOW, help=f"slow average, in one-second bars (default {SLOW})")
        parser.add_argument(
            "--until-fills", type=int, default=UNTIL_FILLS, metavar="N",
            help=f"stop once N orders have filled (default {UNTIL_FILLS}; 0: trade for the whole --duration)",
        )
        parser.add_argument("--symbol", default="AAPL", help="instrument to trade (default AAPL)")
        parser.add_argument("--seed", type=int, default=7, help="seed of the simulated market (default 7)")
        parser.add_argument("--out", type=Path, help="output folder (default: a new runs/demo/<run id>/)")
        parser.add_argument("--halt-file", type=Path, default=Path("runs/HALT"),
                            help="kill switch flag file, as for `tradebus halt` (default runs/HALT)")
        parser.add_argument("--quiet", action="store_true", help="summary only, no live view")
        add_error_policy_argument(parser, default=ErrorPolicy.STOP_STRATEGY)

    def run(self, args: argparse.Namespace) -> int:
        """Start the gateway, trade for ``--duration`` seconds, and report."""
        out = run_folder("demo", args.out)
        # every demo trades a new simulated account: a previous demo's journal (in an --out folder)
        # describes a gateway that no longer exists, and recovering its orders here would be meaningless
        for leftover in ("journal.sqlite", "journal.sqlite-wal", "journal.sqlite-shm"):
            (out / leftover).unlink(missing_ok=True)
        with SimulatedGateway(port=0, seed=args.seed, config=DEMO_MARKET) as gateway:
            say(f"simulated IBKR gateway at {gateway.base_url} (CA {gateway.ca_file}), seed {args.seed}")
            until = f"until {args.until_fills} orders have filled, at most " if args.until_fills else "for "
            say(f"tradebus demo: {STRATEGY} (fast {args.fast}, slow {args.slow}, 100 shares) on {args.symbol} "
                f"one-second bars, {until}{args.duration:.0f} s; cash {STARTING_CASH:,.2f} USD, commission "
                f"{COMMISSION.rate} USD/share (min {COMMISSION.minimum}); output {out}/; Ctrl-C stops early")
            run = build_run(gateway, out, args.symbol, fast=args.fast, slow=args.slow, halt_file=args.halt_file,
                            on_strategy_error=ErrorPolicy(args.on_strategy_error))
            if run.kill_switch is not None and run.kill_switch.halted:
                say(f"trading is halted ({run.kill_switch.reason}): clear it with `tradebus halt --clear`")
            engine = run.engine
            result = run_session(run, until=_filled(engine, args.until_fills), started=announce("demo"),
                                 duration=timedelta(seconds=args.duration), view=None if args.quiet else sys.stdout)
        say(ConsoleView.summary(engine))
        title = f"tradebus demo: SMA crossover on {args.symbol} (live, on the simulated gateway)"
        outputs = write_outputs(result, out, title, mode="live", strategies=[s.id for s in engine.strategies])
        say(f"journal: {out / 'journal.sqlite'}  (inspect with: tradebus journal --path {out / 'journal.sqlite'})")
        for path in outputs:
            if path.suffix in (".html", ".png"):
                say(f"report: {path}")
        say(f"exports: {out}/ (orders, fills, trades, equity as CSV; result.json)")
        return exit_code(result.outcome)


def build_run(
    gateway: SimulatedGateway, out: Path, symbol: str, *, fast: int = 5, slow: int = 15,
    halt_file: Path | None = None, on_strategy_error: ErrorPolicy = ErrorPolicy.STOP_STRATEGY,
) -> Run:
    """Assemble adapter, journal, risk checks, kill switch, event log and strategy for the running gateway."""
    clock = SystemClock()
    config = IbkrConfig(
        base_url=gateway.base_url,
        ws_url=gateway.ws_url,
        ca_file=Path(gateway.ca_file),
        auto_confirm_message_ids=DEMO_CONFIRMS,
        maintenance_region="none",  # the simulated gateway has no nightly reset: the demo runs at any hour
    )
    broker = IbkrBroker(config, clock=clock)
    journal = SqliteJournal(out / "journal.sqlite", synchronous="normal")
    limits = RiskConfig(
        max_order_quantity=1000,
        max_position=500,
        max_orders_per_second=5,
        allowed_instruments=frozenset({symbol}),
    )
    params = {"symbol": symbol, "fast": fast, "slow": slow, "quantity": 100, "bar_seconds": 1}
    return assemble(broker, clock, [create_strategy(STRATEGY, params)],
                    config=EngineConfig(stale_data_after=timedelta(seconds=15), on_strategy_error=on_strategy_error),
                    journal=journal, risk=limits,
                    halt_file=halt_file)


def _filled(engine: Engine, count: int | None) -> Callable[[], bool] | None:
    # the engine's stop condition for --until-fills (checked on the dispatcher thread)
    if not count:
        return None
    return lambda: sum(o.status is OrderStatus.FILLED for o in engine.orders.this_run()) >= count


def say(text: str) -> None:
    """Print a line of the demo's own narration."""
    print(text, flush=True)  # noqa: T201 - the demo talks to the terminal


COMMAND = DemoCommand()
