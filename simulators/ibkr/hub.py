"""Websocket clients and what they are subscribed to; fan-out of server pushes.

Each connection is a :class:`WsClient` with an outgoing queue that one writer task drains (see
:mod:`simulators.ibkr.ws_handler`). Everything here runs on the server's event loop thread and
never blocks: pushing is putting on a queue. A stalled client (fault injection) silently drops
everything, heartbeats included, while its TCP connection stays open.

The hub also keeps a connection log (:attr:`Hub.history`, the latest :data:`HISTORY_SIZE`
connections): when each socket opened, authenticated and closed (and how the gateway ended it), the
frames queued to it by topic, and when it subscribed to what. Tests read it to check reconnect
spacing, resubscription and frame accounting from the gateway's side.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import Counter
from collections import deque
from dataclasses import dataclass
from dataclasses import field
from enum import Enum
from typing import Any

# Beyond this many queued frames a slow reader loses market-data updates (never order updates).
MAX_QUEUED_MARKET_FRAMES = 20_000
HISTORY_SIZE = 1000  # connections kept in the connection log


class FrameKind(Enum):
    """What the writer task does with a queued item."""

    TEXT = "text"
    BINARY = "binary"
    RAW_TEXT = "raw_text"
    CLOSE = "close"
    ABORT = "abort"
    RESET = "reset"


@dataclass(frozen=True)
class Frame:
    """One queued outgoing item."""

    kind: FrameKind
    data: bytes = b""


@dataclass
class MarketSubscription:
    """Fields a client streams for one conid and the values it last received."""

    fields: list[str]
    sent: dict[str, Any] = field(default_factory=dict)


@dataclass(eq=False)
class WsClient:
    """One websocket connection.

    Attributes:
        client_id: Sequence number (for logs).
        queue: Outgoing frames.
        authenticated: Whether the socket has been given a valid session.
        stalled: Fault injection: drop every outgoing frame.
        market: Market-data subscriptions by conid.
        orders: Subscribed to ``sor``.
        trades: Subscribed to ``str``.
        pnl: Subscribed to ``spl``.
        summary: Accounts subscribed with ``ssd``.
        ledger: Accounts subscribed with ``sld``.
        history: ``smh`` server ids.
        next_history_id: The next ``smh`` server id (never reused after ``umh``).
        opened_at: Clock-monotonic time the socket was accepted.
        authenticated_at: When the session handshake completed (None before).
        closed_at: When the connection ended (None while open).
        ended_by: How the gateway ended it (``close``, ``abort``, ``reset``), or ``""`` (the client
            closed it, or it is open).
        sent: Frames queued to this client, by topic (``message``, ``error`` and ``raw`` for the rest).
        received: Data frames read from this client (applied, or ignored while stalled).
        subscribed_at: When each subscription was first applied on this connection, by key
            (``smd+265598``, ``sor``, ``str``, ``spl`` ...).
    """

    client_id: int
    queue: asyncio.Queue[Frame] = field(default_factory=asyncio.Queue)
    authenticated: bool = False
    stalled: bool = False
    market: dict[int, MarketSubscription] = field(default_factory=dict)
    orders: bool = False
    trades: bool = False
    pnl: bool = False
    summary: set[str] = field(default_factory=set)
    ledger: set[str] = field(default_factory=set)
    history: set[str] = field(default_factory=set)
    next_history_id: int = 1
    opened_at: float = 0.0
    authenticated_at: float | None = None
    closed_at: float | None = None
    ended_by: str = ""
    sent: Counter[str] = field(default_factory=Counter)
    received: int = 0
    subscribed_at: dict[str, float] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """This connection's log entry (JSON-ready)."""
        return {
            "id": self.client_id, "opened_at": self.opened_at, "authenticated_at": self.authenticated_at,
            "closed_at": self.closed_at, "ended_by": self.ended_by, "stalled": self.stalled,
            "frames": sum(self.sent.values()), "sent": dict(self.sent), "received": self.received,
            "subscribed_at": dict(self.subscribed_at),
        }


def encode(payload: dict[str, Any]) -> bytes:
    """Serialise one server message compactly."""
    return json.dumps(payload, separators=(",", ":")).encode()


class Hub:
    """Registry of websocket clients.

    Args:
        binary: Returns whether JSON frames go out as binary (IBKR's own web app expects that).
    """

    def __init__(self, binary: bool = False) -> None:
        self.clients: set[WsClient] = set()
        self.binary = binary
        self.refusing = False  # fault injection: new websocket upgrades are answered 503
        self.history: deque[WsClient] = deque(maxlen=HISTORY_SIZE)
        self._ids = itertools.count(1)

    def connect(self, now: float = 0.0) -> WsClient:
        """Register a new connection accepted at clock-monotonic ``now``."""
        client = WsClient(next(self._ids), opened_at=now)
        self.clients.add(client)
        self.history.append(client)
        return client

    def disconnect(self, client: WsClient, now: float = 0.0) -> None:
        """Forget a connection that ended at ``now``."""
        self.clients.discard(client)
        if client.closed_at is None:
            client.closed_at = now

    def send(self, client: WsClient, payload: dict[str, Any]) -> None:
        """Queue one JSON message for a client (dropped while the client is stalled)."""
        if client.stalled:
            return
        kind = FrameKind.BINARY if self.binary else FrameKind.TEXT
        client.queue.put_nowait(Frame(kind, encode(payload)))
        client.sent[_topic_of(payload)] += 1

    def send_raw(self, client: WsClient, kind: FrameKind, data: bytes = b"") -> None:
        """Queue a raw frame, or end the connection (close, abort, reset), regardless of stalls (fault injection)."""
        client.queue.put_nowait(Frame(kind, data))
        if kind in _ENDINGS:
            client.ended_by = client.ended_by or kind.value
        else:
            client.sent["raw"] += 1

    def authenticated_clients(self) -> list[WsClient]:
        """Return connections that completed the session handshake."""
        return [c for c in self.clients if c.authenticated]

    def broadcast(self, payload: dict[str, Any]) -> None:
        """Send a message to every authenticated client."""
        for client in self.authenticated_clients():
            self.send(client, payload)

    def market_update(self, conid: int, rendered: dict[str, Any], updated_ms: int) -> None:
        """Send each subscriber of ``conid`` only the fields that changed since its last message."""
        topic = f"smd+{conid}"
        for client in self.clients:
            sub = client.market.get(conid)
            if sub is None or client.stalled or client.queue.qsize() > MAX_QUEUED_MARKET_FRAMES:
                continue
            changed = {code: rendered[code] for code in sub.fields if code in rendered
                       and sub.sent.get(code) != rendered[code]}
            if changed:
                sub.sent.update(changed)
                self.send(client, {"topic": topic, "conid": conid, "_updated": updated_ms, **changed})

    def order_update(self, args: dict[str, Any]) -> None:
        """Relay one order change (full object or delta) to ``sor`` subscribers."""
        for client in self.clients:
            if client.orders:
                self.send(client, {"topic": "sor", "args": [args]})

    def trade_update(self, rows: list[dict[str, Any]]) -> None:
        """Relay executions to ``str`` subscribers."""
        for client in self.clients:
            if client.trades:
                self.send(client, {"topic": "str", "args": rows})


_ENDINGS = frozenset({FrameKind.CLOSE, FrameKind.ABORT, FrameKind.RESET})


def _topic_of(payload: dict[str, Any]) -> str:
    # "smd+265598" counts as "smd"; untopiced messages as "error" or "message"
    topic = payload.get("topic")
    if isinstance(topic, str):
        return topic.split("+", 1)[0]
    return "error" if "error" in payload else "message"
