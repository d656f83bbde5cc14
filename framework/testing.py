"""Test doubles for strategy authors (no broker needed).

* :class:`FakeClock`: a :class:`~framework.clock.SimulatedClock` with a fixed default start.
* :class:`SkewedClock`: another clock's monotonic time with a wall time that is off and can be
  stepped, as on a machine whose clock is wrong or is corrected by NTP.
* :class:`EventRecorder`: subscribes to a bus and keeps every event it hears, in order.
* :class:`ScriptedBroker`: an in-memory broker; records the commands it is given and answers as
  scripted (accept, fill, reject, cancel), or automatically fills market orders at the last price.
* :func:`run_strategy`: drive a strategy with a list of market events and get every event back.

Broker authors: :mod:`framework.conformance` holds the checks every adapter must pass.

Example::

    events = run_strategy(MyStrategy(), [bar1, bar2, bar3])
    orders = [type(e) for e in events if isinstance(e, OrderEvent)]
    assert orders == [OrderSubmitted, OrderAccepted, OrderFilled]
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from collections.abc import Sequence
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from decimal import Decimal
from typing import Any

from framework.broker import ConnectionState
from framework.broker import EventSink
from framework.bus import ANY
from framework.bus import EventBus
from framework.bus import Subscription
from framework.clock import Clock
from framework.clock import SimulatedClock
from framework.commands import CancelAllOrders
from framework.commands import CancelOrder
from framework.commands import ModifyOrder
from framework.commands import OrderCommand
from framework.commands import SubmitOrder
from framework.config import EngineConfig
from framework.engine import Engine
from framework.events import ORDER_EVENTS
from framework.events import AccountUpdated
from framework.events import AnyEvent
from framework.events import BarClosed
from framework.events import BrokerConnected
from framework.events import BrokerDegraded
from framework.events import BrokerDisconnected
from framework.events import ClockSkewDetected
from framework.events import CommandKind
from framework.events import CommandNotSent
from framework.events import DataGap
from framework.events import DataStale
from framework.events import ExecutionRefused
from framework.events import ExecutionReported
from framework.events import HaltRequested
from framework.events import HandlerFailed
from framework.events import OrderAccepted
from framework.events import OrderCancelled
from framework.events import OrderRejected
from framework.events import OrderUpdated
from framework.events import PnlUpdated
from framework.events import PositionChanged
from framework.events import QuoteUpdated
from framework.events import StrategyFailed
from framework.events import TimerFired
from framework.history import BarData
from framework.market_stream import market_items
from framework.marketdata import Bar
from framework.marketdata import Quote
from framework.models import Account
from framework.models import ExecutionReport
from framework.models import Instrument
from framework.models import Order
from framework.models import OrderRequest
from framework.models import OrderType
from framework.models import Position
from framework.models import SecurityType
from framework.models import to_decimal
from framework.strategy import Strategy

DEFAULT_START = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)

ALL_EVENT_TYPES: tuple[type, ...] = (
    QuoteUpdated,
    BarClosed,
    DataStale,
    DataGap,
    *ORDER_EVENTS,
    ExecutionRefused,
    PositionChanged,
    AccountUpdated,
    PnlUpdated,
    BrokerConnected,
    BrokerDegraded,
    BrokerDisconnected,
    HaltRequested,
    ClockSkewDetected,
    TimerFired,
    HandlerFailed,
    StrategyFailed,
)


class FakeClock(SimulatedClock):
    """A simulated clock starting at ``start`` (default 2024-01-02 14:30 UTC, a market open)."""

    def __init__(self, start: datetime = DEFAULT_START) -> None:
        super().__init__(start)


class SkewedClock:
    """A machine's clock that is off: ``base``'s wall time plus an offset, ``base``'s monotonic time.

    A stepped wall clock (an NTP correction, an operator's ``date -s``) moves :meth:`now` by
    :meth:`jump` while :meth:`monotonic` goes on undisturbed, as on a real machine. Share ``base``
    with a simulated venue to give the venue the true time and the code under test a skewed one.

    Args:
        base: The true time (a :class:`~framework.clock.SimulatedClock` in tests).
        offset: How far this clock's wall time is ahead of ``base`` (negative: behind).
    """

    def __init__(self, base: Clock, offset: timedelta = timedelta(0)) -> None:
        self._base = base
        self.offset = offset

    def now(self) -> datetime:
        """Return the base clock's time plus the offset (aware UTC)."""
        return self._base.now() + self.offset

    def monotonic(self) -> float:
        """Return the base clock's monotonic time: a wall-clock step does not move it."""
        return self._base.monotonic()

    def jump(self, delta: timedelta) -> None:
        """Step the wall time by ``delta`` (either way); monotonic time is unaffected."""
        self.offset += delta


class EventRecorder:
    """Records every event of the given types published on a bus, in publication order.

    Args:
        bus: The bus to listen on.
        types: Event types to record; default every type in the catalogue.
        sender: Record only events with this sender; default all.
    """

    def __init__(self, bus: EventBus, types: Iterable[type] = ALL_EVENT_TYPES, sender: Any = ANY) -> None:
        self.events: list[Any] = []
        self._subs: list[Subscription] = [bus.subscribe(t, self.events.append, sender=sender) for t in types]

    def types(self) -> list[type]:
        """The types of the recorded events, in order."""
        return [type(e) for e in self.events]

    def of(self, event_type: type[Any]) -> list[Any]:
        """The recorded events of one type."""
        return [e for e in self.events if isinstance(e, event_type)]

    def clear(self) -> None:
        """Forget what was recorded."""
        self.events.clear()

    def close(self) -> None:
        """Stop recording."""
        for sub in self._subs:
            sub.cancel()


class ScriptedBroker:
    """An in-memory broker for tests: it acts only as scripted.

    Commands run inline, as an in-memory venue's may. Orders are acknowledged at once when
    ``auto_accept`` is true. With ``auto_fill`` true, market orders fill completely at the last price
    seen through :meth:`push_quote` / :meth:`push_bar` (ask/bid for quotes, the close for bars).
    Everything else waits for :meth:`fill`, :meth:`reject`, :meth:`confirm_cancel` (or
    ``auto_cancel``). Set ``hold_commands`` to keep commands queued (as a networked adapter's worker
    would) until :meth:`release_commands`.

    Attributes:
        commands: Every command received, in order.
        submitted: Every request received, in order.
        modified: Every replacement ticket received.
        cancel_requests: Every client order id asked to cancel.
    """

    name = "scripted"

    def __init__(
        self,
        clock: Clock,
        *,
        cash: Decimal = Decimal(1_000_000),
        auto_accept: bool = True,
        auto_fill: bool = True,
        auto_cancel: bool = False,
        instruments: Sequence[Instrument] = (),
    ) -> None:
        self.clock = clock
        self.cash = cash
        self.auto_accept = auto_accept
        self.auto_fill = auto_fill
        self.auto_cancel = auto_cancel
        self.instruments = {i.symbol: i for i in instruments}
        self.commands: list[OrderCommand] = []
        self.submitted: list[OrderRequest] = []
        self.modified: list[OrderRequest] = []
        self.cancel_requests: list[str] = []
        self.hold_commands = False
        self._held: list[OrderCommand] = []
        self.quote_subscriptions: set[str] = set()
        self.bar_subscriptions: set[tuple[str, timedelta]] = set()
        self._state = ConnectionState.DISCONNECTED
        self._sink: EventSink | None = None
        self._last: dict[str, tuple[float, float]] = {}
        self._exec_ids = itertools.count(1)
        self._working: dict[str, OrderRequest] = {}
        self._filled: dict[str, Decimal] = {}

    # --- connection
    @property
    def connection_state(self) -> ConnectionState:
        """Connected between :meth:`connect` and :meth:`disconnect`."""
        return self._state

    def connect(self, sink: EventSink) -> None:
        """Start delivering events to ``sink``."""
        self._sink = sink
        self._state = ConnectionState.CONNECTED
        self.emit(BrokerConnected(ts=self.clock.now(), broker=self.name))

    def disconnect(self) -> None:
        """Stop; idempotent."""
        self._state = ConnectionState.DISCONNECTED

    def degrade(self, reason: str = "scripted outage", *, disconnected: bool = False) -> None:
        """Become DEGRADED (or DISCONNECTED) and announce it, as an adapter losing its stream would."""
        now = self.clock.now()
        if disconnected:
            self._state = ConnectionState.DISCONNECTED
            self.emit(BrokerDisconnected(ts=now, broker=self.name, reason=reason))
        else:
            self._state = ConnectionState.DEGRADED
            self.emit(BrokerDegraded(ts=now, broker=self.name, reason=reason))

    def reconnect(self) -> None:
        """Become CONNECTED again and announce it."""
        self._state = ConnectionState.CONNECTED
        self.emit(BrokerConnected(ts=self.clock.now(), broker=self.name))

    def give_back(self, client_order_id: str, command: CommandKind, reason: str = "scripted: not sent",
                  request: OrderRequest | None = None) -> None:
        """Emit ``CommandNotSent``, as an adapter whose session was down when its worker ran the command."""
        self.emit(CommandNotSent(ts=self.clock.now(), client_order_id=client_order_id, command=command,
                                 reason=reason, request=request))

    def emit(self, event: AnyEvent) -> None:
        """Deliver an event to the engine as a real broker would."""
        if self._sink is None:
            msg = "ScriptedBroker is not connected"
            raise RuntimeError(msg)
        self._sink(event)

    # --- market data
    def resolve_instrument(self, symbol: str, security_type: SecurityType = SecurityType.STOCK) -> Instrument:
        """Return the registered instrument, or a default stock with that symbol."""
        return self.instruments.setdefault(symbol, Instrument(symbol=symbol, security_type=security_type))

    def search_instruments(self, text: str) -> Sequence[Instrument]:
        """Registered instruments whose symbol starts with ``text``."""
        return [i for s, i in sorted(self.instruments.items()) if s.startswith(text.upper())]

    def subscribe_quotes(self, instrument: Instrument) -> None:
        """Record the subscription."""
        self.quote_subscriptions.add(instrument.symbol)

    def unsubscribe_quotes(self, instrument: Instrument) -> None:
        """Forget the subscription."""
        self.quote_subscriptions.discard(instrument.symbol)

    def subscribe_bars(self, instrument: Instrument, duration: timedelta) -> None:
        """Record the subscription."""
        self.bar_subscriptions.add((instrument.symbol, duration))

    def unsubscribe_bars(self, instrument: Instrument, duration: timedelta) -> None:
        """Forget the subscription."""
        self.bar_subscriptions.discard((instrument.symbol, duration))

    def historical_bars(
        self, instrument: Instrument, duration: timedelta, start: datetime, end: datetime
    ) -> Sequence[Bar]:
        """No history in a scripted broker."""
        return []

    def push_quote(self, quote: Quote) -> None:
        """Emit ``QuoteUpdated`` and remember the price for automatic fills."""
        bid = quote.bid or quote.last or quote.ask
        ask = quote.ask or quote.last or quote.bid
        if bid is not None and ask is not None:
            self._last[quote.symbol] = (bid, ask)
        self.emit(QuoteUpdated(quote.ts, quote))

    def push_bar(self, bar: Bar) -> None:
        """Emit ``BarClosed`` and remember the close for automatic fills."""
        self._last[bar.symbol] = (bar.close, bar.close)
        self.emit(BarClosed(bar.end, bar))

    # --- execution
    def execute(self, command: OrderCommand) -> None:
        """Record and run ``command`` now (or hold it while ``hold_commands``)."""
        self.commands.append(command)
        if self.hold_commands and not isinstance(command, CancelAllOrders):
            self._held.append(command)
            return
        self._run(command)

    def drop_unsent(self) -> list[OrderCommand]:
        """Drop the held placements (submit, modify) and return them."""
        dropped: list[OrderCommand] = [c for c in self._held if isinstance(c, SubmitOrder | ModifyOrder)]
        self._held = [c for c in self._held if not isinstance(c, SubmitOrder | ModifyOrder)]
        return dropped

    def release_commands(self) -> None:
        """Run the held commands, in order, and stop holding."""
        self.hold_commands = False
        held, self._held = self._held, []
        for command in held:
            self._run(command)

    def _run(self, command: OrderCommand) -> None:
        if isinstance(command, SubmitOrder):
            self.submit_order(command.request)
        elif isinstance(command, ModifyOrder):
            self.modify_order(command.request)
        elif isinstance(command, CancelOrder):
            self.cancel_order(command.client_order_id)
        else:
            for cid in list(self._working):
                self.cancel_order(cid)

    def submit_order(self, request: OrderRequest) -> None:
        """Record; acknowledge and fill as configured."""
        self.submitted.append(request)
        self._working[request.client_order_id] = request
        if self.auto_accept:
            self.accept(request.client_order_id)
        if self.auto_fill and request.order_type is OrderType.MARKET and request.symbol in self._last:
            bid, ask = self._last[request.symbol]
            self.fill(request.client_order_id, ask if request.side.sign > 0 else bid)

    def modify_order(self, request: OrderRequest) -> None:
        """Record and acknowledge the replacement."""
        self.modified.append(request)
        self._working[request.client_order_id] = request
        self.emit(OrderUpdated(ts=self.clock.now(), client_order_id=request.client_order_id, request=request))

    def cancel_order(self, client_order_id: str) -> None:
        """Record; confirm at once if ``auto_cancel``, else the test confirms with :meth:`confirm_cancel`."""
        self.cancel_requests.append(client_order_id)
        if self.auto_cancel and client_order_id in self._working:
            self.confirm_cancel(client_order_id)

    def accept(self, client_order_id: str) -> None:
        """Acknowledge an order."""
        self.emit(
            OrderAccepted(ts=self.clock.now(), client_order_id=client_order_id, broker_order_id=f"B{client_order_id}")
        )

    def reject(self, client_order_id: str, reason: str = "rejected by script") -> None:
        """Reject an order."""
        self._working.pop(client_order_id, None)
        self.emit(OrderRejected(ts=self.clock.now(), client_order_id=client_order_id, reason=reason))

    def confirm_cancel(self, client_order_id: str) -> None:
        """Confirm a cancel."""
        self._working.pop(client_order_id, None)
        self.emit(OrderCancelled(ts=self.clock.now(), client_order_id=client_order_id, reason="cancelled"))

    def fill(self, client_order_id: str, price: float | Decimal, quantity: Decimal | None = None) -> ExecutionReport:
        """Execute ``quantity`` (default: all that remains) of a working order at ``price``."""
        request = self._working[client_order_id]
        done = self._filled.get(client_order_id, Decimal(0))
        qty = quantity if quantity is not None else request.quantity - done
        report = ExecutionReport(
            execution_id=f"X{next(self._exec_ids)}",
            client_order_id=client_order_id,
            side=request.side,
            quantity=qty,
            price=price if isinstance(price, Decimal) else to_decimal(price),
            ts=self.clock.now(),
            symbol=request.symbol,
            commission=Decimal(0),
        )
        self._filled[client_order_id] = done + qty
        if done + qty >= request.quantity:
            del self._working[client_order_id]
        self.report(report)
        return report

    def report(self, report: ExecutionReport) -> None:
        """Deliver an execution report exactly as given (a test may make it contradict its order)."""
        self.emit(ExecutionReported(report.ts, report))

    def open_orders(self) -> Sequence[Order]:
        """Working orders as the broker sees them."""
        return [Order(request=r, updated=self.clock.now()) for r in self._working.values()]

    def positions(self) -> Sequence[Position]:
        """A scripted broker reports no positions of its own."""
        return []

    def account(self) -> Account:
        """The scripted starting balances."""
        return Account(
            account_id="SCRIPTED",
            cash=self.cash,
            equity=self.cash,
            buying_power=self.cash,
            ts=self.clock.now(),
        )


def run_strategy(
    strategy: Strategy[Any],
    market: Iterable[Quote | Bar] | BarData,
    *,
    broker: ScriptedBroker | None = None,
    clock: SimulatedClock | None = None,
) -> list[Any]:
    """Run ``strategy`` over quotes and bars through a real engine; return every event published.

    The clock follows the data (a bar is delivered at its end time). Handler errors are raised, not
    isolated, so a broken strategy fails the test.

    Args:
        strategy: The strategy under test (not yet added to an engine).
        market: Quotes and bars, delivered in the order given; or a ``BarSeries``; or the
            ``BarData`` that ``tradebus.load_bars`` returns, replayed by bar end time, then symbol.
        broker: The broker to trade with; default a :class:`ScriptedBroker` that fills market
            orders at once at the last price (limit and stop orders wait to be scripted).
        clock: The clock; default a simulated clock at the first item's delivery time.

    Raises:
        TypeError: If ``market`` holds anything but quotes and bars (a path, symbols, ...).
    """
    items = market_items(market)
    clock = clock or SimulatedClock(_delivery_time(items[0]) if items else DEFAULT_START)
    broker = broker or ScriptedBroker(clock)
    engine = Engine(broker, clock=clock, config=EngineConfig(raise_errors=True, order_id_prefix="T"))
    recorder = EventRecorder(engine.bus)
    engine.add_strategy(strategy)
    engine.start()
    engine.run_pending()
    for item in items:
        when = _delivery_time(item)
        if when > clock.now():
            clock.set(when)
        if isinstance(item, Quote):
            broker.push_quote(item)
        else:
            broker.push_bar(item)
        engine.run_pending()
    engine.stop()
    recorder.close()
    return recorder.events


def _delivery_time(item: Quote | Bar) -> datetime:
    # a quote is delivered when it is stamped, a bar when it closes
    return item.ts if isinstance(item, Quote) else item.end
