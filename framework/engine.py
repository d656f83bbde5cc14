"""The engine: composes a broker, the bus, the clock, order state, the portfolio and strategies.

**The One Rule (threading).** Broker I/O threads only call :meth:`Engine.enqueue`. Exactly one thread,
the dispatcher, takes events off the queue, updates order state and the portfolio, and then
publishes to strategies. Strategy handlers therefore never run concurrently and need no locks, but
they must not block: a slow handler delays every event behind it.

Who runs the dispatcher: :meth:`Engine.run` on the calling thread (the CLI), a background thread
from :meth:`Engine.start_dispatcher`, or the test itself through :meth:`Engine.run_pending`, which
drains the queue synchronously so tests need no sleeps.

Events:
    Publishes every event it receives from brokers, after updating state, plus ``OrderSubmitted``,
    ``OrderDenied``, ``OrderPendingCancel``, ``PositionChanged``, ``TimerFired`` and ``DataStale``.
"""

from __future__ import annotations

import itertools
import logging
import sqlite3
import threading
from collections import deque
from collections.abc import Callable
from collections.abc import Sequence
from datetime import datetime
from datetime import timedelta
from typing import TYPE_CHECKING
from typing import Any
from typing import Protocol

from framework.broker import Broker
from framework.broker import ConnectionState
from framework.bus import ANY
from framework.bus import EventBus
from framework.clock import Clock
from framework.config import EngineConfig
from framework.datafeed import DataTracker
from framework.errors import OrderError
from framework.events import AccountUpdated
from framework.events import AnyEvent
from framework.events import BarClosed
from framework.events import OrderCancelRejected
from framework.events import OrderDenied
from framework.events import OrderEvent
from framework.events import OrderFilled
from framework.events import OrderPartiallyFilled
from framework.events import OrderPendingCancel
from framework.events import OrderRejected
from framework.events import OrderSubmitted
from framework.events import PositionChanged
from framework.events import QuoteUpdated
from framework.events import TimerFired
from framework.journal import Journal
from framework.models import Instrument
from framework.models import Order
from framework.models import OrderRequest
from framework.models import OrderStatus
from framework.orders import OrderBook
from framework.orders import new_order
from framework.portfolio import Portfolio
from framework.recovery import RecoveryError
from framework.recovery import recover
from framework.timers import TimerQueue

if TYPE_CHECKING:
    from framework.strategy import Strategy

log = logging.getLogger(__name__)

CANCEL_RETRY_SECONDS = 5.0  # IBKR: at most one DELETE per order per 5 s


class PreTradeCheck(Protocol):
    """A pre-trade check run on every new order before it reaches the broker."""

    def __call__(self, request: OrderRequest, engine: Engine, /) -> str | None:
        """Return why ``request`` must be denied, or None to let it through."""
        ...


_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


