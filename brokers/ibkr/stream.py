"""Websocket stream of the gateway: connect, authenticate, subscribe, watch, reconnect.

:class:`IbkrStream` keeps the *desired* subscriptions (market data per conid, live orders, trades,
P&L) and re-sends all of them every time the socket is (re)authenticated, because the gateway does
not remember them across connections. It is steppable: :meth:`IbkrStream.poll` reads one frame,
:meth:`IbkrStream.tick` runs the watchdog, the ``tic`` keep-alive and reconnect schedule. The
stream thread simply alternates the two; tests drive them with a scripted connection and a
simulated clock.

Decoding is lenient (the gateway sends binary frames and, at times, bytes that are not UTF-8):
bytes are decoded with replacement, and anything that is not a JSON object is counted in
:attr:`IbkrStream.malformed` and skipped. Handling one frame is the stream's isolation point: a frame
whose handling raises (a payload shape no parser foresaw) is counted in :attr:`IbkrStream.malformed`
and :attr:`IbkrStream.skipped` (by error kind), logged once per kind, and skipped; it never ends the
stream thread. A socket that stays open but goes silent (no heartbeat for ``ws_stall_timeout``) is
closed and reconnected with exponential back-off and jitter.

TLS (:func:`connect_websocket`): the socket and the TLS handshake are opened here, and the CA chain
and the pinned fingerprint are checked on the TLS connection *before* the upgrade request (which
carries the session cookie) is written; websocket-client then speaks HTTP over that socket.

Threading: :meth:`poll` and :meth:`tick` run on the stream thread; :meth:`subscribe` and
:meth:`unsubscribe` may be called from any thread. Callbacks run on the stream thread and must only
parse and enqueue.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import socket
import ssl
import threading
import traceback
from collections import Counter
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any
from typing import Protocol
from urllib.parse import urlsplit

import websocket

from brokers.ibkr.config import IbkrConfig
from framework.clock import Clock

log = logging.getLogger(__name__)

MessageHandler = Callable[[dict[str, Any]], None]


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


class StreamState(StrEnum):
    """Where the stream is."""

    CLOSED = "closed"
    AUTHENTICATING = "authenticating"
    OPEN = "open"


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
        self._ws.close()


def connect_websocket(url: str, *, cookie: str, config: IbkrConfig, timeout: float = 1.0) -> WsConnection:
    """Open a websocket to the gateway with the configured TLS policy (the production factory).

    The TLS connection is verified (CA chain and/or pinned fingerprint) before the upgrade request,
    so the session cookie never reaches an unverified peer.

    Args:
        url: ``wss://`` (or ``ws://``) URL of the gateway websocket.
        cookie: The ``api`` cookie carrying the session id.
        config: TLS policy (``ca_file``, ``pinned_sha256``, ``insecure_skip_tls_verify``) and
            ``connect_timeout``.
        timeout: Read timeout of the open socket (``recv`` returns None when it passes).

    Raises:
        ConnectionError: The connection, the TLS verification or the upgrade failed.
    """
    parts = urlsplit(url)
    secure = parts.scheme == "wss"
    host = parts.hostname or "localhost"
    try:
        sock = socket.create_connection((host, parts.port or (443 if secure else 80)), config.connect_timeout)
    except OSError as e:
        raise ConnectionError(f"websocket connect to {url} failed: {e}") from e
    try:
        if secure:
            sock = _verified_tls(sock, host, config)
        sock.settimeout(timeout)
        # redirect_limit=0: a redirect would open a second connection outside this TLS policy
        ws = websocket.create_connection(
            url, socket=sock, cookie=cookie, timeout=timeout, skip_utf8_validation=True,
            enable_multithread=True, redirect_limit=0,
        )
    except (websocket.WebSocketException, OSError) as e:  # ssl.SSLError and ConnectionError are OSErrors
        sock.close()
        raise ConnectionError(f"websocket connect to {url} failed: {e}") from e
    return _WebSocketClientConnection(ws)


def _tls_context(config: IbkrConfig) -> ssl.SSLContext:
    if config.ca_file is not None:
        context = ssl.create_default_context(cafile=str(config.ca_file))
        if config.pinned_sha256 is not None:
            context.check_hostname = False  # the pin names the exact certificate (urllib3 does the same for REST)
        return context
    context = ssl.create_default_context()  # no CA configured: the system store, which fails closed
    if config.pinned_sha256 is not None or config.insecure_skip_tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # a pin replaces the chain; insecure mode is logged by the session
    return context


def _verified_tls(sock: socket.socket, host: str, config: IbkrConfig) -> ssl.SSLSocket:
    # The handshake (and with it the chain check) happens in wrap_socket; the pin is checked right
    # after, before a single byte of HTTP is written.
    try:
        tls = _tls_context(config).wrap_socket(sock, server_hostname=host)
    except OSError:
        sock.close()
        raise
    pin = config.pinned_sha256
    if pin is not None:
        der = tls.getpeercert(binary_form=True)
        received = hashlib.sha256(der).hexdigest() if der is not None else "none"
        if received != pin:
            tls.close()
            msg = f"gateway certificate does not match the pinned fingerprint: expected {pin}, received {received}"
            raise ConnectionError(msg)
    return tls


def decode_frame(data: str | bytes) -> dict[str, Any] | None:
    """Decode one frame to a JSON object; None if it is not one (bad bytes are replaced)."""
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class IbkrStream:
    """The gateway websocket with desired-state subscriptions, watchdog and reconnect.

    Args:
        config: Adapter settings (URL, timeouts, back-off).
        clock: Monotonic time for the watchdog and schedules.
        connect: Factory ``connect(url, cookie=...) -> WsConnection``.
        on_message: Receives every decoded message (after the stream's own handling).
        on_state: Receives ``(state, reason)`` whenever the stream state changes.
        rng: Jitter source for reconnect back-off.

    Attributes:
        frames: Frames received.
        malformed: Frames skipped because they could not be decoded or handled (the broker adds
            unreadable order and execution rows).
        skipped: Skipped frames by kind (``"not a JSON object"``, or the exception type and where
            it was raised).
        loop_errors: Unexpected errors of :meth:`run` outside frame handling (the thread went on).
        reconnects: Reconnect attempts after a stall or a drop.
    """

    def __init__(
        self,
        config: IbkrConfig,
        clock: Clock,
        connect: Callable[..., WsConnection],
        on_message: MessageHandler,
        on_state: Callable[[StreamState, str], None],
        *,
        rng: random.Random | None = None,
    ) -> None:
        self._config = config
        self._clock = clock
        self._connect = connect
        self._on_message = on_message
        self._on_state = on_state
        self._rng = rng or random.Random()
        self._lock = threading.RLock()
        self._conn: WsConnection | None = None
        self._subscriptions: dict[str, str] = {}
        self._session_id: str | None = None
        self._wanted = False
        self._attempts = 0
        self._next_attempt = 0.0
        self._last_rx = 0.0
        self._next_tic = 0.0
        self.state = StreamState.CLOSED
        self.malformed = 0
        self.skipped: Counter[str] = Counter()
        self.loop_errors = 0
        self.frames = 0
        self.reconnects = 0

    # ----------------------------------------------------------------- subscriptions

    def subscribe(self, key: str, command: str) -> None:
        """Want subscription ``key`` (sent now if open, and again after every reconnect)."""
        with self._lock:
            self._subscriptions[key] = command
            if self.state is StreamState.OPEN:
                self._send(command)

    def unsubscribe(self, key: str, command: str | None = None) -> None:
        """Stop wanting ``key``; ``command`` is sent if open (some topics need none)."""
        with self._lock:
            self._subscriptions.pop(key, None)
            if command is not None and self.state is StreamState.OPEN:
                self._send(command)

    @property
    def subscriptions(self) -> dict[str, str]:
        """The desired subscriptions, by key."""
        with self._lock:
            return dict(self._subscriptions)

    # ----------------------------------------------------------------- connection

    def open(self, session_id: str | None) -> None:
        """Connect now (or schedule retries) using the gateway ``session_id`` for authentication."""
        with self._lock:
            self._wanted = True
            self._session_id = session_id
            self._drop("reopening", schedule=False)
            self._next_attempt = self._clock.monotonic()
            self._try_connect(self._next_attempt)

    def close(self) -> None:
        """Close and stop reconnecting; idempotent."""
        with self._lock:
            self._wanted = False
            self._drop("closed by the adapter", schedule=False)

    def _try_connect(self, now: float) -> None:
        cookie = "api=" + json.dumps({"session": self._session_id or ""}, separators=(",", ":"))
        try:
            conn = self._connect(self._config.websocket_url, cookie=cookie)
        except ConnectionError as e:
            self._schedule_retry(now, f"connect failed: {e}")
            return
        self._conn = conn
        self._last_rx = now
        self._set(StreamState.AUTHENTICATING, "connected, waiting for authentication")

    def _schedule_retry(self, now: float, reason: str) -> None:
        delay = min(self._config.reconnect_max, self._config.reconnect_initial * 2**self._attempts)
        self._attempts = min(self._attempts + 1, 16)
        self._next_attempt = now + delay * (0.5 + self._rng.random() / 2)
        log.warning("stream: %s; reconnecting in %.1fs", reason, self._next_attempt - now)

    def _drop(self, reason: str, *, schedule: bool = True) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except (ConnectionError, OSError) as e:
                log.debug("closing the websocket failed: %s", e)
        if schedule and self._wanted:
            self._schedule_retry(self._clock.monotonic(), reason)
        self._set(StreamState.CLOSED, reason)

    def _send(self, text: str) -> None:
        if self._conn is None:
            return
        try:
            self._conn.send(text)
        except ConnectionError as e:
            self._drop(f"send failed: {e}")

    def _set(self, state: StreamState, reason: str) -> None:
        if state is not self.state:
            self.state = state
            self._on_state(state, reason)

    # ----------------------------------------------------------------- stepping

    def poll(self) -> bool:
        """Read and handle one frame; return whether one arrived."""
        conn = self._conn
        if conn is None:
            return False
        try:
            data = conn.recv()
        except ConnectionError as e:
            with self._lock:
                if self._conn is conn:
                    self._drop(f"connection lost: {e}")
            return False
        if data is None:
            return False
        self._last_rx = self._clock.monotonic()
        self.frames += 1
        self._handle_frame(data)
        return True

    def _handle_frame(self, data: str | bytes) -> None:
        try:
            message = decode_frame(data)
            if message is None:
                self._skip("not a JSON object", None)
                return
            self._handle_control(message)
            self._on_message(message)
        except Exception as e:  # noqa: BLE001 - the isolation point: one frame must never end the thread
            self._skip(_error_kind(e), e)

    def _skip(self, kind: str, error: Exception | None) -> None:
        self.malformed += 1
        self.skipped[kind] += 1
        if self.skipped[kind] == 1:  # one line per kind: a burst of bad frames must not flood the log
            detail = f": {error}" if error is not None else ""
            log.warning("stream: skipped a frame (%s%s); further ones of this kind are only counted", kind, detail)

    def _handle_control(self, message: dict[str, Any]) -> None:
        topic = message.get("topic")
        if topic is None and message.get("message") == "waiting for session":
            self._send(json.dumps({"session": self._session_id or ""}))
            return
        authenticated = topic == "system" and "success" in message
        if topic == "sts":
            args = message.get("args")
            authenticated = isinstance(args, dict) and args.get("authenticated") is True
        if authenticated and self.state is StreamState.AUTHENTICATING:
            with self._lock:
                self._attempts = 0
                self._set(StreamState.OPEN, "authenticated")
                self._next_tic = self._clock.monotonic() + self._config.ws_tic_interval
                for command in self._subscriptions.values():
                    self._send(command)

    def tick(self, now: float) -> None:
        """Run the watchdog, the ``tic`` keep-alive and due reconnects at monotonic time ``now``."""
        with self._lock:
            if self._conn is not None:
                if now - self._last_rx > self._config.ws_stall_timeout:
                    self.reconnects += 1
                    self._drop(f"stalled: no frame for {now - self._last_rx:.0f}s")
                elif self.state is StreamState.OPEN and now >= self._next_tic:
                    self._next_tic = now + self._config.ws_tic_interval
                    self._send("tic")
            elif self._wanted and now >= self._next_attempt:
                self.reconnects += 1
                self._try_connect(now)

    def run(self, stop: threading.Event, tick_every: float = 0.5) -> None:
        """Thread body: poll frames and tick until ``stop`` is set; survives any one failing step."""
        next_tick = 0.0
        while not stop.is_set():
            try:
                if not self.poll() and self._conn is None:
                    stop.wait(0.05)
                now = self._clock.monotonic()
                if now >= next_tick:
                    next_tick = now + tick_every
                    self.tick(now)
            except Exception:  # isolation point: a bug in one step must not silently end the stream thread
                self.loop_errors += 1
                log.exception("stream: unexpected error in the stream thread (%d so far); continuing",
                              self.loop_errors)
                stop.wait(tick_every)  # a persistent failure must not spin


def _error_kind(error: Exception) -> str:
    # The exception type plus where it was raised: distinct bugs get distinct log lines.
    frames = traceback.extract_tb(error.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"{type(error).__name__}{where}"
