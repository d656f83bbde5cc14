"""Websocket clients and what they are subscribed to; fan-out of server pushes.

Each connection is a :class:`WsClient` with an outgoing queue that one writer task drains (see
:mod:`simulators.ibkr.ws_handler`). Everything here runs on the server's event loop thread and
never blocks: pushing is putting on a queue. A stalled client (fault injection) silently drops
everything, heartbeats included, while its TCP connection stays open.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass
from dataclasses import field
from enum import Enum
from typing import Any

# Beyond this many queued frames a slow reader loses market-data updates (never order updates).
MAX_QUEUED_MARKET_FRAMES = 20_000


class FrameKind(Enum):
    """What the writer task does with a queued item."""

    TEXT = "text"
    BINARY = "binary"
    RAW_TEXT = "raw_text"
    CLOSE = "close"
    ABORT = "abort"


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
        self._ids = itertools.count(1)

    def connect(self) -> WsClient:
        """Register a new connection."""
        client = WsClient(next(self._ids))
        self.clients.add(client)
        return client

    def disconnect(self, client: WsClient) -> None:
        """Forget a connection."""
        self.clients.discard(client)

    def send(self, client: WsClient, payload: dict[str, Any]) -> None:
        """Queue one JSON message for a client (dropped while the client is stalled)."""
        if client.stalled:
            return
        kind = FrameKind.BINARY if self.binary else FrameKind.TEXT
        client.queue.put_nowait(Frame(kind, encode(payload)))

    def send_raw(self, client: WsClient, kind: FrameKind, data: bytes = b"") -> None:
        """Queue a raw frame, close or abort regardless of stalls (fault injection)."""
        client.queue.put_nowait(Frame(kind, data))

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
