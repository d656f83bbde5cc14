"""One soak, start to verdict: the gateway, the run, the watchers, the wind-down and the final checks.

The run is assembled as ``tradebus live`` assembles one (:func:`tradebus.assembly.assemble`: the
SQLite journal, the risk limits, the event log) with the real IBKR adapter, on the system clock,
and driven by :func:`tradebus.assembly.run_session` (Ctrl-C ends it cleanly). Alongside it run the
fault injector, the resource sampler and the watcher; the trader winds down before the end (no
faults, no new orders, everything open cancelled) and the session ends once nothing is open. Then
the journal is compared with the gateway's final ledger and every invariant is judged.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
import threading
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from typing import TextIO

from brokers.ibkr.config import IbkrConfig
from framework.broker import ConnectionState
from framework.clock import SystemClock
from framework.config import DegradedPolicy
from framework.config import EngineConfig
from framework.config import ErrorPolicy
from framework.private_files import private_dir
from framework.private_files import private_file
from framework.risk import RiskConfig
from tradebus.assembly import assemble
from tradebus.assembly import run_session
from tradebus.journal import SqliteJournal
from tradebus.soak import verdicts
from tradebus.soak.books import RunningCheck
from tradebus.soak.books import check_books
from tradebus.soak.faults import FaultContext
from tradebus.soak.faults import kinds
from tradebus.soak.gateway import SoakGateway
from tradebus.soak.injector import FaultInjector
from tradebus.soak.monitor import SoakMonitor
from tradebus.soak.monitor import SoakMonitorConfig
from tradebus.soak.parts import Parts
from tradebus.soak.probes import EventTally
from tradebus.soak.probes import ResourceSampler
from tradebus.soak.probes import TalliedIbkrBroker
from tradebus.soak.settings import SoakConfig
from tradebus.soak.trader import SoakTrader
from tradebus.soak.trader import SoakTraderConfig
from tradebus.soak.watch import Watcher

log = logging.getLogger(__name__)

CONFIRMS = frozenset({"o163", "o354", "o383", "o403", "o10331"})
"""Precaution questions the soak's strategy accepts; the faults' ``p12`` and ``o10152`` are declined. They
are answered, not suppressed, so the reply dialogue is exercised (and its faults have something to hit)."""
SAMPLE_EVERY = 2.0  # wall seconds between resource samples
LEDGER_FILE = "ledger.json"
"""The gateway's final books, written next to the journal (``--workdir``) for inspection."""


@dataclass
class SoakReport:
    """What a soak produced.

    Attributes:
        summary: The summary (also written as JSON).
        passed: Whether every invariant held.
        journal: The run's journal file.
        ledger: The gateway's books at the end.
        workdir: The folder of the journal and the log.
    """

    summary: dict[str, Any]
    passed: bool
    journal: Path
    ledger: dict[str, Any]
    workdir: Path


def adapter_config(config: SoakConfig, gateway: SoakGateway) -> IbkrConfig:
    """The adapter's settings, its timers compressed by the soak's speed (see :mod:`tradebus.soak.settings`)."""
    sim = config.sim
    return IbkrConfig(
        base_url=gateway.base_url, ws_url=gateway.ws_url, ca_file=gateway.ca_file, auto_confirm_message_ids=CONFIRMS,
        suppress_on_start=False,
        tickle_interval=sim(55.0, 1.0), ws_stall_timeout=sim(25.0, 2.0), ws_tic_interval=sim(50.0, 1.0),
        reconnect_initial=sim(1.0, 0.1), reconnect_max=sim(60.0, 1.0), reauth_timeout=sim(30.0, 5.0),
        rate_limit_backoff=sim(60.0, 2.0), order_lookup_window=sim(30.0, 10.0), read_timeout=sim(15.0, 5.0),
        maintenance_region="none",  # a simulated gateway: its nightly reset is a fault the soak injects, not the hour
    )


