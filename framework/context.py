"""What a strategy holds instead of the engine: a small, narrow context.

A :class:`StrategyContext` gives one strategy the clock, read-only views of the portfolio and of
its orders, the order commands (through the order gateway's checks), market-data subscriptions,
timers on the engine clock, its own logger, and a way to ask the run to end. It cannot reach the
broker, the journal, other strategies' orders by mutation, or the engine's internals; the engine
builds one per strategy in :meth:`~framework.engine.Engine.add_strategy`.

Every method runs on the dispatcher thread (strategy hooks) or during start-up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from datetime import timedelta
from typing import Any
from typing import TypeVar

from framework.bus import ANY
from framework.bus import EventBus
from framework.bus import Subscription
from framework.clock import Clock
from framework.models import Instrument
from framework.models import Order
from framework.models import OrderRequest
from framework.order_gateway import OrderGateway
from framework.orders import OrderView
from framework.portfolio import PortfolioView
from framework.subscriptions import Subscriptions
from framework.timers import Timers

E = TypeVar("E")


class StrategyContext:
    """One strategy's window on the run.

    Args:
        strategy_id: The strategy's id (timers and order events are routed by it).
        clock: The engine clock.
        portfolio: Positions and cash (read-only).
        orders: Every order of the run (read-only).
        gateway: Where order commands go.
        subscriptions: Instruments and market data.
        timers: Timers on the engine clock.
        bus: Where the strategy's hooks subscribe.
        stop: Asks the run to end.
    """

    def __init__(self, strategy_id: str, *, clock: Clock, portfolio: PortfolioView, orders: OrderView,
                 gateway: OrderGateway, subscriptions: Subscriptions, timers: Timers, bus: EventBus,
                 stop: Callable[[], None]) -> None:
        self.strategy_id = strategy_id
        self.clock = clock
        self.portfolio = portfolio
        self.orders = orders
        self.log = logging.getLogger(f"tradebus.strategy.{strategy_id}")
        self._gateway = gateway
        self._subscriptions = subscriptions
        self._timers = timers
        self._bus = bus
        self._stop = stop

    def now(self) -> datetime:
        """The engine clock's current time."""
        return self.clock.now()

    # ----------------------------------------------------------------- events

    def subscribe(self, event_type: type[E], handler: Callable[[E], None], sender: Any = ANY, *,
                  hook: str | None = None) -> Subscription:
        """Call ``handler`` for every ``event_type`` published with ``sender``.

        The handler belongs to this strategy: if it raises, the strategy's error policy applies
        (see :mod:`framework.supervision`), and the failure names ``hook`` (default: the
        handler's name).
        """
        return self._bus.subscribe(event_type, handler, sender=sender, owner=self.strategy_id, hook=hook)

    # ----------------------------------------------------------------- instruments and data

    def instrument(self, symbol: str) -> Instrument:
        """The instrument for ``symbol`` (see :meth:`Subscriptions.instrument`: look symbols up in ``on_start``)."""
        return self._subscriptions.instrument(symbol)

    def subscribe_quotes(self, symbol: str) -> None:
        """Ask for quotes of ``symbol``."""
        self._subscriptions.subscribe_quotes(symbol)

    def bar_size(self, symbol: str, duration: timedelta | None) -> timedelta:
        """The size of ``symbol`` bars a subscription for ``duration`` gets (None: the data's own size).

        Sizes coarser than the data's are built from its bars, aligned to the exchange's sessions
        (:mod:`framework.resample`); each ``Bar`` carries its duration.

        Raises:
            SubscriptionError: If no data can give such bars (names this strategy).
        """
        return self._subscriptions.bar_size(symbol, duration, self.strategy_id)

    def subscribe_bars(self, symbol: str, duration: timedelta) -> None:
        """Ask for bars of ``symbol`` of ``duration`` (coarser than the data's: built from them).

        Raises:
            SubscriptionError: If no data can give such bars (names this strategy).
        """
        self._subscriptions.subscribe_bars(symbol, duration, self.strategy_id)

    # ----------------------------------------------------------------- orders

    def next_client_order_id(self) -> str:
        """A new client order id, unique across runs."""
        return self._gateway.next_client_order_id()

    def submit(self, request: OrderRequest) -> Order:
        """Check and send a new order; its events follow."""
        return self._gateway.submit(request)

    def modify(self, request: OrderRequest) -> None:
        """Check and send a replacement ticket for a working order."""
        self._gateway.modify(request)

    def cancel(self, client_order_id: str) -> None:
        """Ask to cancel a working order."""
        self._gateway.cancel(client_order_id)

    # ----------------------------------------------------------------- timers and the run

    def schedule_timer(self, name: str, due: datetime, interval: timedelta | None = None) -> None:
        """Fire ``TimerFired(name)`` to this strategy at ``due`` (and every ``interval`` after)."""
        self._timers.schedule(self.strategy_id, name, due, interval)

    def cancel_timer(self, name: str) -> bool:
        """Cancel one of this strategy's timers; return whether it was pending."""
        return self._timers.cancel(self.strategy_id, name)

    def cancel_timers(self) -> None:
        """Cancel every timer of this strategy."""
        self._timers.cancel_owner(self.strategy_id)

    def request_stop(self) -> None:
        """Ask the run to end after the current event."""
        self._stop()
