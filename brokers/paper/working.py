"""The paper venue's record of a working order, and what the market may do to it.

:class:`Working` is the venue's mutable state for one order (when it starts working, when it
expires, what has filled, the trigger state of a stop or trail); :func:`may_trade` says whether a
bar or quote may trade it under its exchange's trading hours; :func:`snapshot` turns it into the
framework's immutable :class:`~framework.models.Order`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from decimal import Decimal

from brokers.paper.fill_model import NO_TRIGGER
from brokers.paper.fill_model import Trigger
from framework.events import OrderCancelled
from framework.marketdata import Bar
from framework.marketdata import Quote
from framework.models import Order
from framework.models import OrderRequest
from framework.models import OrderStatus
from framework.trading_hours import TradingHours
from framework.trading_hours import trades_outside_rth

ZERO = Decimal(0)
WHOLE_SESSIONS = timedelta(days=1)  # bars at least this long summarise whole sessions: not checked


@dataclass(slots=True)
class Working:
    """One order the venue works: its request, its venue id, its timing and what has filled.

    Attributes:
        request: The order as the strategy asked for it.
        broker_order_id: The venue's id.
        active_at: When it starts meeting market data (arrival plus latency).
        expires_at: The end of its day for a ``DAY`` order, else None.
        hours: Its exchange's trading hours.
        accepted: Whether ``OrderAccepted`` was emitted.
        filled: Quantity filled so far.
        value: Sum of fill price times quantity, for the average price.
        trigger: The stop or trail state (an immutable tuple; one shared start state).
    """

    request: OrderRequest
    broker_order_id: str
    active_at: datetime
    expires_at: datetime | None
    hours: TradingHours
    accepted: bool = False
    filled: Decimal = ZERO
    value: Decimal = ZERO
    trigger: Trigger = NO_TRIGGER


def may_trade(order: Working, payload: Bar | Quote, *, gate: bool) -> bool:
    """Whether ``payload`` may trade ``order``: inside the sessions it allows (when ``gate``), never frozen.

    An intraday bar trades it when its interval reaches into those sessions; a bar of a day or
    longer always may; a frozen quote (a closed market's last values) never does.
    """
    request = order.request
    if isinstance(payload, Bar):
        if not gate or payload.duration >= WHOLE_SESSIONS:
            return True
        extended = trades_outside_rth(request.outside_rth, request.order_type)
        return order.hours.overlaps(payload.start, payload.start + payload.duration, extended)
    if payload.frozen:
        return False
    if not gate:
        return True
    return order.hours.is_open(payload.ts, trades_outside_rth(request.outside_rth, request.order_type))


def cancelled(ts: datetime, client_order_id: str, reason: str) -> OrderCancelled:
    """The venue's ``OrderCancelled`` for ``client_order_id`` at ``ts``."""
    return OrderCancelled(ts=ts, client_order_id=client_order_id, reason=reason)


def snapshot(order: Working, now: datetime) -> Order:
    """The framework's view of a working order at ``now``."""
    status = OrderStatus.SUBMITTED
    if order.accepted:
        status = OrderStatus.PARTIALLY_FILLED if order.filled else OrderStatus.ACCEPTED
    return Order(
        request=order.request,
        status=status,
        broker_order_id=order.broker_order_id,
        filled_quantity=order.filled,
        average_fill_price=order.value / order.filled if order.filled else None,
        updated=now,
    )
