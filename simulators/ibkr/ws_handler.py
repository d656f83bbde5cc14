"""The ``/v1/api/ws`` endpoint: one reader loop and one writer task per connection.

The reader applies client commands (:mod:`simulators.ibkr.ws_commands`); the writer drains the
client's queue, which is also how faults reach the wire: raw frames with invalid UTF-8 or truncated
JSON, an orderly close (close frame, code 1000), an abort (the connection is closed without a close
frame: the client sees code 1006), or a TCP reset (``SO_LINGER`` 0, then closed: the client reads
``ECONNRESET``). While the hub refuses websockets (fault injection) an upgrade is answered 503.
:func:`_apply` is the websocket's isolation point (as ``isolate_errors`` is for HTTP): a command that
still breaks a handler is logged and skipped, never allowed to close the client's connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct

from aiohttp import WSMsgType
from aiohttp import web

from simulators.ibkr import ws_commands
from simulators.ibkr.core import GatewayCore
from simulators.ibkr.http_json import core_of
from simulators.ibkr.hub import FrameKind
from simulators.ibkr.hub import WsClient

log = logging.getLogger(__name__)


async def _write(ws: web.WebSocketResponse, request: web.Request, client: WsClient) -> None:
    while True:
        frame = await client.queue.get()
        if frame.kind in (FrameKind.ABORT, FrameKind.RESET):
            _end_abruptly(request, reset=frame.kind is FrameKind.RESET)
            return
        if frame.kind is FrameKind.CLOSE:
            await ws.close()
            return
        if frame.kind is FrameKind.TEXT:
            await ws.send_str(frame.data.decode())
        elif frame.kind is FrameKind.BINARY:
            await ws.send_bytes(frame.data)
        else:
            # Deliberately bypasses send_str so the payload can be invalid UTF-8 (fault injection).
            await ws.send_frame(frame.data, WSMsgType.TEXT)


def _end_abruptly(request: web.Request, *, reset: bool) -> None:
    transport = request.transport
    if transport is None:
        return
    if reset:  # linger 0: closing the socket sends RST instead of FIN
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def _apply(core: GatewayCore, client: WsClient, text: str) -> None:
    core.pump()
    try:
        ws_commands.handle(core, client, text)
    except Exception:
        # The documented isolation point: one bad command must never take the connection down.
        log.exception("unhandled error applying websocket command %r", text[:80])


def _greet(core: GatewayCore, client: WsClient, request: web.Request) -> None:
    session_id = ws_commands.session_from_cookie(request.headers.get("Cookie"))
    if session_id is not None:
        ws_commands.authenticate(core, client, session_id)
    else:
        core.hub.send(client, {"message": "waiting for session"})


async def _read(ws: web.WebSocketResponse, core: GatewayCore, client: WsClient, writer: asyncio.Task[None]) -> None:
    async for message in ws:
        if writer.done():
            break
        if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
            continue
        client.received += 1
        if client.stalled:
            continue  # half-open: read and ignored
        text = message.data if message.type is WSMsgType.TEXT else message.data.decode("utf-8", errors="replace")
        _apply(core, client, text)


async def websocket(request: web.Request) -> web.StreamResponse:
    """Serve one websocket connection until either side closes it."""
    core = core_of(request)
    if core.hub.refusing:
        return web.Response(status=503, text="websocket refused (simulated fault)")
    ws = web.WebSocketResponse(autoping=True, max_msg_size=1 << 20)
    # registered and greeted before the upgrade completes: a client that sees the upgrade finds the
    # connection in the log and its greeting queued
    client = core.hub.connect(core.clock.monotonic())
    _greet(core, client, request)
    writer: asyncio.Task[None] | None = None
    try:
        await ws.prepare(request)
        writer = asyncio.create_task(_write(ws, request, client))
        await _read(ws, core, client, writer)
    finally:
        core.hub.disconnect(client, core.clock.monotonic())
        if writer is not None and not writer.done():
            writer.cancel()
        if writer is not None:
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await writer
        if ws.prepared and not ws.closed:
            await ws.close()
    return ws