def _build(config: SoakConfig, gateway: SoakGateway, workdir: Path, out: TextIO | None) -> Parts:
    clock = SystemClock()
    adapter = adapter_config(config, gateway)
    tally = EventTally()
    broker = TalliedIbkrBroker(adapter, clock=clock)
    broker.tally = tally
    journal_path = workdir / "journal.sqlite"
    trade_until = clock.now() + timedelta(seconds=config.duration - config.wind_down)
    hold_for = timedelta(seconds=config.sim(120.0, 5.0))
    trader = SoakTrader(SoakTraderConfig(symbols=config.symbols, seed=config.seed, trade_until=trade_until,
                                         action_interval=timedelta(seconds=config.action_interval)),
                        strategy_id="soak-trader")
    stuck_after = 2 * (adapter.order_lookup_window + hold_for.total_seconds()) + 10.0
    monitor = SoakMonitor(SoakMonitorConfig(stuck_after=timedelta(seconds=stuck_after)), strategy_id="soak-monitor")
    risk = RiskConfig(max_order_quantity=Decimal(2000), max_position=Decimal(10000), max_orders_per_second=20,
                      allowed_instruments=frozenset(config.symbols))
    engine_config = EngineConfig(degraded=DegradedPolicy(hold_for=hold_for), on_strategy_error=ErrorPolicy.STOP_RUN)
    run = assemble(broker, clock, [trader, monitor], config=engine_config,
                   journal=SqliteJournal(journal_path, synchronous="normal"), risk=risk)
    tally.attach(run.engine)
    stop = threading.Event()
    account = str(gateway.control("state")["config"]["account_id"])
    context = FaultContext(config, gateway, account, adapter.read_timeout, adapter.ws_stall_timeout, stop)
    faults_until = clock.monotonic() + config.duration - config.wind_down - config.sim(30.0, 2.0)
    injector = FaultInjector(context, kinds(config.faults), clock=clock,
                             connected=lambda: broker.connection_state is ConnectionState.CONNECTED,
                             until=faults_until, recovery_bound=30.0 + config.sim(120.0))
    quiet_min = max(3.0, config.sim(30.0))
    exclusive = threading.Lock()
    sampler = ResourceSampler(clock, interval=SAMPLE_EVERY, quiet_for=injector.quiet_for, quiet_min=quiet_min,
                              gateway=gateway, backlog=lambda: run.engine.dispatcher.queued, exclusive=exclusive)
    return Parts(config, gateway, broker, run, trader, monitor, tally, injector, sampler,
                 RunningCheck(timedelta(seconds=quiet_min)), quiet_min, journal_path, stop, exclusive)


def run_soak(config: SoakConfig, *, out: TextIO | None = sys.stdout) -> SoakReport:
    """Run one soak and judge it (see the module docstring).

    Args:
        config: What to run.
        out: Where progress lines go (None: nowhere).

    Raises:
        ValueError: ``config.faults`` names an unknown fault kind.
    """
    kinds(config.faults)  # an unknown name fails before anything starts
    workdir = config.workdir or Path(tempfile.mkdtemp(prefix="tradebus-soak-"))
    private_dir(workdir)
    for leftover in ("journal.sqlite", "journal.sqlite-wal", "journal.sqlite-shm"):
        (workdir / leftover).unlink(missing_ok=True)  # a soak trades a fresh simulated account
    gateway = SoakGateway(config)
    gateway.start()
    try:
        parts = _build(config, gateway, workdir, out)
        return _run(parts, workdir, out)
    finally:
        gateway.close()


def _run(parts: Parts, workdir: Path, out: TextIO | None) -> SoakReport:
    config, clock = parts.config, SystemClock()
    started = clock.monotonic()
    every = max(10.0, min(60.0, config.duration / 10))
    watcher = Watcher(clock, parts.gateway, parts.journal, parts.running, interval=every,
                      quiet_for=parts.injector.quiet_for, quiet_min=parts.quiet_min,
                      progress=lambda: verdicts.progress(parts, clock.monotonic() - started), out=out,
                      exclusive=parts.exclusive)

    def begin(_: object) -> None:
        parts.sampler.sample()
        parts.injector.start()
        parts.sampler.start()
        watcher.start()

    try:
        run_session(parts.run, until=lambda: parts.trader.done,
                    duration=timedelta(seconds=config.duration + config.settle_bound), view=None, started=begin)
    finally:
        watcher.stop()
        parts.injector.stop()
        parts.sampler.stop()
    wall = clock.monotonic() - started
    ledger = parts.gateway.ledger()
    private_file(workdir / LEDGER_FILE).write_text(json.dumps(ledger), encoding="utf-8")  # kept with the journal
    engine = parts.run.engine
    portfolio = {p.symbol: p.quantity for p in engine.portfolio.positions(clock.now())}
    books = check_books(parts.journal, ledger, final=True, portfolio=portfolio, cash=engine.portfolio.cash)
    summary = verdicts.summarise(parts, books, ledger, wall, watcher.skipped)
    return SoakReport(summary, bool(summary["passed"]), parts.journal, ledger, workdir)
