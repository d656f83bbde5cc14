"""The adapter's link to the gateway: drives the session and the stream, and says what state it is in.

:class:`GatewayLink` is the incoming half of :class:`~brokers.ibkr.broker.IbkrBroker`. Its
:meth:`~GatewayLink.poll` reads one frame from the stream and routes the frame's typed messages
through the :class:`~brokers.ibkr.incoming.IncomingRouter`; its :meth:`~GatewayLink.tick` steps the
session manager and the stream's watchdog. Neither part calls anybody: both return their state
changes, and the link acts on them here (a recovered session reopens the stream, a dropped stream
asks for an early tickle, a reopened one asks for a reconciliation) and turns the pair of states into
the framework's view (:func:`connection_state`), announced as ``BrokerConnected`` /
``BrokerDegraded`` / ``BrokerDisconnected``. A stream back after an interruption also announces what
may be missing: ``DataGap`` per streamed instrument. Every event goes into the one sink it was given at
:meth:`~GatewayLink.begin`; the link knows nothing of the broker that owns it.

Scheduled maintenance (:mod:`brokers.ibkr.maintenance`): while the wall clock is inside a window the
link is DEGRADED whatever the session and the stream say, announced once with the window as the
reason (``scheduled maintenance: ...``); failures inside it change nothing the framework sees (no
``BrokerDisconnected``, no second ``BrokerDegraded``). When the window ends the session is tickled
at once (so a session the reset ended is found before anything is announced), the orders are
reconciled, and the link is CONNECTED again once the session and the stream are.

Threading: :meth:`~GatewayLink.run` is the stream thread's body (:meth:`poll` between watchdog
ticks); :meth:`tick` runs on the keep-alive thread. State changes from both are serialised.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from collections.abc import Sequence
from datetime import datetime

from brokers.ibkr.incoming import IncomingRouter
from brokers.ibkr.maintenance import Blackout
from brokers.ibkr.maintenance import MaintenanceCalendar
from brokers.ibkr.session import SessionChange
from brokers.ibkr.session import SessionManager
from brokers.ibkr.session import SessionState
from brokers.ibkr.stream import IbkrStream
from brokers.ibkr.stream import StreamState
from brokers.ibkr.stream import StreamStateChanged
from framework.broker import ConnectionState
from framework.broker import EventSink
from framework.clock import Clock
from framework.events import AnyEvent
from framework.events import BrokerConnected
from framework.events import BrokerDegraded
from framework.events import BrokerDisconnected

log = logging.getLogger(__name__)

STREAM_TICK_SECONDS = 0.5  # the stream thread runs the stream's watchdog this often between frames
IDLE_SECONDS = 0.05  # the stream thread's pause while no socket is open


def connection_state(session: SessionState, stream: StreamState, rate_limited: bool = False,
                     maintenance: bool = False) -> ConnectionState:
    """The adapter's state for the framework.

    Connected only with a ready session, an open stream, no rate-limit penalty running (requests
    would be held back) and outside scheduled maintenance; degraded (never disconnected) inside it.
    """
    if maintenance:
        return ConnectionState.DEGRADED
    if session is SessionState.DISCONNECTED:
        return ConnectionState.DISCONNECTED
    if session is SessionState.READY and stream is StreamState.OPEN and not rate_limited:
        return ConnectionState.CONNECTED
    return ConnectionState.DEGRADED


def connection_event(state: ConnectionState, broker: str, reason: str, ts: datetime) -> AnyEvent:
    """The event announcing ``state`` (CONNECTED, DEGRADED or DISCONNECTED)."""
    if state is ConnectionState.CONNECTED:
        return BrokerConnected(ts=ts, broker=broker)
    if state is ConnectionState.DEGRADED:
        return BrokerDegraded(ts=ts, broker=broker, reason=reason)
    return BrokerDisconnected(ts=ts, broker=broker, reason=reason)


class GatewayLink:
    """Drives the session and the stream, routes what the stream reads, and tracks the connection state.

    Args:
        name: The broker's name, for the connection events.
        clock: Time for schedules and event stamps.
        session: The gateway session.
        stream: The websocket stream.
        router: Turns the stream's typed messages into events.
        rate_limited: Why every REST request is held back (a 429 penalty), or None; the state is
            DEGRADED meanwhile.
        maintenance: The gateway's scheduled maintenance; the state is DEGRADED inside a window.

    Attributes:
        state: The connection state the framework sees.
        opened: Set once the stream has authenticated (``connect`` waits for it).
        reconcile_due: None while nothing is due; True after a session recovery, False after a stream
            reconnect (events may have been missed); the broker resets it once reconciled.
        loop_errors: Unexpected errors of :meth:`run` outside frame reading (the thread went on).

    Events:
        Emits ``BrokerConnected`` / ``BrokerDegraded`` / ``BrokerDisconnected`` as the session and
        the stream change, ``DataGap`` per streamed instrument when the stream is back after an
        interruption, and what the router returns for each frame (``QuoteUpdated``, ``BarClosed``,
        order events, ``PnlUpdated``, ``HaltRequested``).
    """

    def __init__(
        self, name: str, clock: Clock, session: SessionManager, stream: IbkrStream, router: IncomingRouter, *,
        rate_limited: Callable[[], str | None] = lambda: None,
        maintenance: MaintenanceCalendar | None = None,
    ) -> None:
        self._name = name
        self._maintenance = maintenance or MaintenanceCalendar(())
        self._blackout: Blackout | None = None
        self._rate_limited = rate_limited
        self._penalized = False
        self._clock = clock
        self._session = session
        self._stream = stream
        self._router = router
        self._sink: EventSink | None = None
        self._lock = threading.RLock()
        self._muted = True  # no connection events before begin() and after end()
        self._ever_open = False
        self.state = ConnectionState.DISCONNECTED
        self.opened = threading.Event()
        self.reconcile_due: bool | None = None
        self.loop_errors = 0

    # ----------------------------------------------------------------- lifecycle

    def begin(self, sink: EventSink) -> None:
        """A connect starts: events go to ``sink``, the state is CONNECTING until the stream opens."""
        with self._lock:
            self._sink = sink
            self._muted = False
            self.state = ConnectionState.CONNECTING
        self._enter_or_leave_blackout()  # a start inside a window starts degraded

    def settle(self, reason: str) -> None:
        """Announce the state reached, whatever it is (``connect`` has waited for the stream)."""
        self._update(reason, settle=True)

    def end(self) -> None:
        """Stop announcing (a disconnect by request, or a failed connect); the state is DISCONNECTED."""
        with self._lock:
            self._muted = True
            self.state = ConnectionState.DISCONNECTED
            self._blackout = None  # judged afresh by the next begin()

    # ----------------------------------------------------------------- stepping

    def poll(self) -> bool:
        """Read one frame and deliver its events; return whether a frame arrived."""
        polled = self._stream.poll()
        if polled.changes:
            self._on_stream_changes(polled.changes)
        if polled.messages and polled.ts is not None:
            self._emit(self._router.route(polled.messages, polled.ts))
            self._on_session_changes(self._session.take_changes())  # a sts/act push may have degraded it
        return polled.received

    def tick(self, now: float) -> None:
        """Step the session's keep-alive or recovery and the stream's watchdog to monotonic ``now``.

        A rate-limit penalty starting or ending changes the state too, and so does a scheduled
        maintenance window beginning or ending (judged first, so a window is announced before what
        fails inside it).
        """
        ended = self._enter_or_leave_blackout()
        self._on_session_changes(self._session.tick(now))  # after a window: the session checked first
        if ended is not None:
            self._update(f"{ended.window.name} over")
        self._on_stream_changes(self._stream.tick(now))
        reason = self._rate_limited()
        if (reason is not None) != self._penalized:
            with self._lock:
                self._penalized = reason is not None
            self._update(reason or "rate-limit penalty over: the gateway answered again")

    def run(self, stop: threading.Event) -> None:
        """The stream thread: read frames, tick the stream between them, until ``stop`` is set."""
        next_tick = 0.0
        while not stop.is_set():
            try:
                if not self.poll() and not self._stream.connected:
                    stop.wait(IDLE_SECONDS)
                now = self._clock.monotonic()
                if now >= next_tick:
                    next_tick = now + STREAM_TICK_SECONDS
                    self._on_stream_changes(self._stream.tick(now))
            except Exception:  # isolation point: a bug in one step must not silently end the stream thread
                self.loop_errors += 1
                log.exception("stream thread: unexpected error (%d so far); continuing", self.loop_errors)
                stop.wait(STREAM_TICK_SECONDS)  # a persistent failure must not spin

    @property
    def blackout(self) -> Blackout | None:
        """The scheduled maintenance window the link is in (as of its last tick), or None."""
        return self._blackout

    # ----------------------------------------------------------------- reactions

    def _enter_or_leave_blackout(self) -> Blackout | None:
        # a window beginning is announced here; one that ended is returned, for the caller to
        # announce once the session has been checked
        blackout = self._maintenance.active(self._clock.now())
        with self._lock:
            previous, self._blackout = self._blackout, blackout
        if (blackout is None) == (previous is None):
            return None
        if blackout is not None:
            log.info("%s: orders wait; gateway errors until then are expected", blackout.describe())
            self._update(blackout.describe())
            return None
        assert previous is not None
        log.info("%s is over: checking the session and reconciling orders", previous.window.describe())
        self._session.check_now()
        if self.reconcile_due is None:
            self.reconcile_due = False  # what happened meanwhile may have been missed
        return previous

    def _on_session_changes(self, changes: Sequence[SessionChange]) -> None:
        for change in changes:
            self._update(change.reason, session=change.state)
            # a socket needs a session the gateway accepts: no reconnects until it is ready again
            self._stream.pause_reconnects(change.state is not SessionState.READY)
            if change.recovered:  # resubscribe with the (maybe new) session id, then reconcile
                self.reconcile_due = True
                self._stream.open(self._session.session_id)

    def _on_stream_changes(self, changes: Sequence[StreamStateChanged]) -> None:
        for change in changes:
            if change.state is StreamState.OPEN:
                if self._ever_open and self.reconcile_due is None:
                    self.reconcile_due = False  # a reconnect: events may have been missed
                self._ever_open = True
                self.opened.set()
                if change.gap is not None:
                    self._emit(self._router.data_gaps(*change.gap))
            elif change.state is StreamState.CLOSED:
                self._session.check_now()  # a dropped stream may mean a restarted gateway or a lost session
            self._update(f"stream {change.reason}", stream=change.state)

    def _update(self, reason: str, *, session: SessionState | None = None, stream: StreamState | None = None,
                settle: bool = False) -> None:
        # each change is judged with the state it reports (a session may degrade and recover within
        # one tick: both are announced), the other part with its current state
        with self._lock:
            if self._muted:
                return  # not connected yet, or disconnected on request
            session = self._session.state if session is None else session
            blackout = self._blackout
            new = connection_state(session, self._stream.state if stream is None else stream, self._penalized,
                                   blackout is not None)
            if new is self.state or (self.state is ConnectionState.CONNECTING and blackout is None
                                     and new is not ConnectionState.CONNECTED and not settle):
                return  # unchanged, or still starting up
            if blackout is not None:
                reason = blackout.describe()  # whatever else failed, the window is why
            self.state = new
            self._emit((connection_event(new, self._name, reason, self._clock.now()),))

    def _emit(self, events: Sequence[AnyEvent]) -> None:
        sink = self._sink
        if sink is not None:
            for event in events:
                sink(event)
