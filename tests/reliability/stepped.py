"""A stepped harness: the real simulated gateway and the real IBKR adapter on one simulated clock.

The gateway (:class:`~simulators.ibkr.SimulatedGateway`, real HTTPS and WSS on loopback) and the
adapter (:class:`~brokers.ibkr.IbkrBroker` without its threads) share a
:class:`~framework.clock.SimulatedClock`. The test thread does what the adapter's threads would:
:meth:`Stepped.step` moves time (the gateway runs what falls due: heartbeats, P&L pushes, order
acknowledgements and fills), reads every frame the gateway queued, ticks the adapter (watchdog,
reconnects, keep-alive, reconciliation), sends queued order commands and runs the engine's
dispatcher. Time-based criteria (stall detection, reconnect spacing, an idle hour) are measured on
that clock, so they are exact and take no wall time.

Frame accounting makes it deterministic: the adapter's websocket factory is wrapped to count the
frames it reads and sends on each connection, and the gateway's connection log (``ws_connections``)
counts the frames it queued and read, so :meth:`Stepped.drain` lets the gateway apply everything
the adapter sent before time moves on and reads exactly what the gateway sent (waiting on the
socket, never sleeping): nothing the adapter or the gateway decides depends on thread timing. Connection ``n`` of the
adapter is the gateway's connection ``n`` (nothing else connects).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

from brokers.ibkr import IbkrBroker
from brokers.ibkr import IbkrConfig
from brokers.ibkr.stream import StreamState
from brokers.ibkr.wsconnect import WsConnection
from brokers.ibkr.wsconnect import connect_websocket
from framework.broker import ConnectionState
from framework.clock import SimulatedClock
from framework.config import EngineConfig
from framework.engine import Engine
from framework.testing import EventRecorder
from simulators.ibkr import SimulatedGateway
from simulators.ibkr import SimulatorConfig
from tradebus.journal import SqliteJournal

START = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
ALLOWED = frozenset({"o163", "o354", "o383", "o403", "o451", "o10331"})
DEADLINE = 30.0  # real seconds: a bound for a stuck step, never reached by a healthy one
READ_TIMEOUT = 1.0  # the adapter's socket read timeout; reads happen only when a frame is due
SUBSCRIPTION_PREFIXES = ("smd+", "sor+", "str+", "spl+")


@dataclass
class CountingConnection:
    """A production websocket (``connect_websocket``) that counts what it reads and when it sends what."""

    conn: WsConnection
    clock: SimulatedClock
    opened_wall: float  # time.monotonic() when the upgrade completed
    received: int = 0
    closed: bool = False
    closed_at: float | None = None  # the adapter clock's monotonic time it was dropped or closed
    sent: list[tuple[float, str]] = field(default_factory=list)  # (time.monotonic(), frame)

    def send(self, text: str) -> None:
        """Send one frame and record when."""
        self.sent.append((time.monotonic(), text))
        self.conn.send(text)

    def recv(self) -> str | bytes | None:
        """Read one frame (None after the read timeout) and count it."""
        data = self.conn.recv()
        if data is not None:
            self.received += 1
        return data

    def close(self) -> None:
        """Close (the adapter dropped or closed it)."""
        if not self.closed:
            self.closed_at = self.clock.monotonic()
        self.closed = True
        self.conn.close()

    def subscriptions_sent_at(self) -> float | None:
        """Wall time the last subscription command went out, or None if none did."""
        times = [t for t, text in self.sent if text.startswith(SUBSCRIPTION_PREFIXES)]
        return max(times) if times else None


class CountingFactory:
    """The adapter's websocket factory: the production one, wrapped to count frames and record attempts."""

    def __init__(self, config: IbkrConfig, clock: SimulatedClock) -> None:
        self._config = config
        self._clock = clock
        self.attempts: list[float] = []  # the adapter clock's monotonic time of every connect attempt
        self.connections: list[CountingConnection] = []

    def __call__(self, url: str, *, cookie: str) -> CountingConnection:
        self.attempts.append(self._clock.monotonic())
        conn = connect_websocket(url, cookie=cookie, config=self._config, timeout=READ_TIMEOUT)
        counted = CountingConnection(conn, self._clock, time.monotonic())
        self.connections.append(counted)
        return counted

    @property
    def current(self) -> CountingConnection | None:
        """The connection the adapter has open, if any."""
        last = self.connections[-1] if self.connections else None
        return None if last is None or last.closed else last


