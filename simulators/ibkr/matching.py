"""Pure fill rules: when and at what price a working order fills against a quote.

* ``MKT`` buys at the ask and sells at the bid.
* ``LMT`` fills when marketable (ask <= limit for a buy, bid >= limit for a sell), at the touch.
* ``STP`` / ``STOP_LIMIT`` are elected when the last price reaches the stop, then behave as
  ``MKT`` / ``LMT``.
* ``TRAIL`` / ``TRAILLMT`` move their stop with the last price by the trail offset (amount or %),
  then behave like ``STP`` / ``STOP_LIMIT`` (the limit of ``TRAILLMT`` is the stop price).
* ``MIDPRICE`` fills at the midpoint, capped by ``price`` when given.
"""

from __future__ import annotations

from decimal import Decimal

from simulators.ibkr.market import TICK
from simulators.ibkr.market import Quote
from simulators.ibkr.orders import Order

_HUNDRED = Decimal(100)


def trail_offset(order: Order, reference: Decimal) -> Decimal:
    """Return the trail distance of a trailing order at ``reference`` price."""
    amount = order.ticket.trailing_amount or Decimal(0)
    if order.ticket.trailing_percent:
        return (reference * amount / _HUNDRED).quantize(TICK)
    return amount


def update_trail(order: Order, quote: Quote) -> bool:
    """Ratchet the stop of a trailing order towards the market; return whether it moved."""
    if order.ticket.order_type not in ("TRAIL", "TRAILLMT") or order.triggered:
        return False
    offset = trail_offset(order, quote.last)
    if order.ticket.side == "SELL":
        candidate = quote.last - offset
        better = order.stop_price is None or candidate > order.stop_price
    else:
        candidate = quote.last + offset
        better = order.stop_price is None or candidate < order.stop_price
    if better:
        order.stop_price = candidate
    return better


def initial_stop(order: Order, quote: Quote) -> Decimal | None:
    """Return the stop price an order starts with (``None`` for non-stop types)."""
    if order.ticket.order_type in ("TRAIL", "TRAILLMT"):
        offset = trail_offset(order, quote.last)
        return quote.last - offset if order.ticket.side == "SELL" else quote.last + offset
    return order.ticket.stop_trigger


def is_elected(order: Order, quote: Quote) -> bool:
    """Whether a stop-type order's trigger has been reached by the last price."""
    if order.stop_price is None:
        return True
    if order.ticket.side == "BUY":
        return quote.last >= order.stop_price
    return quote.last <= order.stop_price


def _limit(order: Order) -> Decimal | None:
    kind = order.ticket.order_type
    if kind in ("LMT", "STOP_LIMIT"):
        return order.ticket.price
    if kind == "TRAILLMT":
        return order.stop_price
    return None


def fill_price(order: Order, quote: Quote) -> Decimal | None:
    """Return the price the order would fill at now, or ``None`` if it would not fill."""
    if quote.halted:
        return None
    kind = order.ticket.order_type
    if kind == "MIDPRICE":
        mid = quote.mid.quantize(TICK)
        cap = order.ticket.price
        if cap is None:
            return mid
        return mid if (mid <= cap if order.ticket.side == "BUY" else mid >= cap) else None
    touch = quote.ask if order.ticket.side == "BUY" else quote.bid
    limit = _limit(order)
    if limit is None:
        return touch
    marketable = touch <= limit if order.ticket.side == "BUY" else touch >= limit
    return touch if marketable else None


def fill_size(order: Order, quote: Quote, partial: bool) -> Decimal:
    """Return how many shares fill now: everything, or the displayed size at the touch."""
    if not partial:
        return order.remaining
    shown = quote.ask_size if order.ticket.side == "BUY" else quote.bid_size
    return min(order.remaining, Decimal(max(shown, 1)))


def is_marketable(order: Order, quote: Quote) -> bool:
    """Whether the order would fill immediately on arrival (used for the ``o403`` question)."""
    if order.ticket.order_type not in ("LMT", "STP", "STOP_LIMIT"):
        return False
    return is_elected(order, quote) and fill_price(order, quote) is not None