class Engine:
    """Runs strategies against one broker.

    Args:
        broker: Market data and execution.
        clock: The only source of time.
        config: Engine settings.
        bus: The event bus; one is created (honouring ``config.raise_errors``) if not given.
        checks: Pre-trade checks run, in order, on every new order before it reaches the broker.
        journal: Durable record of order intents and events; an order whose intent cannot be
            written is denied and never sent.
    """

    def __init__(
        self,
        broker: Broker,
        *,
        clock: Clock,
        config: EngineConfig | None = None,
        bus: EventBus | None = None,
        checks: Sequence[PreTradeCheck] = (),
        journal: Journal | None = None,
    ) -> None:
        self.broker = broker
        self.clock = clock
        self.config = config or EngineConfig()
        self.bus = bus or EventBus(raise_errors=self.config.raise_errors, clock=clock)
        self.orders = OrderBook()
        self.portfolio = Portfolio()
        self.checks: list[PreTradeCheck] = list(checks)
        self.journal = journal
        self.journal_errors = 0
        self.data = DataTracker(self.config.stale_data_after)
        self._strategies: dict[str, Strategy[Any]] = {}
        self._instruments: dict[str, Instrument] = {}
        self._quote_refs: dict[str, int] = {}
        self._bar_refs: dict[tuple[str, timedelta], int] = {}
        self._timers = TimerQueue()
        self._cancels_sent: dict[str, float] = {}  # client order id -> monotonic time of the last cancel
        self._denied: set[str] = set()  # denied orders whose OrderDenied is still queued
        self._queue: deque[AnyEvent] = deque()
        self._wake = threading.Condition()
        self._sleeping = False
        self._running = False
        self._stopping = threading.Event()
        self._dispatcher: threading.Thread | None = None
        self._ids = itertools.count(1)
        self._id_prefix = self.config.order_id_prefix or ""
        self._handlers: dict[type, Callable[[Any], None]] = {
            QuoteUpdated: self._on_quote,
            BarClosed: self._on_bar,
            AccountUpdated: self._on_account,
        }

    # ----------------------------------------------------------------- lifecycle

    def add_strategy(self, strategy: Strategy[Any]) -> None:
        """Register a strategy; it starts with the engine (or at once if already running).

        Raises:
            ValueError: If another strategy already uses the same id.
        """
        if strategy.id in self._strategies:
            msg = f"strategy id {strategy.id!r} is already registered"
            raise ValueError(msg)
        self._strategies[strategy.id] = strategy
        strategy.bind(self)
        if self._running:
            strategy.start()

    @property
    def strategies(self) -> list[Strategy[Any]]:
        """The registered strategies."""
        return list(self._strategies.values())

    def start(self) -> None:
        """Connect, recover the previous run's orders, load the account, then start every strategy.

        Strategies start only after recovery (see :mod:`framework.recovery`) has applied every event
        the previous run missed, on cash and positions read from the broker.

        Raises:
            RecoveryError: The journal's unfinished orders could not be reconciled (the broker is
                disconnected again and nothing trades).
        """
        if self._running:
            return
        self._id_prefix = self._unused_prefix(self._id_prefix or _base36(int(self.clock.now().timestamp() * 1000)))
        self.broker.connect(self.enqueue)
        try:
            recovered = recover(self)
        except RecoveryError:
            self.broker.disconnect()
            raise
        self._apply_order_events()  # journaled and booked before any strategy acts
        account = self.broker.account()
        self.portfolio.account_id = account.account_id
        self.portfolio.currency = account.currency
        self.portfolio.set_cash(account.cash)
        self.portfolio.load_positions(self.broker.positions())
        if recovered:
            log.info("recovered %d orders; %d still open", recovered, len(self.orders.open()))
        self._running = True
        for strategy in list(self._strategies.values()):
            strategy.start()
        log.info("engine started with %d strategies on %s", len(self._strategies), self.broker.name)

    def _unused_prefix(self, prefix: str) -> str:
        # client order ids must never repeat one a journaled run used (two starts in one millisecond,
        # or a fixed order_id_prefix across restarts)
        used = set(self.journal.run_ids()) if self.journal is not None else set()
        candidate, n = prefix, 1
        while candidate in used:
            candidate, n = f"{prefix}-{n}", n + 1
        return candidate

    def _apply_order_events(self) -> None:
        # order events queued by recovery; anything else keeps its place for the dispatcher
        held: list[AnyEvent] = []
        while self._queue:
            event = self._queue.popleft()
            if isinstance(event, OrderEvent):
                self.process(event)
            else:
                held.append(event)
        self._queue.extendleft(reversed(held))

    def stop(self) -> None:
        """Stop strategies, drop subscriptions, stop the dispatcher and disconnect; idempotent."""
        if not self._running:
            return
        self._running = False
        for strategy in list(self._strategies.values()):
            strategy.stop()
        self._stopping.set()
        with self._wake:
            self._wake.notify_all()
        if self._dispatcher is not None and self._dispatcher is not threading.current_thread():
            self._dispatcher.join(timeout=10)
        self._dispatcher = None
        self._release_market_data()
        self.broker.disconnect()
        log.info("engine stopped")

    @property
    def running(self) -> bool:
        """Whether the engine has started and not stopped."""
        return self._running

    # ----------------------------------------------------------------- the queue

    def enqueue(self, event: AnyEvent) -> None:
        """Queue an event for the dispatcher; safe to call from any thread."""
        # deque.append is atomic; the lock is taken only to wake a sleeping dispatcher. The
        # dispatcher sets _sleeping and re-checks the queue under the lock before it waits, so an
        # append that misses the flag is always seen by that re-check.
        self._queue.append(event)
        if self._sleeping:
            with self._wake:
                self._wake.notify()

    def run_pending(self, limit: int | None = None) -> int:
        """Process queued events and due timers on this thread; return how many events ran."""
        count = 0
        queue = self._queue
        while queue and (limit is None or count < limit):
            self.process(queue.popleft())
            count += 1
        # Skipped when there is nothing to tick: a backtest calls this once per bar (~0.4 us saved).
        if self._timers or self.data.stale_after is not None:
            self._tick(self.clock.now())
        return count

    def process(self, event: AnyEvent) -> None:
        """Update state for ``event`` and publish it (dispatcher thread only)."""
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)
        elif isinstance(event, OrderEvent):
            self._on_order_event(event)
        else:
            self.bus.publish(event)

    def run(self, until: Callable[[], bool] | None = None, duration: timedelta | None = None) -> None:
        """Dispatch on this thread until stopped, ``until()`` is true, or ``duration`` has passed.

        Ctrl-C stops the engine cleanly.
        """
        deadline = self.clock.monotonic() + duration.total_seconds() if duration else None
        try:
            while self._running and not self._stopping.is_set():
                if until is not None and until():
                    break
                if deadline is not None and self.clock.monotonic() >= deadline:
                    break
                self._wait_for_work()
                self.run_pending()
        except KeyboardInterrupt:
            log.warning("interrupted; stopping")
        finally:
            self.run_pending()
            self.stop()

    def request_stop(self) -> None:
        """Ask :meth:`run` (or the dispatcher thread) to finish after the current event; thread-safe."""
        self._stopping.set()
        with self._wake:
            self._wake.notify_all()

    def start_dispatcher(self) -> None:
        """Run the dispatcher on a background thread (call after :meth:`start`)."""
        if self._dispatcher is not None:
            return
        self._stopping.clear()
        self._dispatcher = threading.Thread(target=self._dispatch_loop, name="tradebus-dispatcher", daemon=True)
        self._dispatcher.start()

    def _dispatch_loop(self) -> None:
        while not self._stopping.is_set():
            self._wait_for_work()
            self.run_pending()

    def _wait_for_work(self) -> None:
        timeout = 0.5
        due = self._timers.next_due()
        if due is not None:
            timeout = min(timeout, max(0.0, (due - self.clock.now()).total_seconds()))
        with self._wake:
            self._sleeping = True
            try:
                if not self._queue and not self._stopping.is_set():
                    self._wake.wait(timeout)
            finally:
                self._sleeping = False

    # ----------------------------------------------------------------- event handling

    def _on_quote(self, event: QuoteUpdated) -> None:
        quote = event.quote
        price = quote.last if quote.last is not None else quote.mid
        if price is not None:
            self.portfolio.mark(quote.symbol, price)
        self.data.touch(quote.symbol, event.ts)
        self.bus.publish(event, quote.symbol)

    def _on_bar(self, event: BarClosed) -> None:
        bar = event.bar
        self.portfolio.mark(bar.symbol, bar.close)
        if self.data.stale_after is not None:
            self.data.touch(bar.symbol, event.ts)
        self.bus.publish(event, bar.symbol)

    def _on_account(self, event: AccountUpdated) -> None:
        self.portfolio.set_cash(event.account.cash)
        self.bus.publish(event)

    def _on_order_event(self, event: OrderEvent) -> None:
        published = self.orders.apply(event)
        if published is None:
            return
        order = self.orders.get(event.client_order_id)
        assert order is not None  # apply() refuses unknown orders
        if self.journal is not None:
            self._journal_event(published, order)  # on disk before any strategy acts on it
        if isinstance(published, OrderDenied):
            self._denied.discard(published.client_order_id)
        elif isinstance(published, OrderCancelRejected):
            self._cancels_sent.pop(published.client_order_id, None)  # the strategy may try again
        owner = order.request.strategy_id
        position = None
        if isinstance(published, OrderFilled | OrderPartiallyFilled):
            position = self.portfolio.apply_fill(published.fill, order.request.instrument.multiplier)
        self.bus.publish(published, owner)
        if position is not None:
            self.bus.publish(PositionChanged(ts=published.ts, position=position), position.symbol)

    def _tick(self, now: datetime) -> None:
        for timer, scheduled in self._timers.pop_due(now):
            self.bus.publish(TimerFired(ts=now, name=timer.name, scheduled=scheduled), timer.owner)
        for stale in self.data.check(now):
            self.bus.publish(stale, stale.symbol)

    # ----------------------------------------------------------------- services for strategies

    def instrument(self, symbol: str) -> Instrument:
        """Resolve ``symbol`` through the broker once and cache it."""
        found = self._instruments.get(symbol)
        if found is None:
            found = self._instruments[symbol] = self.broker.resolve_instrument(symbol)
        return found

    def subscribe_quotes(self, symbol: str) -> None:
        """Ask the broker for quotes of ``symbol`` (reference-counted across strategies)."""
        count = self._quote_refs.get(symbol, 0)
        if count == 0:
            self.broker.subscribe_quotes(self.instrument(symbol))
            self.data.watch(symbol, self.clock.now())
        self._quote_refs[symbol] = count + 1

    def subscribe_bars(self, symbol: str, duration: timedelta) -> None:
        """Ask the broker for bars of ``symbol`` (reference-counted across strategies)."""
        key = (symbol, duration)
        count = self._bar_refs.get(key, 0)
        if count == 0:
            self.broker.subscribe_bars(self.instrument(symbol), duration)
            self.data.watch(symbol, self.clock.now())
        self._bar_refs[key] = count + 1

    def _release_market_data(self) -> None:
        for symbol in list(self._quote_refs):
            self.broker.unsubscribe_quotes(self.instrument(symbol))
        for symbol, duration in list(self._bar_refs):
            self.broker.unsubscribe_bars(self.instrument(symbol), duration)
        self._quote_refs.clear()
        self._bar_refs.clear()

    def schedule_timer(self, owner: str, name: str, due: datetime, interval: timedelta | None = None) -> None:
        """Fire ``TimerFired(name)`` to ``owner`` at ``due`` (and every ``interval`` after)."""
        self._timers.schedule(owner, name, due, interval)

    def cancel_timer(self, owner: str, name: str) -> bool:
        """Cancel a timer; return whether it was pending."""
        return self._timers.cancel(owner, name)

    def cancel_timers(self, owner: str) -> None:
        """Cancel every timer of ``owner``."""
        self._timers.cancel_owner(owner)

    def next_client_order_id(self) -> str:
        """A new client order id, unique within this run and across restarts."""
        return f"{self._id_prefix}.{next(self._ids)}"

    def submit_order(self, request: OrderRequest) -> Order:
        """Check ``request``, track it, and send it to the broker.

        The order's events (``OrderSubmitted`` or ``OrderDenied``, then the broker's) are queued and
        reach the owning strategy after the current handler returns.

        Raises:
            ValueError: If the client order id is already in use.
        """
        order = new_order(request, self.clock.now())
        self.orders.add(order)
        # The intent goes on disk first, denied or not: the journal shows every order ever asked for.
        reason = self._journal_intent(order) if self.journal is not None else None
        reason = reason or self._deny_reason(request)
        now = self.clock.now()
        cid = request.client_order_id
        if reason is not None:
            log.warning("order %s denied: %s", cid, reason)
            self._denied.add(cid)
            self.enqueue(OrderDenied(ts=now, client_order_id=cid, reason=reason))
            return order
        self.enqueue(OrderSubmitted(ts=now, client_order_id=cid, order=order))
        try:
            self.broker.submit_order(request)
        except (ConnectionError, ValueError) as e:  # definitely not placed (see Broker.submit_order)
            log.warning("order %s rejected by transport: %s", cid, e)
            self.enqueue(OrderRejected(ts=self.clock.now(), client_order_id=cid, reason=str(e)))
        return order

    def _journal_intent(self, order: Order) -> str | None:
        assert self.journal is not None
        try:
            self.journal.record_intent(order, self._id_prefix)
        except (OSError, sqlite3.Error) as e:
            log.error("journal write failed for %s: %s", order.client_order_id, e)
            return f"journal write failed: {e}"
        return None

    def _journal_event(self, event: OrderEvent, order: Order) -> None:
        assert self.journal is not None
        try:
            self.journal.record_event(event, order)
        except (OSError, sqlite3.Error) as e:
            # The broker's word still reaches order state and the portfolio; losing it there too
            # would be worse than a gap in the journal, which this error makes loud.
            self.journal_errors += 1
            log.error("journal write failed for %s %s: %s", type(event).__name__, event.client_order_id, e)

    def _deny_reason(self, request: OrderRequest) -> str | None:
        if self.config.require_connected and self.broker.connection_state is not ConnectionState.CONNECTED:
            return f"broker {self.broker.name} is {self.broker.connection_state}"
        for check in self.checks:
            reason = check(request, self)
            if reason is not None:
                return reason
        return None

    def modify_order(self, request: OrderRequest) -> None:
        """Send a full replacement ticket for a working order.

        The ticket passes the same pre-trade checks as a new order; a refusal leaves the working
        order unchanged and arrives as ``OrderCancelRejected`` with the reason.

        Raises:
            OrderError: If the order is unknown or no longer open.
        """
        self._require_open(request.client_order_id)
        reason = self._deny_reason(request)  # the same limits and kill switch as a new order
        if reason is not None:
            log.warning("modification of %s denied: %s", request.client_order_id, reason)
            self.enqueue(OrderCancelRejected(ts=self.clock.now(), client_order_id=request.client_order_id,
                                             reason=f"modification denied: {reason}"))
            return
        self.broker.modify_order(request)

    def cancel_order(self, client_order_id: str) -> None:
        """Request cancellation of a working order (a no-op for one already final).

        A second request for the same order goes out only once ``CANCEL_RETRY_SECONDS`` have passed
        without an answer (a lost cancel is asked again; a slow one is not duplicated).

        Raises:
            OrderError: If the order is unknown.
        """
        order = self._require_known(client_order_id)
        # INITIALIZED: submitted in this handler, its OrderSubmitted still queued (unless it was denied)
        fresh = order.status is OrderStatus.INITIALIZED and client_order_id not in self._denied
        if not (order.status.is_open or fresh):
            return
        now = self.clock.monotonic()
        sent = self._cancels_sent.get(client_order_id)
        if sent is not None and now - sent < CANCEL_RETRY_SECONDS:
            return  # a cancel is on its way: one request per order per interval (IBKR paces DELETEs)
        self._cancels_sent[client_order_id] = now
        if sent is None:
            self.enqueue(OrderPendingCancel(ts=self.clock.now(), client_order_id=client_order_id))
        else:
            log.warning("order %s still open %.0fs after its cancel; asking again", client_order_id, now - sent)
        self.broker.cancel_order(client_order_id)

    def _require_known(self, client_order_id: str) -> Order:
        order = self.orders.get(client_order_id)
        if order is None:
            msg = f"unknown client_order_id {client_order_id!r}"
            raise OrderError(msg)
        return order

    def _require_open(self, client_order_id: str) -> Order:
        order = self._require_known(client_order_id)
        if not order.status.is_open:
            msg = f"order {client_order_id!r} is {order.status} and cannot be modified"
            raise OrderError(msg)
        return order

    def subscribe(self, event_type: type, handler: Callable[[Any], None], sender: Any = ANY) -> Any:
        """Subscribe a handler on the engine's bus (see :meth:`EventBus.subscribe`)."""
        return self.bus.subscribe(event_type, handler, sender=sender)


def _base36(value: int) -> str:
    digits = []
    while value:
        value, rem = divmod(value, 36)
        digits.append(_BASE36[rem])
    return "".join(reversed(digits)) or "0"
