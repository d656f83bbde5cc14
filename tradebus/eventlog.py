"""Log lines a person can follow: one per order event and per connection change.

:class:`EventLog` listens on the bus and writes through the standard :mod:`logging` module, so what
is shown is a matter of log level (the CLI's ``-v``), independent of the terminal live view
(:mod:`tradebus.console`) and of ``--quiet``:

========================================================= =======
event                                                     level
========================================================= =======
OrderSubmitted, OrderAccepted, OrderUpdated,              INFO
OrderPartiallyFilled, OrderFilled (quantity @ price),
OrderPendingCancel, OrderCancelled, OrderExpired
BrokerConnected, BrokerDegraded, BrokerDisconnected       INFO
OrderRejected, OrderDenied, OrderCancelRejected (reason)  WARNING
DataStale, DataGap                                        WARNING
HaltRequested                                             ERROR
========================================================= =======

Errors are not logged here: a handler's error has one record, with its traceback, from the bus
(:mod:`framework.bus`) or, for a strategy's hook, from the supervisor (:mod:`framework.supervision`).

Free text from brokers (reasons, errors) passes :func:`redact` first, and :class:`RedactSecrets`
does the same for every record of a handler it is added to (message, traceback and stack): session
cookies, tokens and passwords never reach a log, and account ids appear masked (``DU****567``). Both
live in :mod:`framework.redaction` and are re-exported here.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from framework.events import ORDER_EVENTS
from framework.events import BrokerConnected
from framework.events import BrokerDegraded
from framework.events import BrokerDisconnected
from framework.events import DataGap
from framework.events import DataStale
from framework.events import HaltRequested
from framework.events import OrderAccepted
from framework.events import OrderCancelled
from framework.events import OrderCancelRejected
from framework.events import OrderDenied
from framework.events import OrderEvent
from framework.events import OrderExpired
from framework.events import OrderFilled
from framework.events import OrderPartiallyFilled
from framework.events import OrderPendingCancel
from framework.events import OrderRejected
from framework.events import OrderSubmitted
from framework.events import OrderUpdated
from framework.models import OrderType
from framework.models import Side
from framework.redaction import RedactSecrets
from framework.redaction import redact

if TYPE_CHECKING:
    from framework.bus import Subscription
    from framework.engine import Engine
    from framework.models import OrderRequest

log = logging.getLogger(__name__)

__all__ = ["WARNING_EVENTS", "EventLog", "RedactSecrets", "describe_order_event", "redact"]

WARNING_EVENTS: tuple[type[OrderEvent], ...] = (OrderRejected, OrderDenied, OrderCancelRejected)
"""Order events logged as warnings: the order did not do what its strategy asked."""


class EventLog:
    """Logs order events, connection changes, stale or missing data and halts brokers ask for.

    Args:
        logger: Where the lines go (default: this module's logger).

    Events:
        Listens to every order event, BrokerConnected / BrokerDegraded / BrokerDisconnected,
        DataStale, DataGap and HaltRequested, from every sender. It runs on the dispatcher thread
        like any handler and only formats and logs.
    """

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or log
        self._subs: list[Subscription] = []

    def attach(self, engine: Engine) -> EventLog:
        """Start logging ``engine``'s events; returns itself."""
        bus = engine.bus
        self._subs += [bus.subscribe(t, self._on_order) for t in ORDER_EVENTS]
        self._subs += [
            bus.subscribe(BrokerConnected, self._on_connection),
            bus.subscribe(BrokerDegraded, self._on_connection),
            bus.subscribe(BrokerDisconnected, self._on_connection),
            bus.subscribe(DataStale, self._on_stale),
            bus.subscribe(DataGap, self._on_gap),
            bus.subscribe(HaltRequested, self._on_halt),
        ]
        return self

    def close(self) -> None:
        """Stop logging."""
        for sub in self._subs:
            sub.cancel()
        self._subs.clear()

    def _on_order(self, event: OrderEvent) -> None:
        level = logging.WARNING if isinstance(event, WARNING_EVENTS) else logging.INFO
        self.logger.log(level, "%s", describe_order_event(event))

    def _on_connection(self, event: BrokerConnected | BrokerDegraded | BrokerDisconnected) -> None:
        state = type(event).__name__.removeprefix("Broker").lower()
        reason = redact(event.reason) if not isinstance(event, BrokerConnected) and event.reason else ""
        self.logger.info("broker %s %s%s", event.broker, state, f": {reason}" if reason else "")

    def _on_stale(self, event: DataStale) -> None:
        since = event.last_update.isoformat() if event.last_update is not None else "the start"
        self.logger.warning("no market data for %s since %s", event.symbol, since)

    def _on_gap(self, event: DataGap) -> None:
        self.logger.warning("market data for %s may be missing from %s to %s (the stream was interrupted)",
                            event.symbol, event.start.isoformat(), event.end.isoformat())

    def _on_halt(self, event: HaltRequested) -> None:
        self.logger.error("trading halted at the request of %s: %s", event.source, redact(event.reason))


def describe_order_event(event: OrderEvent) -> str:
    """One line for an order event: ``order <id> filled: bought 100 AAPL @ 189.60``."""
    head = f"order {event.client_order_id}"
    if isinstance(event, OrderSubmitted):
        return f"{head} submitted: {ticket(event.order.request)} (strategy {event.order.request.strategy_id})"
    if isinstance(event, OrderUpdated):
        return f"{head} modified: {ticket(event.request)}"
    if isinstance(event, OrderFilled | OrderPartiallyFilled):
        fill = event.fill
        verb = "bought" if fill.side is Side.BUY else "sold"
        state = "filled" if isinstance(event, OrderFilled) else "partially filled"
        commission = f" (commission {fill.commission})" if fill.commission else ""
        return f"{head} {state}: {verb} {fill.quantity} {fill.symbol} @ {fill.price}{commission}"
    if isinstance(event, OrderAccepted):
        return f"{head} accepted (broker id {event.broker_order_id})"
    if isinstance(event, OrderRejected | OrderDenied | OrderCancelled | OrderCancelRejected):
        reason = f": {redact(event.reason)}" if event.reason else ""
        return f"{head} {_STATES[type(event)]}{reason}"
    return f"{head} {_STATES.get(type(event), type(event).__name__)}"


_STATES: dict[type[OrderEvent], str] = {
    OrderRejected: "rejected",
    OrderDenied: "denied",
    OrderCancelled: "cancelled",
    OrderCancelRejected: "cancel/modify rejected",
    OrderPendingCancel: "cancel requested",
    OrderExpired: "expired",
}


def ticket(request: OrderRequest) -> str:
    """An order's side, quantity, symbol and terms: ``sell 10 AAPL stop @ 185.78`` (see :func:`order_terms`)."""
    return f"{request.side.value} {request.quantity} {request.symbol} {order_terms(request)}"


def order_terms(request: OrderRequest) -> str:
    """How an order is priced, each price named once.

    ``market``, ``limit @ 189.5``, ``stop @ 185.78``, ``stop 185.78 limit 185.5``, or
    ``trailing stop 1.5 from 185.78`` (``1%`` for a trail in percent).
    """
    kind, limit, stop = request.order_type, request.limit_price, request.stop_price
    if kind is OrderType.LIMIT:
        return f"limit @ {limit}"
    if kind is OrderType.STOP:
        return f"stop @ {stop}"
    if kind is OrderType.STOP_LIMIT:
        return f"stop {stop} limit {limit}"
    if kind is OrderType.TRAILING_STOP:
        trail = f"{request.trail_percent}%" if request.trail_percent is not None else f"{request.trail_amount}"
        return f"trailing stop {trail}" + (f" from {stop}" if stop is not None else "")
    return kind.value
