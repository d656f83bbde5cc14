"""Which ticket IBKR holds: how an ambiguous modification is settled from a full order row.

A modification whose answer was lost (a timeout, a reset connection) may or may not have reached
IBKR. The adapter keeps it as *pending* and compares the next full live-orders row of the order
(quantity, ``price``, ``auxPrice``) with both tickets: the row shows the new one (the modification
took effect), the old one (it did not), or neither (a trailing stop moved, a field missing), in which
case a later row decides.
"""

from __future__ import annotations

from decimal import Decimal
from enum import Enum

from brokers.ibkr.parsing import OrderUpdate
from framework.models import OrderRequest
from framework.models import OrderType


class Held(Enum):
    """The ticket an order row shows."""

    NEW = "new"
    OLD = "old"
    UNKNOWN = "unknown"


def wire_prices(request: OrderRequest) -> tuple[Decimal | None, Decimal | None]:
    """The ``price`` and ``auxPrice`` IBKR shows for a ticket (None: not compared)."""
    kind = request.order_type
    if kind is OrderType.LIMIT:
        return request.limit_price, None
    if kind is OrderType.STOP:
        return None, request.stop_price
    if kind is OrderType.STOP_LIMIT:
        return request.limit_price, request.stop_price
    return None, None  # market orders have no price; a trailing stop's trigger moves


def shows(update: OrderUpdate, request: OrderRequest) -> bool:
    """Whether a full order row shows ``request``'s quantity and prices."""
    if update.total_quantity is None or update.total_quantity != request.quantity:
        return False
    price, aux = wire_prices(request)
    return (price is None or update.price == price) and (aux is None or update.aux_price == aux)


def held_ticket(update: OrderUpdate, old: OrderRequest, new: OrderRequest) -> Held:
    """Which of two tickets a full order row shows (the new one when they look alike)."""
    if shows(update, new):
        return Held.NEW
    if shows(update, old):
        return Held.OLD
    return Held.UNKNOWN
