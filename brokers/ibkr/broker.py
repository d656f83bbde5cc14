"""``IbkrBroker``: the framework's broker over the IBKR Client Portal Web API.

Composes the REST client, the session manager, the websocket stream, the quote book, the order
tracker, order entry and reconciliation, and turns what they report into framework events.

Threading (the One Rule): four adapter threads run after :meth:`IbkrBroker.connect`; the *stream*
thread reads frames, the *keep-alive* thread runs :meth:`IbkrBroker.tick` (tickle, recovery,
reconciliation, order lookups, bar flushing, grouped-order release) about five times a second, and
the command worker's two lanes send order commands: one places and modifies (IBKR's reply dialogue
allows one chain at a time), one cancels, so a cancel never waits behind a placement stuck in I/O.
All of them only call the engine's sink; strategies run on the engine's dispatcher, whose
:meth:`IbkrBroker.execute` only queues. With ``start_threads=False`` nothing runs in the background:
tests call :meth:`IbkrBroker.poll_stream`, :meth:`IbkrBroker.tick` and
:meth:`IbkrBroker.run_commands` themselves.

The incoming path runs one way: stream (frames) -> topics (wire models -> typed messages) ->
:class:`~brokers.ibkr.incoming.IncomingRouter` (quote book, order tracker) -> events -> the sink,
driven by the :class:`~brokers.ibkr.link.GatewayLink`. No part calls the broker back: the stream and
the session manager return their state changes, the REST client records a lost session for the
session manager to read, and events go into the one sink.

Events (docs/ibkr.md has each one's cause): ``BrokerConnected`` / ``BrokerDegraded`` (also for IBKR's
scheduled maintenance) / ``BrokerDisconnected``, ``ClockSkewDetected``, ``QuoteUpdated``, ``BarClosed``,
``DataGap`` (the stream is back after a break), ``PnlUpdated`` (``spl``), ``HaltRequested`` (the session
lists another account), ``CommandNotSent`` and the order facts (``OrderAccepted``, ``OrderRejected``,
``OrderUpdated``, ``ExecutionReported``, ``OrderCancelled``, ``OrderCancelRejected``), by client order id.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Sequence
from datetime import datetime
from datetime import timedelta
from decimal import Decimal

from brokers.ibkr import parsing
from brokers.ibkr.clockskew import ClockSkewMonitor
from brokers.ibkr.config import IbkrConfig
from brokers.ibkr.errors import IbkrError
from brokers.ibkr.incoming import IncomingRouter
from brokers.ibkr.instruments import InstrumentCache
from brokers.ibkr.link import GatewayLink
from brokers.ibkr.orderentry import OrderEntry
from brokers.ibkr.quotes import QuoteBook
from brokers.ibkr.ratelimit import RateLimiter
from brokers.ibkr.reconcile import Reconciler
from brokers.ibkr.rest import IbkrRestClient
from brokers.ibkr.restart import Restart
from brokers.ibkr.session import HttpSession
from brokers.ibkr.session import SessionManager
from brokers.ibkr.session import SessionState
from brokers.ibkr.session import configure_tls
from brokers.ibkr.stream import IbkrStream
from brokers.ibkr.tracking import OrderTracker
from brokers.ibkr.wsconnect import WsConnection
from brokers.ibkr.wsconnect import connect_websocket
from framework.broker import ConnectionState
from framework.broker import EventSink
from framework.clock import Clock
from framework.commands import CancelAllOrders
from framework.commands import CancelOrder
from framework.commands import ModifyOrder
from framework.commands import OrderCommand
from framework.commands import SubmitOrder
from framework.errors import BrokerConnectionError
from framework.events import AnyEvent
from framework.events import BrokerDisconnected
from framework.events import CommandNotSent
from framework.events import OrderCancelRejected
from framework.marketdata import Bar
from framework.marketdata import Quote
from framework.models import Account
from framework.models import Fill
from framework.models import Instrument
from framework.models import Order
from framework.models import OrderRequest
from framework.models import OrderStatus
from framework.models import Position
from framework.models import SecurityType
from framework.worker import CommandWorker

log = logging.getLogger(__name__)

TICK_SECONDS = 0.2
UNPACED_RATE = 1e6  # requests per second when client pacing is off
SNAPSHOT_ATTEMPTS = 6
HISTORY_MAX_BARS = 1000  # the history endpoint's cap per request


class IbkrBroker:
    """The framework's :class:`~framework.broker.Broker` for an IBKR Client Portal gateway.

    Args:
        config: Adapter settings.
        clock: The only time source.
        session: HTTP session to use (TLS policy applied); one is created and owned when None.
        ws_connect: Websocket factory ``(url, cookie=...) -> WsConnection``; the websocket-client
            one when None.
        sleep: How to wait (rate limiting, retries); a test passes one that advances a simulated clock.
        start_threads: Run the stream and keep-alive threads (False in unit tests).
        rng: Jitter source for back-off.
    """

    name = "ibkr"

    def __init__(
        self,
        config: IbkrConfig,
        *,
        clock: Clock,
        session: HttpSession | None = None,
        ws_connect: Callable[..., WsConnection] | None = None,
        sleep: Callable[[float], None] | None = None,
        start_threads: bool = True,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self._owns_http = session is None
        self._http = configure_tls(session, config)
        self._stop = threading.Event()
        # real waits end early on disconnect, so stopping never sits out a pacing delay
        wait = sleep or _waiter(self._stop)
        if config.pacing:
            self._limiter = RateLimiter(clock, global_rate=config.global_rate, max_wait=config.max_rate_wait,
                                        sleep=wait)
        else:  # against a simulator with pacing off only (the config refuses it for live accounts)
            self._limiter = RateLimiter(clock, global_rate=UNPACED_RATE, max_wait=config.max_rate_wait, sleep=wait,
                                        intervals={})
        # a 401 / "no bridge" on any REST call is recorded there and degrades the session at once
        self.rest = IbkrRestClient(config, self._http, self._limiter, wait)
        self.tracker = OrderTracker()
        self.quotes = QuoteBook()
        self._session = SessionManager(config, self.rest, clock, rng=rng)
        connect = ws_connect or (lambda url, **kw: connect_websocket(url, config=config, **kw))
        self.stream = IbkrStream(config, clock, connect, rng=rng)
        self.maintenance = config.maintenance_calendar()
        self.clock_skew = ClockSkewMonitor(self.name, config.clock_skew_threshold)
        self._link = GatewayLink(self.name, clock, self._session, self.stream,
                                 IncomingRouter(self.quotes, self.tracker, self._session, self.name, self.clock_skew),
                                 rate_limited=self.rest.rate_limit_reason, maintenance=self.maintenance)
        self.instruments = InstrumentCache(self.rest)
        self.orders = OrderEntry(config, self.rest, self.tracker, instruments=self.instruments,
                                 accounts=self._session, clock=clock)
        self._reconciler = Reconciler(self.rest, self.tracker, clock, config.order_lookup_window)
        self._restart = Restart(self.tracker, self._reconciler, self.orders, clock, wait=_waiter(self._stop),
                                stopped=self._stop.is_set)
        self._worker = CommandWorker(self._run_command, lane_of=_lane, lanes=("place", "cancel"), sink=self._emit,
                                     clock=clock, on_error=self._command_failed, name="ibkr-orders")
        self._threads_enabled = start_threads
        self._sink: EventSink | None = None
        self._threads: list[threading.Thread] = []
        self.keep_alive_errors = 0  # unexpected exceptions of keep-alive ticks (the loop went on)
        self._history_from_start = False  # the gateway reads history startTime as the window's start


    # ----------------------------------------------------------------- connection

    @property
    def connection_state(self) -> ConnectionState:
        """Connected when the session is ready and the stream authenticated."""
        return self._link.state

    def connect(self, sink: EventSink) -> None:
        """Start the session, open the stream, subscribe orders/trades/P&L, start the threads.

        Raises:
            BrokerConnectionError: The gateway is unreachable, not logged in, or the account refused.
        """
        self._sink = sink
        self._link.begin(sink)
        # a previous disconnect() left the stop signal set: it would cut the start-up's pacing waits
        # short (a 429 on /tickle)
        self._stop.clear()
        try:
            self._session.start()
            self.rest.live_orders(force=True)  # IBKR: query orders before subscribing to "sor"
        except IbkrError as e:
            self._link.end()
            if isinstance(e, BrokerConnectionError):
                raise
            msg = f"IBKR connect failed: {e}"
            raise BrokerConnectionError(msg) from e
        self.stream.subscribe("sor", "sor+{}")
        self.stream.subscribe("str", 'str+{"realtimeUpdatesOnly":true}')
        self.stream.subscribe("spl", "spl+{}")
        self.stream.open(self._session.session_id)
        if self._threads_enabled:  # wait, then report the outcome; without threads the first frames decide
            self._start_threads()
            self._link.opened.wait(self.config.connect_timeout + self.config.read_timeout)
            self._link.settle("stream not authenticated yet")

    def _start_threads(self) -> None:
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._link.run, args=(self._stop,), name="ibkr-stream", daemon=True),
            threading.Thread(target=self._keep_alive_loop, name="ibkr-keepalive", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        self._worker.start()

    def _keep_alive_loop(self) -> None:
        while not self._stop.wait(TICK_SECONDS):
            try:
                self.tick()
            except IbkrError as e:  # logged and retried on the next tick; the loop must not die
                log.warning("keep-alive tick failed: %s", e)
            except Exception:  # isolation point: a bug in one tick must not end keep-alive silently
                self.keep_alive_errors += 1
                log.exception("keep-alive tick raised unexpectedly (%d so far); continuing", self.keep_alive_errors)

    def disconnect(self) -> None:
        """Stop threads, close the stream and the owned HTTP session; idempotent."""
        if self._link.state is ConnectionState.DISCONNECTED and not self._threads:
            return
        self._stop.set()
        self._link.end()
        self._worker.stop()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []
        self.stream.close()
        self.stream.take_changes()  # closed on request: nothing to act on
        if self._owns_http:
            self._http.close()
        self._emit(BrokerDisconnected(ts=self.clock.now(), broker=self.name, reason="disconnected by request"))

    def recover(self, orders: Sequence[Order], fills: Sequence[Fill]) -> None:
        """Adopt a previous run's unfinished orders, reconcile them with IBKR and emit what was missed.

        Each order is looked up by ``order_ref`` (our client order id) in the live orders and its
        executions in the trades since the oldest of them; the tracker emits only what the journal
        lacks. Blocks until every order whose placement outcome was unknown is found or, after
        ``order_lookup_window``, rejected as lost, so strategies start on settled state. A cancel the
        journal holds as requested but IBKR still reports working (the process died before the
        DELETE left) is sent again and awaited: the cancel survives the restart. Never places
        anything.

        Raises:
            BrokerConnectionError: If IBKR's orders or trades could not be read.
        """
        for event in self._restart.run(orders, fills):  # each as it is found: a wait may follow
            self._emit(event)

    def poll_stream(self) -> bool:
        """Read and route one websocket frame (what the stream thread does); return whether one came."""
        return self._link.poll()

    def tick(self) -> None:
        """Run every periodic duty once: session, stream watchdog, reconciliation, bars, groups."""
        self._link.tick(self.clock.monotonic())
        self._emit_all(self.quotes.flush(self.clock.now()))
        if self._session.state is not SessionState.READY:
            return
        if (self._link.reconcile_due is not None or self.orders.reconcile_requested
                or self.tracker.needs_fill_lookup() or self.tracker.pending_modifies()):
            self._reconcile()
        self._emit_all(self._restart.resolve_unresolved())
        self._emit_all(self.tracker.expire_modifies(self.clock.monotonic(), self.config.order_lookup_window,
                                                    self.clock.now()))
        for cid, broker_order_id in self.tracker.take_resurfaced().items():
            self.orders.cancel_orphan(cid, broker_order_id)
        if self._session.guard.reason is not None:
            return  # another account's session: nothing is placed, held group members included
        dropped, groups = self.orders.release_groups()
        self._emit_all(dropped)
        for requests in groups:  # a released bracket/OCA group goes out from this thread, as one request
            self._emit_all(self.orders.place_group(requests))

    def _reconcile(self) -> None:
        new_session = bool(self._link.reconcile_due)
        try:
            self._emit_all(self._reconciler.reconcile(new_session=new_session))
        except IbkrError as e:
            log.warning("reconciliation failed, will retry: %s", e)
            return
        self._link.reconcile_due = None
        self.orders.reconcile_requested = False

    def _emit(self, event: AnyEvent) -> None:
        if self._sink is not None:
            self._sink(event)

    def _emit_all(self, events: Iterable[AnyEvent]) -> None:
        for event in events:
            self._emit(event)

    # ----------------------------------------------------------------- market data

    def resolve_instrument(self, symbol: str, security_type: SecurityType = SecurityType.STOCK) -> Instrument:
        """Return the instrument for ``symbol`` with its conid (cached).

        Raises:
            LookupError: IBKR knows no such contract.
        """
        return self.instruments.resolve(symbol, security_type)

    def search_instruments(self, text: str) -> Sequence[Instrument]:
        """Return instruments matching ``text``, best first."""
        return self.instruments.search(text)

    def _conid(self, instrument: Instrument) -> str:
        return self.instruments.conid(instrument)

    @property
    def account_id(self) -> str | None:
        """The account traded, once :meth:`connect` chose it (``IbkrConfig.account_id`` or the only one)."""
        return self._session.account_id

    def _account_id(self) -> str:
        account = self._session.account_id
        if account is None:
            raise BrokerConnectionError("IBKR session not started: call connect() first")
        return account

    def subscribe_quotes(self, instrument: Instrument) -> None:
        """Stream quotes for ``instrument`` (re-sent after every reconnect)."""
        conid = self._conid(instrument)
        self.quotes.watch_quotes(conid, instrument.symbol)
        self.stream.subscribe(f"smd+{conid}", parsing.smd_command(conid, self.config.quote_fields))

    def unsubscribe_quotes(self, instrument: Instrument) -> None:
        """Stop quotes for ``instrument``."""
        conid = self._conid(instrument)
        self.quotes.unwatch_quotes(conid)
        self._release_stream(conid)

    def subscribe_bars(self, instrument: Instrument, duration: timedelta) -> None:
        """Build bars of ``duration`` from the instrument's trade stream."""
        conid = self._conid(instrument)
        self.quotes.watch_bars(conid, instrument.symbol, duration)
        self.stream.subscribe(f"smd+{conid}", parsing.smd_command(conid, self.config.quote_fields))

    def unsubscribe_bars(self, instrument: Instrument, duration: timedelta) -> None:
        """Stop bars of ``duration`` for ``instrument``."""
        conid = self._conid(instrument)
        self.quotes.unwatch_bars(conid, duration)
        self._release_stream(conid)

    def _release_stream(self, conid: str) -> None:
        if not self.quotes.needs_stream(conid):
            self.stream.unsubscribe(f"smd+{conid}", parsing.umd_command(conid))

    def historical_bars(
        self, instrument: Instrument, duration: timedelta, start: datetime, end: datetime
    ) -> Sequence[Bar]:
        """Return bars of ``duration`` starting in ``[start, end)`` from the history endpoint.

        A window that ended in the past is asked for with ``startTime``: at ``end`` (the window ends
        there, as most builds read it), or at ``start`` once a gateway answered with bars from ``end``
        on (it reads ``startTime`` as the window's start; remembered for later requests).
        """
        past = end < self.clock.now() - duration
        # a past window is asked one bar longer: builds differ on whether the bar at startTime is in it
        period, bar = parsing.history_query(duration, start, end + duration if past else end)
        conid = self._conid(instrument)
        anchor = (start if self._history_from_start else end) if past else None
        history = self.rest.history(conid, period, bar, start_time=anchor)
        bars = parsing.bars_from_history(history, instrument.symbol, duration, start, end)
        if anchor == end and not bars and history.data and min(r.t for r in history.data) >= end.timestamp() * 1000:
            log.info("the gateway reads history startTime as the window's start; asking from %s", start.isoformat())
            self._history_from_start = True
            history = self.rest.history(conid, period, bar, start_time=start)
            bars = parsing.bars_from_history(history, instrument.symbol, duration, start, end)
        if len(history.data) >= HISTORY_MAX_BARS and bars and bars[0].start > start + duration:
            log.warning("IBKR returned its maximum of %d bars for %s: nothing before %s; ask for a shorter span "
                        "or longer bars", HISTORY_MAX_BARS, instrument.symbol, bars[0].start.isoformat())
        return bars

    def snapshot(self, instrument: Instrument) -> Quote | None:
        """One quote from the snapshot endpoint, handling its pre-flight; None if no data came."""
        conid = self._conid(instrument)
        for attempt in range(SNAPSHOT_ATTEMPTS):
            rows = self.rest.snapshot([conid], self.config.quote_fields)
            tick = next((parsing.quote_tick(r) for r in rows if r.conid == conid and r.warm), None)
            if tick is not None:
                return parsing.merge_quote(None, instrument.symbol, self.clock.now(), tick)
            if attempt < SNAPSHOT_ATTEMPTS - 1:
                self.rest.wait(0.5)  # the first request only opens the backend stream
        return None

    # ----------------------------------------------------------------- execution

    def execute(self, command: OrderCommand) -> None:
        """Queue an order command for the adapter's worker and return at once (thread-safe)."""
        self._worker.put(command)

    def drop_unsent(self) -> list[OrderCommand]:
        """Drop placements not sent yet (queued commands and held bracket/OCA members) and return them."""
        dropped = self._worker.drop_unsent()
        dropped += [SubmitOrder(r) for r in self.orders.drop_held()]
        return dropped

    @property
    def outstanding_commands(self) -> int:
        """Order commands queued or being sent (diagnostics; tests wait on it)."""
        return self._worker.outstanding()

    def run_commands(self) -> int:
        """Send every queued command on this thread, in issue order (what the lanes do); for tests."""
        return self._worker.run_pending()

    def _run_command(self, command: OrderCommand) -> None:
        # on a worker lane: the only place order commands reach the network
        stopped = self._session.guard.reason
        if stopped is not None and isinstance(command, SubmitOrder | ModifyOrder):  # cancels still go out
            modify = isinstance(command, ModifyOrder)
            self._emit(CommandNotSent(ts=self.clock.now(), client_order_id=command.client_order_id,
                                      command="modify" if modify else "submit", reason=f"trading stopped: {stopped}",
                                      request=command.request if modify else None))
            return
        if isinstance(command, SubmitOrder):
            events = self._submit(command.request)
        elif isinstance(command, ModifyOrder):
            events = self.orders.modify(command.request)
        elif isinstance(command, CancelOrder):
            events = self.orders.cancel(command.client_order_id)
        else:
            events = self.orders.cancel_all(command.reason)
        self._emit_all(events)

    def _submit(self, request: OrderRequest) -> list[AnyEvent]:
        # given back unsent (the engine holds or denies it) while the session is not ready or inside
        # scheduled maintenance: judged on the clock now, not at the last tick, so nothing leaves in
        # the first moments of a window
        now = self.clock.now()
        blackout = self.maintenance.active(now)
        reason = None
        if blackout is not None:
            reason = blackout.describe()
        elif self._session.state is not SessionState.READY:
            reason = f"the IBKR session is {self._session.state}"
        if reason is not None:
            return [CommandNotSent(ts=now, client_order_id=request.client_order_id, command="submit", reason=reason)]
        return self.orders.submit(request)

    def _command_failed(self, command: OrderCommand, error: Exception) -> None:
        # a bug while sending: the outcome of a placement is unknown, so look it up; a cancel may be asked again
        if isinstance(command, SubmitOrder | ModifyOrder):
            self.tracker.mark_unresolved(command.client_order_id, self.clock.monotonic())
            self.orders.reconcile_requested = True
        elif isinstance(command, CancelOrder):
            self._emit(OrderCancelRejected(ts=self.clock.now(), client_order_id=command.client_order_id,
                                           reason=f"cancel failed: {error}"))

    def open_orders(self) -> Sequence[Order]:
        """Orders IBKR reports as working in this brokerage session."""
        now = self.clock.now()
        result = []
        for row in self.rest.live_orders().orders:
            phase = parsing.ORDER_STATUS_FROM_WIRE.get(row.status or "")
            if phase not in (parsing.Phase.WORKING, parsing.Phase.PENDING, parsing.Phase.PENDING_CANCEL):
                continue
            cid = row.order_ref or (self.tracker.client_order_id(row.order_id or "") or f"ibkr-{row.order_id}")
            tracked = self.tracker.get(cid)
            request = tracked.request if tracked is not None else parsing.request_from_live(row, cid)
            if request is not None:
                result.append(Order(request=request, status=OrderStatus.ACCEPTED, broker_order_id=row.order_id,
                                    filled_quantity=row.filled_quantity or Decimal(0), updated=now))
        return result

    def positions(self) -> Sequence[Position]:
        """IBKR's positions, fresh: the gateway's position cache (which lags fills) is invalidated first."""
        account = self._account_id()
        self.rest.invalidate_positions(account)
        now = self.clock.now()
        result: list[Position] = []
        for page in range(10):
            rows = self.rest.positions(account, page)
            result += [
                parsing.position_from_portfolio(r, r.ticker or r.contract_desc or str(r.conid), now) for r in rows
            ]
            if len(rows) < 100:
                break
        return result

    def account(self) -> Account:
        """IBKR's account balances."""
        account = self._account_id()
        return parsing.account_from_summary(account, self.rest.portfolio_summary(account), self.clock.now())


def _lane(command: OrderCommand) -> str:
    # placements and modifications share IBKR's one reply chain; cancels never wait behind them
    return "cancel" if isinstance(command, CancelOrder | CancelAllOrders) else "place"


def _waiter(stop: threading.Event) -> Callable[[float], None]:
    # a sleep that ends early once ``stop`` is set (a closure over the event, not over the broker)
    def wait(seconds: float) -> None:
        stop.wait(seconds)

    return wait
