"""Opening the gateway's websocket: the connection the stream reads, and its production factory.

:func:`connect_websocket` opens the socket and runs the TLS handshake, checking the CA chain and the
pinned fingerprint on it (:mod:`brokers.ibkr.tls`) *before* the upgrade request (which carries the
session cookie) is written; websocket-client then speaks HTTP over that socket. The result is a
:class:`WsConnection`, the small interface :class:`~brokers.ibkr.stream.IbkrStream` uses (tests pass
their own).
"""

from __future__ import annotations

import socket
from typing import Protocol
from urllib.parse import urlsplit

import websocket

from brokers.ibkr.config import IbkrConfig
from brokers.ibkr.errors import IbkrTlsError
from brokers.ibkr.tls import verified_tls


class WsConnection(Protocol):
    """The part of a websocket connection the stream uses."""

    def send(self, text: str) -> None:
        """Send one text frame."""

    def recv(self) -> str | bytes | None:
        """Return the next frame, or None if nothing arrived within the read timeout.

        Raises:
            ConnectionError: The connection is closed.
        """

    def close(self) -> None:
        """Close the connection; idempotent."""



class _WebSocketClientConnection:
    """Adapts a websocket-client ``WebSocket`` to :class:`WsConnection` (bytes for every frame)."""

    def __init__(self, ws: websocket.WebSocket) -> None:
        self._ws = ws

    def send(self, text: str) -> None:
        try:
            self._ws.send(text)
        except (websocket.WebSocketException, OSError) as e:
            raise ConnectionError(str(e)) from e

    def recv(self) -> str | bytes | None:
        try:
            opcode, data = self._ws.recv_data()
        except websocket.WebSocketTimeoutException:
            return None
        except (websocket.WebSocketException, OSError) as e:
            raise ConnectionError(str(e)) from e
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            raise ConnectionError("closed by the gateway")
        return bytes(data)

    def close(self) -> None:
        # close() sends a close frame and waits briefly for the answer, but returns at once (leaving the socket
        # open) when the gateway closed first; shutdown() always releases the socket and is idempotent
        try:
            self._ws.close(timeout=0.2)
        finally:
            self._ws.shutdown()  # type: ignore[no-untyped-call]


def connect_websocket(url: str, *, cookie: str, config: IbkrConfig, timeout: float = 1.0) -> WsConnection:
    """Open a websocket to the gateway with the configured TLS policy (the production factory).

    The TLS connection is verified (CA chain and/or pinned fingerprint) before the upgrade request,
    so the session cookie never reaches an unverified peer.

    Args:
        url: ``wss://`` (or ``ws://``) URL of the gateway websocket.
        cookie: The ``api`` cookie carrying the session id.
        config: TLS policy (``ca_file``, ``pinned_sha256``, ``insecure_skip_tls_verify``) and
            ``connect_timeout``.
        timeout: Read timeout of the open socket (``recv`` returns None when it passes); the upgrade
            waits up to ``config.read_timeout`` whatever it is, so a short poll never cuts it (the TLS
            handshake is bounded by ``config.connect_timeout``).

    Raises:
        IbkrTlsError: The gateway's certificate was refused (a ``ConnectionError``; the message names
            the problem).
        ConnectionError: The connection or the upgrade failed.
    """
    parts = urlsplit(url)
    secure = parts.scheme == "wss"
    host = parts.hostname or "localhost"
    try:
        sock = socket.create_connection((host, parts.port or (443 if secure else 80)), config.connect_timeout)
    except OSError as e:
        raise ConnectionError(f"websocket connect to {url} failed: {e}") from e
    if secure:
        try:
            sock = verified_tls(sock, host, config, path=parts.path or "/")  # closes the socket when it raises
        except IbkrTlsError:
            raise
        except OSError as e:
            raise ConnectionError(f"websocket connect to {url} failed: {e}") from e
    try:
        handshake = max(timeout, config.read_timeout)
        sock.settimeout(handshake)
        # redirect_limit=0: a redirect would open a second connection outside this TLS policy
        ws = websocket.create_connection(
            url, socket=sock, cookie=cookie, timeout=handshake, skip_utf8_validation=True,
            enable_multithread=True, redirect_limit=0,
        )
        ws.settimeout(timeout)
    except (websocket.WebSocketException, OSError) as e:  # ssl.SSLError and ConnectionError are OSErrors
        sock.close()
        raise ConnectionError(f"websocket connect to {url} failed: {e}") from e
    return _WebSocketClientConnection(ws)
