"""``IbkrBroker``: the framework's broker over the IBKR Client Portal Web API.

Composes the REST client, the session manager, the websocket stream, the quote book, the order
tracker, order entry and reconciliation, and turns what they report into framework events.

Threading (the One Rule): two adapter threads run after :meth:`IbkrBroker.connect`; the *stream*
thread reads frames and the *keep-alive* thread runs :meth:`IbkrBroker.tick` (tickle, recovery,
reconciliation, order lookups, bar flushing, grouped-order release) about five times a second. Both
only parse and call the engine's sink; strategies run on the engine's dispatcher, which is also the
thread calling ``submit_order`` and friends. With ``start_threads=False`` nothing runs in the
background: tests call :meth:`IbkrBroker.poll_stream` and :meth:`IbkrBroker.tick` themselves.

Events:
    Emits ``BrokerConnected`` / ``BrokerDegraded`` / ``BrokerDisconnected`` as the session and stream
    change, ``QuoteUpdated`` and ``BarClosed`` for subscriptions, and ``OrderAccepted``,
    ``OrderRejected``, ``OrderUpdated``, ``OrderPartiallyFilled``, ``OrderFilled``,
    ``OrderCancelled`` and ``OrderCancelRejected`` for orders, each carrying the client order id.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from collections.abc import Sequence
from datetime import datetime
from datetime import timedelta
from typing import Any

from pydantic import ValidationError

from brokers.ibkr import parsing
from brokers.ibkr.config import IbkrConfig
from brokers.ibkr.errors import IbkrError
from brokers.ibkr.errors import IbkrHttpError
from brokers.ibkr.orderentry import OrderEntry
from brokers.ibkr.quotes import QuoteBook
from brokers.ibkr.ratelimit import RateLimiter
from brokers.ibkr.reconcile import Reconciler
from brokers.ibkr.rest import IbkrRestClient
from brokers.ibkr.session import HttpSession
from brokers.ibkr.session import SessionManager
from brokers.ibkr.session import SessionReportingRestClient
from brokers.ibkr.session import SessionState
from brokers.ibkr.session import configure_tls
from brokers.ibkr.stream import IbkrStream
from brokers.ibkr.stream import StreamState
from brokers.ibkr.stream import WsConnection
from brokers.ibkr.stream import connect_websocket
from brokers.ibkr.tracking import OrderTracker
from brokers.ibkr.wire import LiveOrder
from brokers.ibkr.wire import Trade
from framework.broker import ConnectionState
from framework.broker import EventSink
from framework.clock import Clock
from framework.errors import BrokerConnectionError
from framework.events import AnyEvent
from framework.events import BrokerConnected
from framework.events import BrokerDegraded
from framework.events import BrokerDisconnected
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

log = logging.getLogger(__name__)

TICK_SECONDS = 0.2
UNPACED_RATE = 1e6  # requests per second when client pacing is off
RECOVERY_POLL_SECONDS = 0.2  # between order lookups while recovered orders are unresolved
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
        wait = sleep or self._interruptible_wait
        if config.pacing:
            self._limiter = RateLimiter(clock, global_rate=config.global_rate, max_wait=config.max_rate_wait,
                                        sleep=wait)
        else:  # against a simulator with pacing off only (the config refuses it for live accounts)
            self._limiter = RateLimiter(clock, global_rate=UNPACED_RATE, max_wait=config.max_rate_wait, sleep=wait,
                                        intervals={})
        # a 401 / "no bridge" on any REST call degrades the session at once (see _on_session_lost)
        self.rest: IbkrRestClient = SessionReportingRestClient(config, self._http, self._limiter, wait,
                                                               on_session_lost=self._on_session_lost)
        self.tracker = OrderTracker()
        self.quotes = QuoteBook()
        self._session = SessionManager(config, self.rest, clock, self._on_session, self._on_recovered, rng=rng)
        connect = ws_connect or (lambda url, **kw: connect_websocket(url, config=config, **kw))
        self.stream = IbkrStream(config, clock, connect, self._on_message, self._on_stream, rng=rng)
        self.orders = OrderEntry(config, self.rest, self.tracker, clock, emit=self._emit_all,
                                 account=self._account_id, conid=self._conid_for)
        self._reconciler = Reconciler(self.rest, self.tracker, clock, config.order_lookup_window,
                                      requeue=self.orders.submit)
        self._threads_enabled = start_threads
        self._sink: EventSink | None = None
        self._state = ConnectionState.DISCONNECTED
        self._instruments: dict[tuple[str, SecurityType], Instrument] = {}
        self._threads: list[threading.Thread] = []
        self._stream_open = threading.Event()
        self._ever_open = False
        self._reconcile_due: bool | None = None  # None: nothing due; True/False: new session or not
        self.pnl: dict[str, Any] = {}
        self.keep_alive_errors = 0  # unexpected exceptions of keep-alive ticks (the loop went on)

    def _interruptible_wait(self, seconds: float) -> None:
        self._stop.wait(seconds)

    # ----------------------------------------------------------------- connection

    @property
    def connection_state(self) -> ConnectionState:
        """Connected when the session is ready and the stream authenticated."""
        return self._state

    def connect(self, sink: EventSink) -> None:
        """Start the session, open the stream, subscribe orders/trades/P&L, start the threads.

        Raises:
            BrokerConnectionError: The gateway is unreachable, not logged in, or the account refused.
        """
        self._sink = sink
        self._state = ConnectionState.CONNECTING
        # a previous disconnect() left the stop signal set: it would cut the start-up's pacing waits
        # short (a 429 on /tickle) and mute the state changes of the new connection
        self._stop.clear()
        try:
            self._session.start()
            self.rest.live_orders(force=True)  # IBKR: query orders before subscribing to "sor"
        except IbkrError as e:
            self._state = ConnectionState.DISCONNECTED
            if isinstance(e, BrokerConnectionError):
                raise
            msg = f"IBKR connect failed: {e}"
            raise BrokerConnectionError(msg) from e
        self.stream.subscribe("sor", "sor+{}")
        self.stream.subscribe("str", 'str+{"realtimeUpdatesOnly":true}')
        self.stream.subscribe("spl", "spl+{}")
        self.stream.open(self._session.session_id)
        if self._threads_enabled:
            self._start_threads()
            self._stream_open.wait(self.config.connect_timeout + self.config.read_timeout)
        # with threads, connect() has waited: report the outcome; without, the first frames decide
        self._update_state("stream not authenticated yet", settle=self._threads_enabled)

    def _start_threads(self) -> None:
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self.stream.run, args=(self._stop,), name="ibkr-stream", daemon=True),
            threading.Thread(target=self._keep_alive_loop, name="ibkr-keepalive", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _keep_alive_loop(self) -> None:
        while not self._stop.wait(TICK_SECONDS):
            try:
                self.tick()
            except IbkrError as e:  # logged and retried on the next tick; the loop must not die
                log.warning("keep-alive tick failed: %s", e)
            except Exception:  # isolation point: a bug in one tick must not end keep-alive silently
                self.keep_alive_errors += 1
                log.exception("keep-alive tick raised unexpectedly (%d so far); continuing", self.keep_alive_errors)

    def _on_session_lost(self, error: IbkrHttpError) -> None:
        # Any REST call (an order, a lookup, a snapshot) answered 401 / "no bridge": recover now.
        self._session.report_failure(f"session lost ({error})")

    def disconnect(self) -> None:
        """Stop threads, close the stream and the owned HTTP session; idempotent."""
        if self._state is ConnectionState.DISCONNECTED and not self._threads:
            return
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []
        self.stream.close()
        if self._owns_http:
            self._http.close()
        self._state = ConnectionState.DISCONNECTED
        self._emit(BrokerDisconnected(ts=self.clock.now(), broker=self.name, reason="disconnected by request"))

    def recover(self, orders: Sequence[Order], fills: Sequence[Fill]) -> None:
        """Adopt a previous run's unfinished orders, reconcile them with IBKR and emit what was missed.

        Each order is looked up by ``order_ref`` (our client order id) in the live orders and its
        executions in the trades since the oldest of them; the tracker emits only what the journal
        lacks. Blocks until every order whose placement outcome was unknown is found or, after
        ``order_lookup_window``, rejected as lost, so strategies start on settled state. Never
        places anything.

        Raises:
            BrokerConnectionError: If IBKR's orders or trades could not be read.
        """
        executions: dict[str, list[str]] = {}
        for fill in fills:
            executions.setdefault(fill.client_order_id, []).append(fill.execution_id)
        started = self.clock.monotonic()
        for order in orders:
            held = order.broker_order_id is None and (order.request.parent_id or order.request.oca_group) is not None
            self.tracker.adopt(order, executions.get(order.client_order_id, ()), started, requeue_if_lost=held)
        since = min((o.updated for o in orders), default=None)
        try:
            self._emit_all(self._reconciler.reconcile(new_session=False, since=since))
        except IbkrError as e:
            msg = f"IBKR reconciliation failed: {e}"
            raise BrokerConnectionError(msg) from e
        self._hold_again(orders)
        while self.tracker.unresolved() and not self._stop.is_set():
            self._emit_all(self._reconciler.resolve_unresolved())
            if self.tracker.unresolved():
                self._interruptible_wait(RECOVERY_POLL_SECONDS)
        log.info("recovered %d unfinished orders from the journal", len(orders))

    def _hold_again(self, orders: Sequence[Order]) -> None:
        # A bracket child goes to IBKR only once its parent has completely filled: while the parent
        # still works, the previous run held the child in memory, so hold it again (no lookup needed).
        for order in orders:
            parent_id = order.request.parent_id
            parent = self.tracker.get(parent_id) if parent_id is not None else None
            child = self.tracker.get(order.client_order_id)
            if parent is None or parent.terminal or child is None or child.unresolved_since is None:
                continue
            self.tracker.forget(order.client_order_id)
            self.orders.submit(order.request)

    def poll_stream(self) -> bool:
        """Read and handle one websocket frame (what the stream thread does); for tests."""
        return self.stream.poll()

    def tick(self) -> None:
        """Run every periodic duty once: session, stream watchdog, reconciliation, bars, groups."""
        now = self.clock.monotonic()
        self._session.tick(now)
        self.stream.tick(now)
        self._emit_all(self.quotes.flush(self.clock.now()))
        if self._session.state is not SessionState.READY:
            return
        if self._reconcile_due is not None or self.orders.reconcile_requested or self.tracker.needs_fill_lookup():
            self._reconcile()
        self._emit_all(self._reconciler.resolve_unresolved())
        for cid, broker_order_id in self.tracker.take_resurfaced().items():
            self.orders.cancel_orphan(cid, broker_order_id)
        self.orders.release_groups()

    def _reconcile(self) -> None:
        new_session = bool(self._reconcile_due)
        try:
            self._emit_all(self._reconciler.reconcile(new_session=new_session))
        except IbkrError as e:
            log.warning("reconciliation failed, will retry: %s", e)
            return
        self._reconcile_due = None
        self.orders.reconcile_requested = False

    def _on_session(self, state: SessionState, reason: str) -> None:
        self._update_state(reason)

    def _on_recovered(self) -> None:
        self._reconcile_due = True
        self.stream.open(self._session.session_id)

    def _on_stream(self, state: StreamState, reason: str) -> None:
        if state is StreamState.OPEN:
            if self._ever_open and self._reconcile_due is None:
                self._reconcile_due = False  # a reconnect: events may have been missed
            self._ever_open = True
            self._stream_open.set()
        elif state is StreamState.CLOSED:
            self._session.check_now()  # a dropped stream may mean a restarted gateway or a lost session
        self._update_state(f"stream {reason}")

    def _update_state(self, reason: str, *, settle: bool = False) -> None:
        if self._sink is None or self._stop.is_set():
            return  # not connected yet, or disconnected on request
        session = self._session.state
        if session is SessionState.DISCONNECTED:
            new = ConnectionState.DISCONNECTED
        elif session is SessionState.READY and self.stream.state is StreamState.OPEN:
            new = ConnectionState.CONNECTED
        else:
            new = ConnectionState.DEGRADED
        if new is self._state or (self._state is ConnectionState.CONNECTING and new is not ConnectionState.CONNECTED
                                  and not settle):
            return  # unchanged, or still starting up
        self._state = new
        ts = self.clock.now()
        if new is ConnectionState.CONNECTED:
            self._emit(BrokerConnected(ts=ts, broker=self.name))
        elif new is ConnectionState.DEGRADED:
            self._emit(BrokerDegraded(ts=ts, broker=self.name, reason=reason))
        else:
            self._emit(BrokerDisconnected(ts=ts, broker=self.name, reason=reason))

    # ----------------------------------------------------------------- stream messages

    def _on_message(self, message: dict[str, Any]) -> None:
        topic = message.get("topic")
        if not isinstance(topic, str):
            if "error" in message:
                log.warning("stream error message: %s", message.get("error"))
            return
        if topic.startswith("smd+"):
            self._emit_all(self.quotes.on_market_data(message, self.clock.now()))
        elif topic == "sor":
            self._on_orders(message.get("args"))
        elif topic == "str":
            self._on_trades(message.get("args"))
        elif topic == "sts":
            self._on_status(message.get("args"))
        elif topic == "spl" and isinstance(message.get("args"), dict):
            self.pnl = message["args"]
        elif topic == "act":
            self._on_accounts(message.get("args"))

    def _on_orders(self, args: Any) -> None:
        ts = self.clock.now()
        for row in args if isinstance(args, list) else []:
            try:
                update = parsing.order_update_from_live(LiveOrder.model_validate(row))
            except ValidationError as e:
                self.stream.malformed += 1
                log.warning("skipped an unreadable order update: %s", e.errors()[0]["msg"])
                continue
            self._emit_all(self.tracker.apply_update(update, ts))

    def _on_trades(self, args: Any) -> None:
        for row in args if isinstance(args, list) else []:
            try:
                execution = parsing.execution_from_trade(Trade.model_validate(row))
            except ValidationError as e:
                self.stream.malformed += 1
                log.warning("skipped an unreadable execution: %s", e.errors()[0]["msg"])
                continue
            if execution is not None:
                self._emit_all(self.tracker.apply_execution(execution))

    def _on_status(self, args: Any) -> None:
        if not isinstance(args, dict):
            return
        if args.get("competing") is True:
            self._session.report_failure("competing session (stream)")
        elif args.get("authenticated") is False:
            self._session.report_failure("not authenticated (stream)")

    def _on_accounts(self, args: Any) -> None:
        accounts = args.get("accounts") if isinstance(args, dict) else None
        account = self._session.account_id
        if isinstance(accounts, list) and account is not None and account not in accounts:
            log.error("stream reports accounts %s without the configured %s", accounts, account)
            self._session.report_failure("account missing from the stream's account list")

    def _emit(self, event: AnyEvent) -> None:
        if self._sink is not None:
            self._sink(event)

    def _emit_all(self, events: Sequence[AnyEvent]) -> None:
        for event in events:
            self._emit(event)

    # ----------------------------------------------------------------- market data

    def resolve_instrument(self, symbol: str, security_type: SecurityType = SecurityType.STOCK) -> Instrument:
        """Return the instrument for ``symbol`` with its conid (cached).

        Raises:
            LookupError: IBKR knows no such contract.
        """
        key = (symbol.upper(), security_type)
        found = self._instruments.get(key)
        if found is None:
            wire_type = parsing.SECURITY_TYPE_TO_WIRE[security_type]
            results = self.rest.search_contracts(symbol.upper(), wire_type)
            found = self._instruments[key] = parsing.instrument_from_search(results, symbol, security_type)
        return found

    def search_instruments(self, text: str) -> Sequence[Instrument]:
        """Return instruments matching ``text``, best first."""
        return parsing.instruments_from_search(self.rest.search_contracts(text, "STK"))

    def _conid(self, instrument: Instrument) -> str:
        if instrument.broker_id:
            return instrument.broker_id
        return self.resolve_instrument(instrument.symbol, instrument.security_type).broker_id or ""

    def _conid_for(self, request: OrderRequest) -> str:
        return self._conid(request.instrument)

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
        """Return bars of ``duration`` starting in ``[start, end)`` from the history endpoint."""
        period, bar = parsing.history_query(duration, start, end)
        history = self.rest.history(self._conid(instrument), period, bar)
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
            row = next((r for r in rows if str(r.get("conid")) == conid), None)
            if row is not None and parsing.is_warm(row):
                changes = parsing.quote_changes(row)
                return parsing.merge_quote(None, instrument.symbol, self.clock.now(), changes)
            if attempt < SNAPSHOT_ATTEMPTS - 1:
                self.rest.wait(0.5)  # the first request only opens the backend stream
        return None

    # ----------------------------------------------------------------- execution

    def submit_order(self, request: OrderRequest) -> None:
        """Place an order; outcome events follow.

        Raises:
            BrokerConnectionError: The session is not ready or the order definitely was not sent.
            ValueError: The order cannot be expressed for IBKR.
        """
        if self._session.state is not SessionState.READY:
            msg = f"IBKR session is {self._session.state}; order not sent"
            raise BrokerConnectionError(msg)
        self.orders.submit(request)

    def modify_order(self, request: OrderRequest) -> None:
        """Replace a working order's ticket; ``OrderUpdated`` or ``OrderCancelRejected`` follows."""
        self.orders.modify(request)

    def cancel_order(self, client_order_id: str) -> None:
        """Request a cancel; ``OrderCancelled`` or ``OrderCancelRejected`` follows."""
        self.orders.cancel(client_order_id)

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
                                    filled_quantity=row.filled_quantity or 0, updated=now))
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
