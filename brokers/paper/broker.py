"""``PaperBroker``: a simulated execution venue over any market-data source.

It wraps a :class:`~framework.broker.MarketData` (a :class:`~brokers.paper.feed.HistoricalFeed` in a
backtest, or a live broker for paper trading on a live feed). Market-data calls are passed through.
When the source can connect (it has ``connect(sink)``), the paper broker connects it with its own
sink: every ``BarClosed`` / ``QuoteUpdated`` first matches the working orders of its symbol (see
:mod:`brokers.paper.fill_model`) and is then forwarded, so the engine sees a bar's fills before the
bar. Orders fill with the configured slippage and commission and are reported as executions. The
venue's account is :attr:`PaperBroker.portfolio`, shared with the engine
(:class:`~framework.broker.SharesPortfolio`): the engine books each fill into it once, and the venue
reads it for buying power, positions and balances.

Order lifecycle and timing, in market time (:attr:`PaperBroker.market_time`: the latest bar's end, or
quote's time, of the data it fills on; the clock before the first), so that a live feed's delay does
not change what fills (backtest/paper parity, R25). Answers to commands carry the clock:

* Commands run inline (:meth:`PaperBroker.execute`): the venue is in memory, so a backtest stays
  deterministic and nothing waits on a network.
* ``SubmitOrder``: refused orders get ``OrderRejected`` (duplicate id, ``OPG`` time in force,
  insufficient buying power). Others start working at ``now + latency`` and are acknowledged with
  ``OrderAccepted`` then (at once with zero latency, else at the first market event after it).
* An order meets only bars starting, and quotes stamped, at or after it started working.
* Trading hours (``PaperConfig.market_hours``, default ``exchange``): an order trades only inside the
  sessions it allows on its instrument's exchange calendar (:mod:`framework.trading_hours`): regular
  hours, plus pre-market and after-hours when ``outside_rth`` is set on a limit or stop-limit order
  (IBKR's rule: it is ignored on other types). A quote outside them, or an intraday bar whose
  interval does not reach into them, neither fills the order nor moves its stop or trail. Bars of a
  day or longer summarise whole sessions and are not checked. A frozen quote (the last values of a
  closed market) never fills anything, whatever the setting.
* ``IOC`` orders are cancelled after the first market event they meet, for whatever did not fill.
* Brackets: an order with a ``parent_id`` sleeps while its parent works and starts working when the
  parent fills completely (so never on the parent's fill bar); it is cancelled (or rejected) if the
  parent ends unfilled. When an order with an ``oca_group`` fills completely, the other working
  orders of that group are cancelled.
* ``DAY`` orders expire at the end of their session on the exchange calendar: the first regular
  close after submission (holidays and early closes included), or the end of after-hours trading
  for an order that may trade outside regular hours. Bars starting at or after that no longer fill
  them, and ``OrderExpired`` is sent with the first market event after it, or with the order's own
  symbol's event at that very time (so another symbol's bar ending at the same close cannot expire an
  order before its own bar, which opened inside its day, has been matched).
* ``CancelOrder`` / ``ModifyOrder`` act at once (no latency): ``OrderCancelled`` / ``OrderUpdated``,
  or ``OrderCancelRejected`` when the order is no longer working. ``CancelAllOrders`` cancels every
  working order.

Ids: the venue numbers its orders ``P1``, ``P2`` ... and its executions ``E1``, ``E2`` ... afresh in
every process; run by an engine, they carry the run id (``<run>.P1``, ``<run>.E1``, see
:class:`~framework.broker.RunScoped`), so a later run on the same journal never reports an
execution id an earlier run journaled.

Events:
    Emits BrokerConnected, OrderAccepted, OrderRejected, ExecutionReported, OrderCancelled,
    OrderCancelRejected, OrderExpired, OrderUpdated, and forwards every event of the wrapped source.
    Fill events and ``PositionChanged`` are the engine's job.

Threading: one lock serialises market events (a live source's stream thread) with commands (the
engine's dispatcher, or the kill switch's watcher); in a backtest it is never contended.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from datetime import UTC
from datetime import datetime
from decimal import Decimal

from brokers.paper.config import MarketHours
from brokers.paper.config import PaperConfig
from brokers.paper.fill_model import FillModel
from brokers.paper.fill_model import Match
from brokers.paper.fill_model import Outcome
from brokers.paper.fill_model import Trigger
from brokers.paper.fill_model import match_bar
from brokers.paper.fill_model import match_quote
from brokers.paper.source import DataSource
from brokers.paper.source import MarketDataPassThrough
from brokers.paper.working import Working
from brokers.paper.working import cancelled
from brokers.paper.working import may_trade
from brokers.paper.working import snapshot
from framework.broker import ConnectionState
from framework.broker import EventSink
from framework.broker import MarketData
from framework.clock import Clock
from framework.commands import CancelAllOrders
from framework.commands import CancelOrder
from framework.commands import ModifyOrder
from framework.commands import OrderCommand
from framework.commands import SubmitOrder
from framework.events import AnyEvent
from framework.events import BarClosed
from framework.events import BrokerConnected
from framework.events import ExecutionReported
from framework.events import OrderAccepted
from framework.events import OrderCancelled
from framework.events import OrderCancelRejected
from framework.events import OrderExpired
from framework.events import OrderRejected
from framework.events import OrderUpdated
from framework.events import QuoteUpdated
from framework.marketdata import Bar
from framework.marketdata import Quote
from framework.models import Account
from framework.models import ExecutionReport
from framework.models import Fill
from framework.models import Order
from framework.models import OrderRequest
from framework.models import OrderStatus
from framework.models import Position
from framework.models import Side
from framework.models import TimeInForce
from framework.models import to_decimal
from framework.portfolio import Portfolio
from framework.trading_hours import hours_for
from framework.trading_hours import trades_outside_rth

ZERO = Decimal(0)
_NO_TIME = datetime.min.replace(tzinfo=UTC)  # no market event seen yet


class PaperBroker(MarketDataPassThrough):
    """Simulated venue implementing the full :class:`~framework.broker.Broker` protocol.

    Args:
        data: Where market data comes from; connected through the paper broker if it can connect.
        clock: The only source of time (a simulated clock in a backtest).
        config: Venue settings.
    """

    name = "paper"

    def __init__(self, data: MarketData, clock: Clock, config: PaperConfig | None = None) -> None:
        self.data = data
        self.clock = clock
        self.config = config or PaperConfig()
        self._hours_gate = self.config.market_hours is MarketHours.EXCHANGE
        self._share = self.config.volume_share
        self.portfolio = Portfolio(self.config.starting_cash, self.config.account_id, self.config.currency)
        self._lock = threading.RLock()
        self._state = ConnectionState.DISCONNECTED
        self._emit: EventSink = _not_connected  # where events go: the engine's sink, or a complaint before connect()
        self._orders: dict[str, Working] = {}
        self._by_symbol: dict[str, list[Working]] = {}
        self._pending: list[Working] = []
        self._dead_parents: set[str] = set()  # orders that ended unfilled: their children are refused
        self._next_expiry: datetime | None = None
        self._last: dict[str, Bar | Quote] = {}  # the latest bar or quote per symbol
        self._market_time = _NO_TIME  # time of the latest bar (bar fills) or quote (quote fills)
        self._order_ids = itertools.count(1)
        self._execution_ids = itertools.count(1)
        self._id_prefix = ""  # "<run id>." once an engine named the run
        self._fills_on = BarClosed if self.config.fill_model is FillModel.BAR else QuoteUpdated

    # ----------------------------------------------------------------- connection

    @property
    def account_id(self) -> str:
        """The simulated account's id (``PaperConfig.account_id``)."""
        return self.config.account_id

    def begin_run(self, run_id: str) -> None:
        """Put ``run_id`` in the ids issued from now on (``<run>.P1``, ``<run>.E1``), numbering from one."""
        with self._lock:
            self._id_prefix = f"{run_id}."
            self._order_ids = itertools.count(1)
            self._execution_ids = itertools.count(1)

    @property
    def connection_state(self) -> ConnectionState:
        """Connected between :meth:`connect` and :meth:`disconnect`."""
        return self._state

    def connect(self, sink: EventSink) -> None:
        """Connect the data source through the fill simulation and emit ``BrokerConnected``."""
        self._emit = sink
        if isinstance(self.data, DataSource):
            self.data.connect(self.on_market_event)
        self._state = ConnectionState.CONNECTED
        sink(BrokerConnected(ts=self.clock.now(), broker=self.name))

    def disconnect(self) -> None:
        """Disconnect the data source; idempotent."""
        if self._state is ConnectionState.DISCONNECTED:
            return
        self._state = ConnectionState.DISCONNECTED
        if isinstance(self.data, DataSource):
            self.data.disconnect()

    # ----------------------------------------------------------------- market data in

    @property
    def market_time(self) -> datetime:
        """The venue's time: that of the latest market event it fills on, or the clock before the first.

        The latest bar's end (``fill_model="bar"``) or quote's time (``"quote"``). An order arrives at
        the venue at this time (plus latency), and what the market does to orders (fills, expiries,
        acknowledgements after latency, cancels of IOC remainders and OCA siblings) is stamped with
        it. A backtest's clock is this time; in paper trading it keeps the venue independent of how
        late the live feed's data reached it (see ``docs/backtesting.md``, "Backtest and paper parity").
        """
        market = self._market_time
        return self.clock.now() if market is _NO_TIME else market

    def on_market_event(self, event: AnyEvent) -> None:
        """The wrapped source's sink: simulate fills for a bar or quote, then forward the event."""
        kind = type(event)
        if kind is BarClosed or kind is QuoteUpdated:
            payload: Bar | Quote = event[1]  # type: ignore[index,assignment]
            self._last[payload.symbol] = payload
            if kind is self._fills_on:  # a bar (bar fills) or a quote (quote fills) moves market time
                ts: datetime = event[0]  # type: ignore[index]
                if ts > self._market_time:  # noqa: PLR1730 - max() would cost a call per bar
                    self._market_time = ts
            if self._orders:  # the common case in a backtest is no working order: skip it all
                with self._lock:
                    self._simulate(kind, payload)
        self._emit(event)

    def _simulate(self, kind: type, payload: Bar | Quote) -> None:
        now = self.market_time
        if self._pending:
            self._activate_due(now)
        working = self._by_symbol.get(payload.symbol)
        if working and kind is self._fills_on:
            for order in list(working):
                self._match(order, payload, now)
        if self._next_expiry is not None and now >= self._next_expiry:
            self._expire_due(now, payload.symbol if kind is self._fills_on else None)

    def _match(self, order: Working, payload: Bar | Quote, now: datetime) -> None:
        request = order.request
        if request.parent_id is not None and request.parent_id in self._orders:
            return  # a bracket child sleeps until its parent has filled
        remaining = request.quantity - order.filled
        if isinstance(payload, Bar):
            starts = payload.start
            if starts < order.active_at or (order.expires_at is not None and starts >= order.expires_at):
                return
            if may_trade(order, payload, gate=self._hours_gate):
                self._apply(order, match_bar(request, remaining, order.trigger, payload, self._share), now)
        else:
            if payload.ts < order.active_at:
                return
            if may_trade(order, payload, gate=self._hours_gate):
                self._apply(order, match_quote(request, remaining, order.trigger, payload, self._share), now)
        if request.time_in_force is TimeInForce.IOC and request.client_order_id in self._orders:
            self._end(order, cancelled(now, request.client_order_id, "immediate-or-cancel remainder"))

    def _apply(self, order: Working, outcome: Outcome, now: datetime) -> None:
        order.trigger = outcome.trigger
        if outcome.match is not None:
            self._execute(order, outcome.match, now)

    def _execute(self, order: Working, match: Match, now: datetime) -> None:
        request, cfg = order.request, self.config
        instrument = request.instrument
        if match.taker:
            price = cfg.slippage.apply(match.price, request.side, instrument)
        else:
            price = instrument.round_price(match.price)
        report = ExecutionReport(
            f"{self._id_prefix}E{next(self._execution_ids)}", request.client_order_id, request.side, match.quantity,
            price, now, request.symbol, instrument.broker_id, self.config.account_id,
            cfg.commission.charge(match.quantity, price, instrument), order.broker_order_id,
        )
        order.filled += match.quantity
        order.value += price * match.quantity
        done = order.filled == request.quantity
        if done:
            self._finish(order)
        self._emit(ExecutionReported(now, report))
        if done and self._orders:
            self._after_fill(order, now)

    def _after_fill(self, order: Working, now: datetime) -> None:
        # bracket children start working now (so never on the parent's bar); OCA siblings end
        cid, group = order.request.client_order_id, order.request.oca_group
        for other in list(self._orders.values()):
            if other.request.parent_id == cid:
                other.active_at = max(other.active_at, now)
            elif group is not None and other.request.oca_group == group:
                reason = f"one-cancels-all group {group}: {cid} filled"
                self._end(other, cancelled(now, other.request.client_order_id, reason))

    def _end(self, order: Working, event: OrderCancelled | OrderExpired) -> None:
        # an order ends without filling completely: its bracket children end with it
        self._finish(order)
        self._emit(event)
        cid = order.request.client_order_id
        self._dead_parents.add(cid)
        for child in [o for o in self._orders.values() if o.request.parent_id == cid]:
            reason = f"parent order {cid} ended unfilled"
            self._end(child, cancelled(event.ts, child.request.client_order_id, reason))

    # ----------------------------------------------------------------- order bookkeeping

    def _activate_due(self, now: datetime) -> None:
        due = [o for o in self._pending if o.active_at <= now]
        if due:
            self._pending = [o for o in self._pending if o.active_at > now]
            for order in due:
                self._activate(order, now)

    def _activate(self, order: Working, ts: datetime) -> None:
        order.accepted = True
        self._by_symbol.setdefault(order.request.symbol, []).append(order)
        request = order.request
        self._emit(
            OrderAccepted(ts=ts, client_order_id=request.client_order_id, broker_order_id=order.broker_order_id)
        )

    def _finish(self, order: Working) -> None:
        # drop a working order from every index (filled, cancelled, expired)
        del self._orders[order.request.client_order_id]
        if order.accepted:
            self._by_symbol[order.request.symbol].remove(order)
        else:
            self._pending.remove(order)
        # _next_expiry stays a lower bound: _expire_due works out the true next one when it comes

    def _expire_due(self, now: datetime, matched: str | None) -> None:
        # An order due exactly now may still meet a bar of its own symbol ending now (every symbol's daily
        # bar ends at the same close, one symbol after another) that opened inside its day: it expires
        # once its symbol's event at this time has been matched (``matched``), or with any later event.
        def due(order: Working) -> bool:
            ends = order.expires_at
            return ends is not None and (ends < now or (ends == now and order.request.instrument.symbol == matched))

        for order in [o for o in self._orders.values() if due(o)]:
            if order.request.client_order_id in self._orders:  # not already ended with its parent
                self._end(order, OrderExpired(ts=now, client_order_id=order.request.client_order_id))
        self._next_expiry = min((o.expires_at for o in self._orders.values() if o.expires_at), default=None)

    def _rejection(self, request: OrderRequest) -> str | None:
        if request.client_order_id in self._orders:
            return f"duplicate client_order_id {request.client_order_id!r}"
        if request.time_in_force is TimeInForce.OPG:
            return "time in force opg is not simulated by the paper broker"
        if request.parent_id in self._dead_parents:
            return f"parent order {request.parent_id} is not working"
        if self.config.check_buying_power and request.side is Side.BUY:
            return self._short_of_cash(request)
        return None

    def _short_of_cash(self, request: OrderRequest) -> str | None:
        last = self._last.get(request.symbol)
        if last is None:
            return None
        cash = self.portfolio.cash
        estimate = (last.close if isinstance(last, Bar) else (last.last or last.mid or 0.0)) * float(
            request.quantity * request.instrument.multiplier)
        if estimate < float(cash) * 0.99:
            return None  # plainly affordable: the exact (Decimal) check is for the close calls
        price = self._mark_price(request.symbol)
        if price is not None:
            cost = price * request.quantity * request.instrument.multiplier
            if cost > cash:
                return f"insufficient buying power: about {cost:.2f} needed, cash is {cash:.2f}"
        return None

    # ----------------------------------------------------------------- execution API

    def execute(self, command: OrderCommand) -> None:
        """Run an order command now, in memory (thread-safe)."""
        with self._lock:
            if isinstance(command, SubmitOrder):
                self.submit_order(command.request)
            elif isinstance(command, ModifyOrder):
                self.modify_order(command.request)
            elif isinstance(command, CancelOrder):
                self.cancel_order(command.client_order_id)
            elif isinstance(command, CancelAllOrders):
                for cid in list(self._orders):
                    if cid in self._orders:  # a parent's cancel may have ended its children already
                        self.cancel_order(cid)

    def drop_unsent(self) -> list[OrderCommand]:
        """Nothing is ever queued: commands run inline."""
        return []

    def submit_order(self, request: OrderRequest) -> None:
        """Start working an order (or reject it); outcomes arrive as events.

        The order arrives at the venue's :attr:`market_time`: it meets bars starting, and quotes
        stamped, at or after that time plus the latency, and a DAY order belongs to the session
        open then. The answer (``OrderRejected``, or ``OrderAccepted`` at once without latency) is
        stamped with the clock, like every answer to a command.
        """
        reason = self._rejection(request)
        if reason is not None:
            self._dead_parents.add(request.client_order_id)
            self._emit(OrderRejected(ts=self.clock.now(), client_order_id=request.client_order_id, reason=reason))
            return
        arrival = self.market_time
        hours = hours_for(request.instrument.exchange)
        expires = None
        if request.time_in_force is TimeInForce.DAY:
            expires = hours.session_end_after(arrival, trades_outside_rth(request.outside_rth, request.order_type))
        order_id = f"{self._id_prefix}P{next(self._order_ids)}"
        order = Working(request, order_id, arrival + self.config.latency, expires, hours)
        self._orders[request.client_order_id] = order
        if self._next_expiry is None or (expires is not None and expires < self._next_expiry):
            self._next_expiry = expires
        if order.active_at <= arrival:
            self._activate(order, self.clock.now())
        else:
            self._pending.append(order)

    def modify_order(self, request: OrderRequest) -> None:
        """Replace a working order's ticket (``OrderUpdated``), or refuse (``OrderCancelRejected``)."""
        cid = request.client_order_id
        order = self._orders.get(cid)
        reason = None
        if order is None:
            reason = "order is not working"
        elif request.instrument != order.request.instrument or request.side is not order.request.side:
            reason = "a modification cannot change the instrument or side"
        elif request.quantity <= order.filled:
            reason = f"new quantity {request.quantity} is not above the filled {order.filled}"
        if reason is not None or order is None:
            self._emit(OrderCancelRejected(ts=self.clock.now(), client_order_id=cid, reason=reason or ""))
            return
        if request.order_type is not order.request.order_type:
            order.trigger = Trigger()
        order.request = request
        self._emit(OrderUpdated(ts=self.clock.now(), client_order_id=cid, request=request))

    def cancel_order(self, client_order_id: str) -> None:
        """Cancel a working order (``OrderCancelled``), or refuse (``OrderCancelRejected``)."""
        order = self._orders.get(client_order_id)
        if order is None:
            self._emit(
                OrderCancelRejected(ts=self.clock.now(), client_order_id=client_order_id, reason="order is not working")
            )
            return
        self._end(order, cancelled(self.clock.now(), client_order_id, "cancelled by request"))

    def recover(self, orders: Sequence[Order], fills: Sequence[Fill]) -> None:
        """End a previous run's unfinished orders: the simulated venue died with that process.

        Working orders are reported ``OrderCancelled`` and never-acknowledged ones ``OrderRejected``,
        both with the reason ``paper venue restarted``; nothing is re-placed. Simulated cash and
        positions start afresh from the config (the journal keeps the old run's fills).
        """
        now = self.clock.now()
        reason = "paper venue restarted"
        for order in orders:
            cid = order.client_order_id
            if order.status is OrderStatus.SUBMITTED:
                self._emit(OrderRejected(ts=now, client_order_id=cid, reason=reason))
            else:
                self._emit(cancelled(now, cid, reason))

    def open_orders(self) -> Sequence[Order]:
        """Working orders, in submission order."""
        now = self.clock.now()
        with self._lock:
            return [snapshot(o, now) for o in self._orders.values()]

    def _mark_price(self, symbol: str) -> Decimal | None:
        payload = self._last.get(symbol)
        if payload is None:
            return None
        if isinstance(payload, Bar):
            return to_decimal(payload.close)
        price = payload.last if payload.last is not None else payload.mid
        return None if price is None else to_decimal(price)

    def _marked(self) -> Portfolio:
        for position in self.portfolio.positions(self.clock.now()):
            price = self._mark_price(position.symbol)
            if price is not None:
                self.portfolio.mark(position.symbol, price)
        return self.portfolio

    def positions(self) -> Sequence[Position]:
        """Simulated positions, marked at the latest bar close or quote."""
        with self._lock:
            return self._marked().positions(self.clock.now())

    def account(self) -> Account:
        """Simulated balances, positions marked at the latest prices."""
        with self._lock:
            return self._marked().account(self.clock.now())


def _not_connected(event: AnyEvent) -> None:
    msg = "PaperBroker is not connected"
    raise RuntimeError(msg)

