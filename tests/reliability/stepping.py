"""A stepped harness: the real IBKR adapter and engine against the in-process gateway, on one simulated clock.

Reliability criteria about *time* (detected within 2 s, back within 60 s, a window at 01:00 New York
time on a DST night, a wall clock stepped by 20 minutes) are measured on an injected clock, not on the
machine's. :class:`SteppedRun` wires the parts that production wires, and only replaces who drives them:

* the simulated gateway (real HTTPS + WSS on loopback, :class:`~simulators.ibkr.SimulatedGateway`)
  runs on a :class:`~framework.clock.SimulatedClock`: nothing happens there until the test advances it;
* the adapter (:class:`~brokers.ibkr.IbkrBroker`) and the engine (with a real SQLite journal) run on
  a :class:`~framework.testing.SkewedClock` over that clock: the same monotonic time, and a wall time
  that is right unless the test skews or steps it;
* the adapter's threads are off (``start_threads=False``); :meth:`SteppedRun.step` does what they do,
  in a fixed order: advance the clock, read every frame that arrived, run the keep-alive tick, dispatch,
  send queued order commands, dispatch. A step stands for that much time of the adapter's life: the
  keep-alive thread ticks five times a second, so a step of 0.2 s is as fine as production gets;
* the adapter's sleeps (pacing, re-authentication polls) advance the simulated clock.

Deterministic up to one thing: a websocket frame the gateway queued may reach the adapter one step
late on a busy machine (reads wait :data:`POLL_SECONDS` for more). That costs at most one step of
measured latency and never a frame.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from datetime import datetime
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from brokers.ibkr import IbkrBroker
from brokers.ibkr import IbkrConfig
from brokers.ibkr.wsconnect import WsConnection
from brokers.ibkr.wsconnect import connect_websocket
from framework.clock import SimulatedClock
from framework.config import EngineConfig
from framework.config import StrategyConfig
from framework.engine import Engine
from framework.models import OrderRequest
from framework.models import OrderType
from framework.models import Side
from framework.strategy import Strategy
from framework.testing import EventRecorder
from framework.testing import SkewedClock
from simulators.ibkr import SimulatedGateway
from simulators.ibkr import SimulatorConfig
from tradebus.journal import SqliteJournal

POLL_SECONDS = 0.01  # a frame read waits this long (real time) before the stream counts as drained
ALLOWED = frozenset({"o163", "o354", "o383", "o403", "o451", "o10331"})
AAPL = 265598
QUIET_GATEWAY = {"market_mode": "manual", "submit_latency": 0.05, "cancel_latency": 0.05, "history_latency": 0.0,
                 "warn_no_market_data": False, "warn_marketable": False}


class Watcher(Strategy[StrategyConfig]):
    """The strategy the test's orders belong to (id ``t``): it streams AAPL quotes and does nothing else."""

    def __init__(self) -> None:
        super().__init__(strategy_id="t")

    def on_start(self) -> None:
        self.subscribe_quotes("AAPL")


