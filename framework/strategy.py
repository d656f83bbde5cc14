"""The ``Strategy`` base class: what a trading idea subclasses.

A strategy declares its instruments explicitly (``subscribe_bars`` / ``subscribe_quotes`` in
``on_start``), reacts in ``on_*`` hooks, and acts through helpers (``buy``, ``sell``, ``bracket``,
``modify``, ``cancel``, ``close_position``, timers). It never names a broker: the same class runs in
a backtest, on paper and live.

If a hook raises, the engine applies the strategy's error policy (``error_policy``, else the
engine's ``on_strategy_error``; by default the strategy is stopped, its working orders cancelled and
its positions kept; see :mod:`framework.supervision`).

A strategy holds a :class:`~framework.context.StrategyContext` (clock, read-only portfolio and
orders, order commands, subscriptions, timers, logger), never the engine. Hooks run on the engine's
single dispatcher thread, one at a time, and must not block (see :mod:`framework.dispatcher`). Order
hooks hear only this strategy's orders; data hooks only the instruments it subscribed. Only the hooks
a subclass overrides are subscribed, so an event nobody handles costs nothing.

Events:
    on_quote (QuoteUpdated), on_bar (BarClosed), on_order_submitted, on_order_denied,
    on_order_accepted, on_order_rejected, on_order_updated, on_order_partially_filled,
    on_order_filled, on_order_pending_cancel, on_order_cancelled, on_order_cancel_rejected,
    on_order_expired, on_execution_refused, on_position_changed, on_timer (TimerFired), on_data_stale,
    on_data_gap,
    on_account_updated, on_broker_connected, on_broker_degraded, on_broker_disconnected.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING
from typing import Any
from typing import ClassVar
from typing import Generic
from typing import NoReturn
from typing import TypeVar

from framework.bus import Subscription
from framework.config import ErrorPolicy
from framework.config import StrategyConfig
from framework.events import AccountUpdated
from framework.events import BarClosed
from framework.events import BrokerConnected
from framework.events import BrokerDegraded
from framework.events import BrokerDisconnected
from framework.events import DataGap
from framework.events import DataStale
from framework.events import ExecutionRefused
from framework.events import OrderAccepted
from framework.events import OrderCancelled
from framework.events import OrderCancelRejected
from framework.events import OrderDenied
from framework.events import OrderExpired
from framework.events import OrderFilled
from framework.events import OrderHeld
from framework.events import OrderPartiallyFilled
from framework.events import OrderPendingCancel
from framework.events import OrderRejected
from framework.events import OrderSubmitted
from framework.events import OrderUpdated
from framework.events import PositionChanged
from framework.events import QuoteUpdated
from framework.events import TimerFired
from framework.marketdata import Bar
from framework.marketdata import Quote
from framework.models import Instrument
from framework.models import Order
from framework.models import OrderType
from framework.models import Position
from framework.models import Side
from framework.models import TimeInForce
from framework.orders_api import OrderFactory
from framework.orders_api import Price

if TYPE_CHECKING:
    from framework.context import StrategyContext
    from framework.portfolio import PortfolioView

C = TypeVar("C", bound=StrategyConfig)


class Strategy(Generic[C]):
    """Base class of every strategy.

    Subclasses set ``config_type`` to their :class:`StrategyConfig` subclass and override hooks.

    Args:
        config: Typed, frozen parameters; defaults to ``config_type()``.
        strategy_id: Unique id within an engine; defaults to the class name.
    """

    config_type: ClassVar[type[StrategyConfig]] = StrategyConfig

    error_policy: ErrorPolicy | None = None
    """What the engine does when one of this strategy's hooks raises; None: the engine's
    ``on_strategy_error``. Set it on a subclass or an instance before the engine starts."""

    def __init__(self, config: C | None = None, *, strategy_id: str | None = None) -> None:
        self.config: C = config if config is not None else self.config_type()  # type: ignore[assignment]
        self.id = strategy_id or type(self).__name__
        self.log = logging.getLogger(f"tradebus.strategy.{self.id}")
        self._context: StrategyContext | None = None
        self._subscriptions: list[Subscription] = []
        self._bar_durations: dict[str, set[timedelta]] = {}
        self._watched: set[str] = set()
        self._orders = OrderFactory(self._attached_context)

    # ----------------------------------------------------------------- hooks (override these)

    def on_start(self) -> None:
        """Called once when the engine starts: subscribe to data and set timers here."""

    def on_stop(self) -> None:
        """Called once when the engine stops."""

    def on_quote(self, quote: Quote) -> None:
        """A new quote for a subscribed instrument."""

    def on_bar(self, bar: Bar) -> None:
        """A bar closed for a subscribed instrument and duration."""

    def on_order_submitted(self, event: OrderSubmitted) -> None:
        """An order passed the checks and went to the broker."""

    def on_order_denied(self, event: OrderDenied) -> None:
        """An order was refused before reaching the broker."""

    def on_order_accepted(self, event: OrderAccepted) -> None:
        """The broker acknowledged an order."""

    def on_order_rejected(self, event: OrderRejected) -> None:
        """The broker refused an order."""

    def on_order_updated(self, event: OrderUpdated) -> None:
        """The broker applied a modification."""

    def on_order_partially_filled(self, event: OrderPartiallyFilled) -> None:
        """Part of an order executed."""

    def on_order_filled(self, event: OrderFilled) -> None:
        """An order executed completely."""

    def on_order_pending_cancel(self, event: OrderPendingCancel) -> None:
        """A cancel request went to the broker."""

    def on_order_cancelled(self, event: OrderCancelled) -> None:
        """An order was cancelled."""

    def on_order_cancel_rejected(self, event: OrderCancelRejected) -> None:
        """A cancel or modify could not be applied."""

    def on_order_expired(self, event: OrderExpired) -> None:
        """An order's time in force ran out."""

    def on_order_held(self, event: OrderHeld) -> None:
        """The broker cannot take an order command now; it waits (see :class:`~framework.config.DegradedPolicy`)."""

    def on_execution_refused(self, event: ExecutionRefused) -> None:
        """A broker's execution report for one of this strategy's orders contradicted it; nothing was booked."""

    def on_position_changed(self, event: PositionChanged) -> None:
        """A position in a subscribed instrument changed."""

    def on_timer(self, event: TimerFired) -> None:
        """A timer set with :meth:`every` or :meth:`at` fired."""

    def on_data_stale(self, event: DataStale) -> None:
        """A subscribed instrument has had no data for too long."""

    def on_data_gap(self, event: DataGap) -> None:
        """The broker's stream was interrupted: data of a subscribed instrument may be missing (``start``-``end``)."""

    def on_account_updated(self, event: AccountUpdated) -> None:
        """New account balances."""

    def on_broker_connected(self, event: BrokerConnected) -> None:
        """The broker is (again) connected."""

    def on_broker_degraded(self, event: BrokerDegraded) -> None:
        """The broker is partly usable."""

    def on_broker_disconnected(self, event: BrokerDisconnected) -> None:
        """The broker is not usable."""

    # ----------------------------------------------------------------- wiring (one visible place)

    def _own_handlers(self) -> list[tuple[type, Callable[[Any], None], Callable[..., None]]]:
        # Events routed to this strategy by its id (sender=self.id): (event, hook, the base's no-op).
        s = Strategy
        return [
            (OrderSubmitted, self.on_order_submitted, s.on_order_submitted),
            (OrderDenied, self.on_order_denied, s.on_order_denied),
            (OrderAccepted, self.on_order_accepted, s.on_order_accepted),
            (OrderRejected, self.on_order_rejected, s.on_order_rejected),
            (OrderUpdated, self.on_order_updated, s.on_order_updated),
            (OrderPartiallyFilled, self.on_order_partially_filled, s.on_order_partially_filled),
            (OrderFilled, self.on_order_filled, s.on_order_filled),
            (OrderPendingCancel, self.on_order_pending_cancel, s.on_order_pending_cancel),
            (OrderCancelled, self.on_order_cancelled, s.on_order_cancelled),
            (OrderCancelRejected, self.on_order_cancel_rejected, s.on_order_cancel_rejected),
            (OrderExpired, self.on_order_expired, s.on_order_expired),
            (OrderHeld, self.on_order_held, s.on_order_held),
            (ExecutionRefused, self.on_execution_refused, s.on_execution_refused),
            (TimerFired, self.on_timer, s.on_timer),
        ]

    def _broadcast_handlers(self) -> list[tuple[type, Callable[[Any], None], Callable[..., None]]]:
        # Events every strategy hears (sender=ANY).
        s = Strategy
        return [
            (AccountUpdated, self.on_account_updated, s.on_account_updated),
            (BrokerConnected, self.on_broker_connected, s.on_broker_connected),
            (BrokerDegraded, self.on_broker_degraded, s.on_broker_degraded),
            (BrokerDisconnected, self.on_broker_disconnected, s.on_broker_disconnected),
        ]

    def _instrument_handlers(self) -> list[tuple[type, Callable[[Any], None], Callable[..., None]]]:
        # Events routed by symbol (sender=symbol), subscribed per declared instrument.
        s = Strategy
        return [
            (PositionChanged, self.on_position_changed, s.on_position_changed),
            (DataStale, self.on_data_stale, s.on_data_stale),
            (DataGap, self.on_data_gap, s.on_data_gap),
        ]

    @staticmethod
    def _overridden(hook: Callable[[Any], None], base: Callable[..., None]) -> bool:
        # a hook left as the base's no-op is not subscribed: its events then cost nothing
        return getattr(hook, "__func__", hook) is not base

    def bind(self, context: StrategyContext) -> None:
        """Attach to a run (called by :meth:`Engine.add_strategy`)."""
        if self._context is not None:
            msg = f"strategy {self.id!r} is already attached to an engine"
            raise RuntimeError(msg)
        self._context = context

    def start(self) -> None:
        """Subscribe the overridden hooks and run :meth:`on_start` (called by the engine)."""
        context = self.context
        for event_type, handler, base in self._own_handlers():
            if self._overridden(handler, base):
                self._subscriptions.append(context.subscribe(event_type, handler, self.id))
        for event_type, handler, base in self._broadcast_handlers():
            if self._overridden(handler, base):
                self._subscriptions.append(context.subscribe(event_type, handler))
        self.on_start()

    def stop(self) -> None:
        """Run :meth:`on_stop`, then :meth:`detach` (called by the engine), even when ``on_stop`` raises."""
        try:
            self.on_stop()
        finally:
            self.detach()

    def detach(self) -> None:
        """Unsubscribe every hook and cancel every timer, without calling :meth:`on_stop`.

        Called by the engine when it stops the strategy after an error (see :mod:`framework.supervision`).
        """
        for sub in self._subscriptions:
            sub.cancel()
        self._subscriptions.clear()
        self._watched.clear()
        self._bar_durations.clear()
        self.context.cancel_timers()

    @property
    def context(self) -> StrategyContext:
        """This strategy's window on the run (clock, portfolio, orders, commands, data, timers).

        Raises:
            RuntimeError: If the strategy was not added to an engine.
        """
        context = self._context
        if context is None:
            self._not_attached()
        return context

    def _attached_context(self) -> StrategyContext:
        # the order helpers' getter (a bound method costs one call where a lambda over the property costs two)
        context = self._context
        if context is None:
            self._not_attached()
        return context

    def _not_attached(self) -> NoReturn:
        msg = f"strategy {self.id!r} is not attached to an engine; use Engine.add_strategy()"
        raise RuntimeError(msg)

    # ----------------------------------------------------------------- data

    def subscribe_quotes(self, symbol: str) -> Instrument:
        """Receive ``on_quote`` for ``symbol``; returns the resolved instrument."""
        context = self.context
        instrument = context.instrument(symbol)
        self._watch_instrument(symbol)
        self._subscriptions.append(context.subscribe(QuoteUpdated, self._deliver_quote, symbol, hook="on_quote"))
        context.subscribe_quotes(symbol)
        return instrument

    def subscribe_bars(self, symbol: str, duration: timedelta | None = None) -> Instrument:
        """Receive ``on_bar`` for ``symbol`` bars of ``duration`` (None: the data's own size; see ``bar_size``)."""
        context = self.context
        duration = context.bar_size(symbol, duration)  # first: it names this strategy if the symbol is unknown
        instrument = context.instrument(symbol)
        durations = self._bar_durations.get(symbol)
        if durations is None:
            durations = self._bar_durations[symbol] = set()
            self._watch_instrument(symbol)
            deliver = self._bar_deliverer(durations)
            self._subscriptions.append(context.subscribe(BarClosed, deliver, symbol, hook="on_bar"))
        if duration not in durations:
            durations.add(duration)
            context.subscribe_bars(symbol, duration)
        return instrument

    def _watch_instrument(self, symbol: str) -> None:
        if symbol in self._watched:
            return
        self._watched.add(symbol)
        for event_type, handler, base in self._instrument_handlers():
            if self._overridden(handler, base):
                self._subscriptions.append(self.context.subscribe(event_type, handler, symbol))

    def _deliver_quote(self, event: QuoteUpdated) -> None:
        self.on_quote(event.quote)

    def _bar_deliverer(self, durations: set[timedelta]) -> Callable[[BarClosed], None]:
        # Once per bar of every backtest: a closure is cheaper than a method looking both up per bar.
        on_bar = self.on_bar

        def deliver(event: BarClosed) -> None:
            bar = event.bar
            if bar.duration in durations:
                on_bar(bar)

        return deliver

    # ----------------------------------------------------------------- state

    @property
    def now(self) -> datetime:
        """The engine clock's current time."""
        return self.context.clock.now()

    @property
    def portfolio(self) -> PortfolioView:
        """The run's portfolio, read-only (the engine books fills into it)."""
        return self.context.portfolio

    def instrument(self, symbol: str) -> Instrument:
        """The resolved instrument for ``symbol``."""
        return self.context.instrument(symbol)

    def position(self, symbol: str) -> Position:
        """Current position in ``symbol`` (flat if none)."""
        return self.context.portfolio.position(symbol, self.now)

    def open_orders(self) -> list[Order]:
        """This strategy's orders that may still fill."""
        return self.context.orders.open(self.id)

    def order(self, client_order_id: str) -> Order | None:
        """Current snapshot of one order."""
        return self.context.orders.get(client_order_id)

    # ----------------------------------------------------------------- orders

    def buy(
        self,
        symbol: str,
        quantity: Decimal | int | str,
        *,
        limit_price: Price | None = None,
        stop_price: Price | None = None,
        time_in_force: TimeInForce = TimeInForce.DAY,
        outside_rth: bool = False,
    ) -> str:
        """Buy ``quantity``: market, or limit/stop/stop-limit by the prices given; returns the order id."""
        return self._orders.place(Side.BUY, symbol, quantity, limit_price, stop_price, time_in_force, outside_rth)

    def sell(
        self,
        symbol: str,
        quantity: Decimal | int | str,
        *,
        limit_price: Price | None = None,
        stop_price: Price | None = None,
        time_in_force: TimeInForce = TimeInForce.DAY,
        outside_rth: bool = False,
    ) -> str:
        """Sell ``quantity``: market, or limit/stop/stop-limit by the prices given; returns the order id."""
        return self._orders.place(Side.SELL, symbol, quantity, limit_price, stop_price, time_in_force, outside_rth)

    def submit(self, side: Side, symbol: str, quantity: Decimal | int | str, **ticket: Any) -> str:
        """Submit any order; ``ticket`` takes OrderRequest fields (``order_type``, ``trail_percent``, ...)."""
        return self._orders.submit(side, symbol, quantity, **ticket)

    def trailing_stop(
        self,
        side: Side,
        symbol: str,
        quantity: Decimal | int | str,
        *,
        trail_amount: Price | None = None,
        trail_percent: Price | None = None,
        time_in_force: TimeInForce = TimeInForce.GTC,
    ) -> str:
        """Submit a trailing stop trailing by an amount or a percent; returns the order id."""
        return self._orders.submit(
            side,
            symbol,
            quantity,
            order_type=OrderType.TRAILING_STOP,
            trail_amount=trail_amount,
            trail_percent=trail_percent,
            time_in_force=time_in_force,
        )

    def bracket(
        self,
        side: Side,
        symbol: str,
        quantity: Decimal | int | str,
        *,
        take_profit: Price,
        stop_loss: Price,
        entry_limit: Price | None = None,
        time_in_force: TimeInForce = TimeInForce.GTC,
    ) -> tuple[str, str, str]:
        """Enter with a market (or limit) order and attach an OCA take-profit and stop-loss.

        Returns:
            The client order ids of (entry, take profit, stop loss).
        """
        return self._orders.bracket(
            side,
            symbol,
            quantity,
            take_profit=take_profit,
            stop_loss=stop_loss,
            entry_limit=entry_limit,
            time_in_force=time_in_force,
        )

    def modify(
        self,
        client_order_id: str,
        *,
        quantity: Decimal | int | str | None = None,
        limit_price: Price | None = None,
        stop_price: Price | None = None,
    ) -> None:
        """Change a working order's quantity or prices (sends a full replacement ticket)."""
        self._orders.modify(client_order_id, quantity=quantity, limit_price=limit_price, stop_price=stop_price)

    def cancel(self, client_order_id: str) -> None:
        """Cancel one working order."""
        self.context.cancel(client_order_id)

    def cancel_all(self) -> None:
        """Cancel every working order of this strategy."""
        for order in self.open_orders():
            self.context.cancel(order.client_order_id)

    def close_position(self, symbol: str) -> str | None:
        """Send a market order that flattens the position in ``symbol``; None if already flat."""
        quantity = self.context.portfolio.quantity(symbol)
        if quantity == 0:
            return None
        side = Side.SELL if quantity > 0 else Side.BUY
        return self._orders.place(side, symbol, abs(quantity), None, None, TimeInForce.DAY, False)

    def request_stop(self) -> None:
        """Ask the engine to end the run after this event.

        A live or paper run returns; a backtest replays to the end of its data regardless.
        """
        self.context.request_stop()

    # ----------------------------------------------------------------- timers

    def every(self, interval: timedelta, name: str, *, start: datetime | None = None) -> None:
        """Fire ``on_timer`` every ``interval`` (first at ``start``, default one interval from now)."""
        first = start if start is not None else self.now + interval
        self.context.schedule_timer(name, first, interval)

    def at(self, when: datetime, name: str) -> None:
        """Fire ``on_timer`` once at ``when``."""
        self.context.schedule_timer(name, when)

    def cancel_timer(self, name: str) -> bool:
        """Cancel a timer; returns whether it was pending."""
        return self.context.cancel_timer(name)
