"""Websocket stream of the gateway: connect, authenticate, subscribe, read, watch, reconnect.

:class:`IbkrStream` keeps the *desired* subscriptions (market data per conid, live orders, trades,
P&L) and re-sends all of them every time the socket is (re)authenticated, because the gateway does
not remember them across connections. It is steppable and calls nobody: :meth:`IbkrStream.poll`
reads one frame and returns it as typed messages (:func:`~brokers.ibkr.topics.parse_frame`) together
with the state changes since the previous call; :meth:`IbkrStream.tick` runs the watchdog, the ``tic``
and ``ech+hb`` keep-alives and the reconnect schedule and returns its state changes. Whoever drives the stream (the
broker's stream thread, or a test) acts on what comes back.

The stream itself acts on three messages: ``waiting for session`` (answered with the session id, once
per connection: asked again, the gateway refused it, and the socket is dropped rather than answered
forever), an authenticated ``sts`` or ``system`` ``success`` (the stream opens and re-sends every
subscription), and a refused order or execution row (counted as malformed). Reconnect attempts pause
while the session is not ready (:meth:`IbkrStream.pause_reconnects`): a socket needs a session the
gateway accepts.

Decoding is lenient (the gateway sends binary frames and, at times, bytes that are not UTF-8):
bytes are decoded with replacement, the bare-text ``ech+hb`` echo some builds send is a keep-alive
answer, and anything else that is not a JSON object is counted in
:attr:`IbkrStream.malformed` and skipped. Reading one frame is the stream's isolation point: a frame
whose parsing raises (a payload shape no wire model foresaw) is counted in :attr:`IbkrStream.malformed`
and :attr:`IbkrStream.skipped` (by error kind), logged once per kind, and skipped; it never ends the
stream thread. A socket that stays open but goes silent (no frame for ``ws_stall_timeout``) is closed
and reconnected with exponential back-off and jitter (logged at INFO inside a scheduled maintenance
window, where it is expected, and at WARNING elsewhere). When the stream opens again after it was
open before, the change says since when data may be missing (:attr:`StreamStateChanged.gap`).

The connection itself comes from a factory (:func:`brokers.ibkr.wsconnect.connect_websocket` in
production, which verifies TLS before the upgrade), so tests can hand the stream any
:class:`~brokers.ibkr.wsconnect.WsConnection`.

Threading: :meth:`poll` runs on one thread (the stream thread); :meth:`tick`, :meth:`subscribe`,
:meth:`unsubscribe`, :meth:`open` and :meth:`close` may be called from any thread. A state change is
returned once, by whichever :meth:`poll` or :meth:`tick` comes next (:meth:`take_changes` drains them
too).
"""

from __future__ import annotations

import json
import logging
import random
import threading
import traceback
from collections import Counter
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any
from typing import NamedTuple

from brokers.ibkr.config import IbkrConfig
from brokers.ibkr.topics import Incoming
from brokers.ibkr.topics import LoggedIn
from brokers.ibkr.topics import RowRefused
from brokers.ibkr.topics import SessionStatus
from brokers.ibkr.topics import WaitingForSession
from brokers.ibkr.topics import parse_frame
from brokers.ibkr.wsconnect import WsConnection
from framework.clock import Clock

log = logging.getLogger(__name__)


class StreamState(StrEnum):
    """Where the stream is."""

    CLOSED = "closed"
    AUTHENTICATING = "authenticating"
    OPEN = "open"


@dataclass(frozen=True, slots=True)
class StreamStateChanged:
    """The stream moved to ``state`` because of ``reason``.

    Attributes:
        state: The new state.
        reason: Why, for logs and ``BrokerDegraded``.
        gap: On an OPEN that follows an interruption: (the last frame read while it was open before,
            now). Data sent meanwhile was not received. None otherwise (the first open, any other state).
    """

    state: StreamState
    reason: str
    gap: tuple[datetime, datetime] | None = None


class Polled(NamedTuple):
    """What one :meth:`IbkrStream.poll` brought.

    Attributes:
        received: Whether a frame arrived (a skipped, malformed one included).
        messages: The frame's typed messages, in frame order (empty if none arrived or it was skipped).
        ts: When the frame was read (None if none arrived); the time the messages are stamped with.
        changes: State changes since the previous poll or tick, oldest first.
    """

    received: bool
    messages: Sequence[Incoming]
    ts: datetime | None
    changes: Sequence[StreamStateChanged]