class TimedLogs(logging.Handler):
    """Keeps every log record with the simulated time it was written at (attach to the root logger)."""

    def __init__(self, clock: SimulatedClock) -> None:
        super().__init__(level=logging.DEBUG)
        self._clock = clock
        self.records: list[tuple[datetime, logging.LogRecord]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((self._clock.now(), record))

    def between(self, start: datetime, end: datetime, level: int = logging.DEBUG) -> list[logging.LogRecord]:
        """The records at ``level`` or above written from ``start`` up to ``end``."""
        return [r for at, r in self.records if start <= at <= end and r.levelno >= level]


class StepLimitError(AssertionError):
    """A condition was not reached within its bound of simulated time."""


class SteppedRun:
    """The engine, the IBKR adapter and the simulated gateway on one simulated clock, stepped by the test.

    Args:
        journal: The SQLite journal file.
        start: The gateway's (true) time at start.
        gateway: Simulator settings (over :data:`QUIET_GATEWAY`).
        adapter: ``IbkrConfig`` fields (over the gateway's addresses and :data:`ALLOWED`).
        engine: Engine settings.
        skew: How far the adapter's wall clock is ahead of the gateway's at start.
        seed: Seeds the adapter's back-off jitter and the gateway.

    Attributes:
        clock: The gateway's simulated clock (the true time).
        local: The adapter's and the engine's clock (``clock`` plus a wall-clock offset).
        gw: The gateway.
        broker: The adapter.
        engine: The engine.
        journal: The engine's journal.
        recorder: Every event the engine published, in order.
        requests: ``(monotonic, method, path)`` of every HTTP answer the adapter received.
        logs: Every log record (INFO and up) with the simulated time it was written at.
    """

    def __init__(self, journal: Path, *, start: datetime, gateway: dict[str, Any] | None = None,
                 adapter: dict[str, Any] | None = None, engine: EngineConfig | None = None,
                 skew: timedelta = timedelta(0), seed: int = 1) -> None:
        self.clock = SimulatedClock(start)
        self.local = SkewedClock(self.clock, skew)
        config = SimulatorConfig().with_updates({**QUIET_GATEWAY, "seed": seed, **(gateway or {})})
        self.gw = SimulatedGateway(port=0, config=config, clock=self.clock).start()
        settings = {"base_url": self.gw.base_url, "ws_url": self.gw.ws_url, "ca_file": self.gw.ca_file,
                    "auto_confirm_message_ids": ALLOWED, **(adapter or {})}
        self.config = IbkrConfig.model_validate(settings)
        self.requests: list[tuple[float, str, str]] = []
        self._http = requests.Session()
        self._http.trust_env = False
        self._http.hooks["response"].append(self._record)
        self.broker = IbkrBroker(self.config, clock=self.local, session=self._http, ws_connect=self._connect,
                                 sleep=self._sleep, start_threads=False, rng=random.Random(seed))
        self.journal = SqliteJournal(journal)
        self.engine = Engine(self.broker, clock=self.local, journal=self.journal,
                             config=engine or EngineConfig(raise_errors=True, order_id_prefix="R"))
        self.engine.add_strategy(Watcher())
        self.recorder = EventRecorder(self.engine.bus)
        self.logs = TimedLogs(self.clock)
        self._root = logging.getLogger()
        self._level = self._root.level
        self._root.addHandler(self.logs)
        self._root.setLevel(logging.INFO)

    def _connect(self, url: str, **kwargs: Any) -> WsConnection:
        return connect_websocket(url, config=self.config, timeout=POLL_SECONDS, **kwargs)

    def _sleep(self, seconds: float) -> None:
        self.gw.advance(seconds)  # the adapter waits: simulated time passes for everyone

    def _record(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        path = urlsplit(response.url).path.removeprefix("/v1/api")
        self.requests.append((self.clock.monotonic(), response.request.method or "", path))

    # ----------------------------------------------------------------- driving

    def start(self) -> None:
        """Start the engine (connect, recover, load the account) and step until the adapter is connected."""
        self.engine.start()
        self.run_until(lambda: self.broker.connection_state == "connected", "connected", limit=30, step=0.2)

    def settle(self) -> None:
        """Do what the adapter's threads and the dispatcher do once, without moving time."""
        self._drain()
        self.broker.tick()
        self.engine.run_pending()
        if self.broker.run_commands():  # what they sent is answered on the stream as well
            self._drain()
            self.engine.run_pending()

    def _drain(self) -> None:
        while self.broker.poll_stream():
            pass

    def step(self, seconds: float) -> None:
        """Let ``seconds`` of simulated time pass (gateway jobs run at their due times), then settle."""
        self.gw.advance(seconds)
        self.settle()

    def run_for(self, seconds: float, step: float) -> None:
        """Step for ``seconds`` in steps of ``step``."""
        end = self.clock.monotonic() + seconds
        while (left := end - self.clock.monotonic()) > 1e-9:
            self.step(min(step, left))

    def run_to(self, when: datetime, step: float) -> None:
        """Step until the gateway's clock reads ``when``."""
        self.run_for((when - self.clock.now()).total_seconds(), step)

    def run_until(self, condition: Callable[[], bool], what: str, *, limit: float, step: float) -> float:
        """Step until ``condition()`` holds; return the simulated seconds it took.

        Raises:
            StepLimitError: If it does not hold within ``limit`` simulated seconds.
        """
        began = self.clock.monotonic()
        self.settle()
        while not condition():
            if self.clock.monotonic() - began >= limit:
                recent = [type(e).__name__ for e in self.recorder.events[-12:]]
                msg = f"no {what} within {limit} simulated seconds; last events: {recent}"
                raise StepLimitError(msg)
            self.step(step)
        return self.clock.monotonic() - began

    # ----------------------------------------------------------------- orders

    def submit(self, side: Side, quantity: int, *, limit: Decimal | None = None, strategy: str = "t") -> str:
        """Submit an order for AAPL (market, or limit at ``limit``) through the engine; return its id."""
        cid = self.engine.next_client_order_id()
        ticket: dict[str, Any] = {}
        if limit is not None:
            ticket = {"order_type": OrderType.LIMIT, "limit_price": limit}
        request = OrderRequest(client_order_id=cid, strategy_id=strategy, instrument=self.engine.instrument("AAPL"),
                               side=side, quantity=Decimal(quantity), **ticket)
        self.engine.submit_order(request)
        self.engine.run_pending()
        return cid

    def quote(self, bid: str, ask: str) -> None:
        """Move AAPL's market (the last trade between the two); working orders at IBKR react."""
        last = (Decimal(bid) + Decimal(ask)) / 2
        self.gw.set_quote("AAPL", bid=bid, ask=ask, last=str(last.quantize(Decimal("0.001"))))

    def placements_after(self, seq: int) -> list[str]:
        """Client order ids of the placement POSTs that reached the gateway after request ``seq``."""
        return [coid for n, coid in self.gw.state()["placement_arrivals"] if n > seq and coid is not None]

    # ----------------------------------------------------------------- the books

    def ledger_matches_journal(self) -> None:
        """Journal == the gateway's ledger: every execution exactly once, the same positions and order states.

        Raises:
            AssertionError: Naming what differs.
        """
        ledger = self.gw.ledger()
        journal_ids = [f.execution_id for f in self.journal.fills()]
        ledger_ids = [e["execution_id"] for e in ledger["executions"]]
        assert len(journal_ids) == len(set(journal_ids)), f"a fill journaled twice: {journal_ids}"
        assert sorted(journal_ids) == sorted(ledger_ids), f"journal {journal_ids} != ledger {ledger_ids}"
        held = {s: Decimal(q) for s, q in ledger["positions"].items() if Decimal(q) != 0}
        mine = {p.symbol for p in self.engine.portfolio.positions(self.local.now())}
        books = {s: q for s in {*held, *mine} if (q := self.engine.portfolio.quantity(s)) != 0}
        assert books == held, f"engine positions {books} != ledger {held}"
        filled = {o["coid"]: Decimal(o["filled"]) for o in ledger["orders"]}
        journaled = {o.client_order_id: o.filled_quantity for o in self.journal.orders() if o.client_order_id in filled}
        assert journaled == filled, f"journaled filled quantities {journaled} != ledger {filled}"

    def close(self) -> None:
        """Stop the engine and the gateway; close the journal."""
        try:
            self.engine.stop()
            self.recorder.close()
            self.journal.close()
        finally:
            self.gw.stop()
            self._http.close()
            self._root.removeHandler(self.logs)
            self._root.setLevel(self._level)