class Stepped:
    """Gateway + adapter + engine (with a SQLite journal) on one simulated clock, driven by the test thread.

    Args:
        tmp_path: Where the journal goes.
        seed: Seed of the gateway's market and of the adapter's back-off jitter.
        sim: Gateway settings (a manual market is usual: the test steps it).
        **adapter: ``IbkrConfig`` fields over the production defaults (client pacing is off: the
            gateway's pacing is not what these tests are about and its waits would move the clock).
    """

    def __init__(self, tmp_path: Path, *, seed: int, sim: SimulatorConfig, **adapter: Any) -> None:
        self.clock = SimulatedClock(START)
        self.gw = SimulatedGateway(port=0, seed=seed, config=sim, clock=self.clock).start()
        values = {"base_url": self.gw.base_url, "ws_url": self.gw.ws_url, "ca_file": self.gw.ca_file,
                  "auto_confirm_message_ids": ALLOWED, "pacing": False, **adapter}
        self.config = IbkrConfig.model_validate(values)
        self.ws = CountingFactory(self.config, self.clock)
        self.broker = IbkrBroker(self.config, clock=self.clock, ws_connect=self.ws, sleep=self._sleep,
                                 start_threads=False, rng=random.Random(seed))
        self.journal = SqliteJournal(tmp_path / "journal.sqlite", synchronous="normal")
        self.engine = Engine(self.broker, clock=self.clock, config=EngineConfig(raise_errors=True),
                             journal=self.journal)
        self.recorder = EventRecorder(self.engine.bus)

    def _sleep(self, seconds: float) -> None:
        self.clock.advance(timedelta(seconds=seconds))  # the gateway's pump notices

    # ----------------------------------------------------------------- stepping

    def start(self) -> None:
        """Start the engine and step until the adapter is connected."""
        self.engine.start()
        self.until(lambda: self.broker.connection_state is ConnectionState.CONNECTED, "connected")

    def step(self, seconds: float = 0.0) -> None:
        """Move time by ``seconds``, then do one round of what the adapter's threads and the dispatcher do."""
        if seconds:
            self.gw.advance(seconds)
        self.drain()
        self.broker.tick()
        self.drain()
        self.broker.run_commands()
        self.drain()
        self.engine.run_pending()

    def drain(self) -> None:
        """Let the gateway read everything the adapter sent, then read everything it queued in return.

        Repeats until both directions are empty (reading may make the adapter send: the greeting is
        answered with the subscriptions). A connection the gateway ended reads what is left and then
        fails; the adapter drops it.
        """
        deadline = time.monotonic() + DEADLINE
        while (conn := self.ws.current) is not None:
            assert time.monotonic() < deadline, "the websocket never went quiet"
            entry = self.gateway_connection(len(self.ws.connections))
            if entry["ended_by"]:  # the gateway ended it (close, abort, reset): read until the adapter notices
                while not conn.closed:
                    assert time.monotonic() < deadline, f"the adapter never noticed the {entry['ended_by']}"
                    self.broker.poll_stream()
                continue
            if entry["received"] < len(conn.sent) and entry["closed_at"] is None:
                continue  # the gateway's reader has not applied everything yet: ask again
            if conn.received >= entry["frames"]:
                return
            while conn.received < entry["frames"] and not conn.closed:
                assert time.monotonic() < deadline, f"queued frames never arrived ({conn.received}/{entry['frames']})"
                self.broker.poll_stream()

    def until(self, condition: Callable[[], bool], what: str, seconds: float = 0.0, limit: int = 10_000) -> int:
        """Step (``seconds`` at a time) until ``condition()``; return the steps taken."""
        deadline = time.monotonic() + DEADLINE
        for steps in range(limit):
            if condition():
                return steps
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            self.step(seconds)
        raise AssertionError(f"{what}: not reached in {limit} steps")

    # ----------------------------------------------------------------- observing

    def gateway_connection(self, connection_id: int) -> dict[str, Any]:
        """The gateway's log entry for its connection ``connection_id`` (1-based)."""
        entries = self.gw.ws_connections(since=connection_id)
        assert entries, f"no connection {connection_id} in the gateway's log"
        assert entries[0]["id"] == connection_id, entries[0]
        return entries[0]

    def wanted_keys(self) -> set[str]:
        """The subscriptions the adapter wants, as the gateway's log names them."""
        return set(self.broker.stream.subscriptions)  # "smd+<conid>", "sor", "str", "spl": the same keys

    def resubscribed(self) -> bool:
        """Whether the adapter's open connection is authenticated and the gateway applied every subscription."""
        if self.ws.current is None or self.broker.stream.state is not StreamState.OPEN:
            return False
        entry = self.gateway_connection(len(self.ws.connections))
        return self.wanted_keys() <= set(entry["subscribed_at"])

    def settled(self) -> bool:
        """Connected, every subscription applied, every frame read, reconciliation done, events dispatched."""
        return (self.resubscribed() and self.broker.connection_state is ConnectionState.CONNECTED
                and self.broker._link.reconcile_due is None  # the reconnect's reconciliation ran
                and self.ws.current is not None
                and self.ws.current.received >= self.gateway_connection(len(self.ws.connections))["frames"])

    def stop(self) -> None:
        """Stop the engine, the gateway and the journal."""
        try:
            self.engine.stop()
        finally:
            self.recorder.close()
            self.gw.stop()
            self.journal.close()