_NOTHING: tuple[()] = ()
KEEPALIVES = ("tic", "ech+hb")
"""The websocket keep-alives sent every ``ws_tic_interval``: IBKR's documents name either one, and which
one a gateway build wants is not verified, so both go (one small frame each, answered by the gateway)."""
ECHOES = frozenset({"ech+hb", b"ech+hb"})
"""The answer to ``ech+hb`` when a build echoes the command as bare text rather than a JSON object."""


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
        clock: Monotonic time for the watchdog and schedules; wall time to stamp frames.
        connect: Factory ``connect(url, cookie=...) -> WsConnection``.
        rng: Jitter source for reconnect back-off.

    Attributes:
        state: Where the stream is.
        frames: Frames received.
        malformed: Frames (and order or execution rows) skipped because they could not be decoded
            or parsed.
        skipped: Skipped frames and rows by kind (``"not a JSON object"``, ``"ValidationError at sor
            row"``, or the exception type and where it was raised).
        reconnects: Reconnect attempts after a stall or a drop.
    """

    def __init__(
        self,
        config: IbkrConfig,
        clock: Clock,
        connect: Callable[..., WsConnection],
        *,
        rng: random.Random | None = None,
    ) -> None:
        self._config = config
        self._clock = clock
        self._connect = connect
        self._rng = rng or random.Random()
        self._lock = threading.RLock()
        self._conn: WsConnection | None = None
        self._subscriptions: dict[str, str] = {}
        self._session_id: str | None = None
        self._wanted = False
        self._paused = False  # no reconnect attempts while the session cannot authenticate a socket
        self._answered = False  # this connection's "waiting for session" was answered once
        self._attempts = 0
        self._next_attempt = 0.0
        self._last_rx = 0.0
        self._next_tic = 0.0
        self._last_data_at: datetime | None = None  # the last frame read while open
        self._gap_since: datetime | None = None  # open before, then interrupted: data missing since
        self._changes: list[StreamStateChanged] = []
        self._maintenance = config.maintenance_calendar()
        # the messages the stream acts on itself; everything is returned to the caller as well
        self._control: dict[type, Callable[[Any], None]] = {
            WaitingForSession: self._answer_waiting,
            SessionStatus: self._on_status,
            LoggedIn: self._on_logged_in,
            RowRefused: self._on_refused,
        }
        self.state = StreamState.CLOSED
        self.malformed = 0
        self.skipped: Counter[str] = Counter()
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

    @property
    def connected(self) -> bool:
        """Whether a socket is open (authenticated or not)."""
        return self._conn is not None

    def open(self, session_id: str | None) -> None:
        """Connect now (or schedule retries) using the gateway ``session_id`` for authentication."""
        with self._lock:
            self._wanted = True
            self._paused = False
            self._session_id = session_id
            self._drop("reopening", schedule=False)
            self._next_attempt = self._clock.monotonic()
            self._try_connect(self._next_attempt)

    def pause_reconnects(self, paused: bool) -> None:
        """Stop (or resume) reconnect attempts; an open socket stays open.

        The session's owner pauses them while the session is not ready: a socket opened then carries
        a session id the gateway no longer accepts. :meth:`open` resumes them, with the new id.
        """
        with self._lock:
            self._paused = paused

    def close(self) -> None:
        """Close and stop reconnecting; idempotent (the next :meth:`open` starts afresh, with no gap)."""
        with self._lock:
            self._wanted = False
            self._drop("closed by the adapter", schedule=False)
            self._gap_since = None

    def take_changes(self) -> list[StreamStateChanged]:
        """Return (and forget) the state changes not yet returned by :meth:`poll` or :meth:`tick`."""
        if not self._changes:  # the common case, without the lock (appends happen under it)
            return []
        with self._lock:
            changes, self._changes = self._changes, []
        return changes

    def _try_connect(self, now: float) -> None:
        cookie = "api=" + json.dumps({"session": self._session_id or ""}, separators=(",", ":"))
        try:
            conn = self._connect(self._config.websocket_url, cookie=cookie)
        except ConnectionError as e:
            self._schedule_retry(now, f"connect failed: {e}")
            return
        self._conn = conn
        self._answered = False
        self._last_rx = now
        self._set(StreamState.AUTHENTICATING, "connected, waiting for authentication")

    def _schedule_retry(self, now: float, reason: str) -> None:
        delay = min(self._config.reconnect_max, self._config.reconnect_initial * 2**self._attempts)
        self._attempts = min(self._attempts + 1, 16)
        self._next_attempt = now + delay * (0.5 + self._rng.random() / 2)
        blackout = self._maintenance.active(self._clock.now())
        if blackout is None:
            log.warning("stream: %s; reconnecting in %.1fs", reason, self._next_attempt - now)
        else:  # expected: not a warning
            log.info("stream: %s; reconnecting in %.1fs; expected during %s", reason, self._next_attempt - now,
                     blackout.describe())

    def _drop(self, reason: str, *, schedule: bool = True) -> None:
        if self.state is StreamState.OPEN and self._gap_since is None:
            self._gap_since = self._last_data_at or self._clock.now()
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

    def _set(self, state: StreamState, reason: str, gap: tuple[datetime, datetime] | None = None) -> None:
        # callers hold the lock
        if state is not self.state:
            self.state = state
            self._changes.append(StreamStateChanged(state, reason, gap))

    # ----------------------------------------------------------------- stepping

    def poll(self) -> Polled:
        """Read at most one frame; return its typed messages and the state changes since the last call."""
        conn = self._conn
        if conn is None:
            return Polled(False, _NOTHING, None, self.take_changes())
        try:
            data = conn.recv()
        except ConnectionError as e:
            with self._lock:
                if self._conn is conn:
                    self._drop(f"connection lost: {e}")
            return Polled(False, _NOTHING, None, self.take_changes())
        if data is None:
            return Polled(False, _NOTHING, None, self.take_changes())
        self._last_rx = self._clock.monotonic()
        self.frames += 1
        ts = self._clock.now()
        messages = self._read(data, ts)
        if self.state is StreamState.OPEN:
            self._last_data_at = ts
        return Polled(True, messages, ts, self.take_changes())

    def _read(self, data: str | bytes, ts: datetime) -> Sequence[Incoming]:
        if data in ECHOES:
            return _NOTHING  # the bare-text answer to ech+hb: a frame (it feeds the watchdog), nothing to read
        try:
            message = decode_frame(data)
            if message is None:
                self._skip("not a JSON object", None)
                return _NOTHING
            messages = parse_frame(message, ts)
            for item in messages:
                control = self._control.get(type(item))
                if control is not None:
                    control(item)
        except Exception as e:  # noqa: BLE001 - the isolation point: one frame must never end the thread
            self._skip(_error_kind(e), str(e))
            return _NOTHING
        return messages

    def _skip(self, kind: str, detail: str | None) -> None:
        self.malformed += 1
        self.skipped[kind] += 1
        if self.skipped[kind] == 1:  # one line per kind: a burst of bad frames must not flood the log
            suffix = f": {detail}" if detail else ""
            log.warning("stream: skipped a frame (%s%s); further ones of this kind are only counted", kind, suffix)

    def _answer_waiting(self, _: WaitingForSession) -> None:
        # answered once per connection: asked again, the gateway refused the id (a restarted gateway,
        # a new session); answering again would ping-pong as fast as the network allows
        with self._lock:
            if self._answered:
                self._drop("the gateway does not accept the session id: waiting for a new session")
                return
            self._answered = True
            self._send(json.dumps({"session": self._session_id or ""}))

    def _on_status(self, status: SessionStatus) -> None:
        if status.authenticated is True:
            self._authenticated()

    def _on_logged_in(self, _: LoggedIn) -> None:
        self._authenticated()

    def _on_refused(self, refused: RowRefused) -> None:
        self._skip(refused.kind, refused.detail)

    def _authenticated(self) -> None:
        if self.state is not StreamState.AUTHENTICATING:
            return
        with self._lock:
            self._attempts = 0
            since, self._gap_since = self._gap_since, None
            self._set(StreamState.OPEN, "authenticated", None if since is None else (since, self._clock.now()))
            self._next_tic = self._clock.monotonic() + self._config.ws_tic_interval
            for command in self._subscriptions.values():
                self._send(command)

    def tick(self, now: float) -> list[StreamStateChanged]:
        """Run the watchdog, the keep-alives (:data:`KEEPALIVES`) and due reconnects at monotonic time ``now``.

        Returns:
            The state changes since the previous poll or tick (this tick's included), oldest first.
        """
        with self._lock:
            if self._conn is not None:
                if now - self._last_rx > self._config.ws_stall_timeout:
                    self.reconnects += 1
                    self._drop(f"stalled: no frame for {now - self._last_rx:.0f}s")
                elif self.state is StreamState.OPEN and now >= self._next_tic:
                    self._next_tic = now + self._config.ws_tic_interval
                    for keepalive in KEEPALIVES:
                        self._send(keepalive)
            elif self._wanted and not self._paused and now >= self._next_attempt:
                self.reconnects += 1
                self._try_connect(now)
        return self.take_changes()


def _error_kind(error: Exception) -> str:
    # The exception type plus where it was raised: distinct bugs get distinct log lines.
    frames = traceback.extract_tb(error.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"{type(error).__name__}{where}"
