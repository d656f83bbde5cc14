"""When, at what price and for how much a working order fills: pure functions, no I/O, no clock.

The broker calls :func:`match_bar` or :func:`match_quote` for each working order of the symbol a new
bar or quote is about, and keeps the returned :class:`Trigger` for the next call.

Conventions (conservative; the broker guarantees the first one):

* **Never on the creating bar.** An order only meets bars that *start* at or after it reached the
  venue (submission time plus latency), and quotes stamped at or after that time. A bar-driven
  market order therefore fills at the **next bar's open**; a quote-driven one at the **opposite side
  of the next quote** (ask for a buy, bid for a sell).
* **Bars, limit orders:** fill if the bar trades at or through the limit (``low <= limit`` for a buy,
  ``high >= limit`` for a sell), at the open when the bar opens through the limit, else at the limit.
* **Bars, stop orders:** trigger if the bar reaches the stop (``high >= stop`` for a buy, ``low <=
  stop`` for a sell) and fill at the open when it gaps through the stop, else at the stop.
* **Bars, stop-limit:** the stop triggers as above; the limit then applies to the same bar only if
  the stop triggered at the open or the limit is at least as good as the stop (then it fills at the
  stop, or the open); otherwise, since the order of high and low within a bar is unknown, it waits
  for the next bar as a limit order.
* **Bars, trailing stop:** the stop is checked against the level set by *earlier* bars, then the bar's
  extreme moves it for the next one (a bar's high and low may come in either order; this reading
  never fills better than reality could). The first bar seeds the extreme with its open. Levels are
  worked out in decimal from the prices as printed, so a price exactly at the level triggers.
* **Quotes:** buys trade at the ask and test triggers against it, sells at the bid. A limit buy fills
  when ``ask <= limit`` at the ask; a stop buy when ``ask >= stop``; trailing stops follow the side
  price.
* **Partial fills** (``volume_share``): at most that share of the bar's volume (or of the quote's size
  on the order's side) fills per bar/quote, rounded down to the lot size; the rest stays working.

Matches made at market (market, stop, trailing stop) are ``taker`` fills, to which slippage
applies; limit-priced fills are never worse than their limit and get no slippage.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple

from framework.marketdata import Bar
from framework.marketdata import Quote
from framework.models import OrderRequest
from framework.models import OrderType
from framework.models import Side
from framework.models import to_decimal


class FillModel(StrEnum):
    """Which market data fills orders."""

    BAR = "bar"
    QUOTE = "quote"


class Trigger(NamedTuple):
    """What an order remembers between matches.

    Attributes:
        triggered: A stop-limit's stop has been hit (it now works as a limit order).
        extreme: Trailing stops: the best price seen since the order started working.
        stop: Trailing stops: the current stop level.
    """

    triggered: bool = False
    extreme: float | None = None
    stop: float | None = None


NO_TRIGGER = Trigger()
"""An order's state before its first match (shared: the tuple is immutable)."""


class Match(NamedTuple):
    """A fill decided by the model, before costs.

    Attributes:
        price: Execution price before slippage (not yet rounded to the tick).
        quantity: Quantity to execute now.
        taker: Executed at market (slippage applies).
    """

    price: Decimal
    quantity: Decimal
    taker: bool


class Outcome(NamedTuple):
    """Result of matching one order against one bar or quote."""

    trigger: Trigger
    match: Match | None


def _price(value: float | Decimal) -> Decimal:
    # market data was checked finite and positive where it entered: repr gives the printed price
    return value if isinstance(value, Decimal) else Decimal(repr(value))


def capped_quantity(request: OrderRequest, remaining: Decimal, available: float | None, share: float | None) -> Decimal:
    """Quantity that may fill now: ``remaining``, or at most ``share`` of ``available`` rounded down to the lot."""
    if share is None or available is None:
        return remaining
    lot = request.instrument.lot_size
    cap = (Decimal(repr(available * share)) / lot).to_integral_value(rounding=ROUND_FLOOR) * lot
    return min(remaining, cap)


# ----------------------------------------------------------------------------- bars


def _bar_limit(side: Side, limit: Decimal, bar: Bar) -> Decimal | None:
    lim = float(limit)
    if side is Side.BUY:
        if bar.open <= lim:
            return _price(bar.open)
        return limit if bar.low <= lim else None
    if bar.open >= lim:
        return _price(bar.open)
    return limit if bar.high >= lim else None


def _bar_stop(side: Side, stop: float, bar: Bar) -> Decimal | None:
    if side is Side.BUY:
        if bar.open >= stop:
            return _price(bar.open)
        return _price(stop) if bar.high >= stop else None
    if bar.open <= stop:
        return _price(bar.open)
    return _price(stop) if bar.low <= stop else None


def _bar_stop_limit(request: OrderRequest, trigger: Trigger, bar: Bar) -> tuple[Trigger, Decimal | None]:
    assert request.stop_price is not None and request.limit_price is not None  # noqa: PT018 - validated ticket
    limit = request.limit_price
    if trigger.triggered:
        return trigger, _bar_limit(request.side, limit, bar)
    hit = _bar_stop(request.side, float(request.stop_price), bar)
    if hit is None:
        return trigger, None
    fired = trigger._replace(triggered=True)
    at_open = hit == _price(bar.open)
    better = limit >= hit if request.side is Side.BUY else limit <= hit
    if better:
        return fired, hit
    if at_open:
        return fired, _bar_limit(request.side, limit, bar)
    return fired, None


def trail_level(request: OrderRequest, extreme: float, previous: float | None) -> float:
    """The trailing stop level for ``extreme``, never loosened from ``previous`` (nor the initial stop)."""
    # Decimal, as at the venue: in floats 15.96 + 0.10 is 16.060000000000002, and an ask of exactly
    # 16.06 would not trigger. float() of the exact level is the float a price at that level arrives as.
    base = to_decimal(extreme)
    if request.trail_amount is not None:
        distance = request.trail_amount
    else:
        assert request.trail_percent is not None  # validated ticket: one of the two is set
        distance = base * request.trail_percent / 100
    level = float(base + distance if request.side is Side.BUY else base - distance)
    bounds = [x for x in (previous, float(request.stop_price) if request.stop_price else None) if x is not None]
    if not bounds:
        return level
    return min(level, *bounds) if request.side is Side.BUY else max(level, *bounds)


def _bar_trailing(request: OrderRequest, trigger: Trigger, bar: Bar) -> tuple[Trigger, Decimal | None]:
    buy = request.side is Side.BUY
    extreme = trigger.extreme if trigger.extreme is not None else bar.open
    stop = trigger.stop if trigger.stop is not None else trail_level(request, extreme, None)
    hit = _bar_stop(request.side, stop, bar)
    # the bar's favourable extreme moves the stop for the next bar only
    extreme = min(extreme, bar.low) if buy else max(extreme, bar.high)
    return Trigger(extreme=extreme, stop=trail_level(request, extreme, stop)), hit


def match_bar(request: OrderRequest, remaining: Decimal, trigger: Trigger, bar: Bar, share: float | None) -> Outcome:
    """Match a working order against a bar that started after the order reached the venue.

    Args:
        request: The order ticket.
        remaining: Quantity still to fill.
        trigger: State from earlier matches (``Trigger()`` at first).
        bar: The new bar of the order's symbol.
        share: Largest share of the bar's volume one order may take, or None for no limit.
    """
    kind = request.order_type
    taker = kind in (OrderType.MARKET, OrderType.STOP, OrderType.TRAILING_STOP)
    price: Decimal | None
    if kind is OrderType.MARKET:
        price = _price(bar.open)
    elif kind is OrderType.LIMIT:
        assert request.limit_price is not None
        price = _bar_limit(request.side, request.limit_price, bar)
    elif kind is OrderType.STOP:
        assert request.stop_price is not None
        price = _bar_stop(request.side, float(request.stop_price), bar)
    elif kind is OrderType.STOP_LIMIT:
        trigger, price = _bar_stop_limit(request, trigger, bar)
    else:
        trigger, price = _bar_trailing(request, trigger, bar)
    return _outcome(request, remaining, trigger, price, taker=taker, available=bar.volume, share=share)


def _outcome(
    request: OrderRequest,
    remaining: Decimal,
    trigger: Trigger,
    price: Decimal | None,
    *,
    taker: bool,
    available: float | None,
    share: float | None,
) -> Outcome:
    if price is None:
        return Outcome(trigger, None)
    quantity = capped_quantity(request, remaining, available, share)
    if quantity <= 0:
        return Outcome(trigger, None)
    return Outcome(trigger, Match(price, quantity, taker))


# ----------------------------------------------------------------------------- quotes


def _quote_side(side: Side, quote: Quote) -> tuple[float | None, float | None]:
    # (price we trade at, size shown there)
    return (quote.ask, quote.ask_size) if side is Side.BUY else (quote.bid, quote.bid_size)


def _quote_trailing(request: OrderRequest, trigger: Trigger, px: float) -> tuple[Trigger, bool]:
    buy = request.side is Side.BUY
    extreme = px if trigger.extreme is None else (min(trigger.extreme, px) if buy else max(trigger.extreme, px))
    stop = trail_level(request, extreme, trigger.stop)
    hit = px >= stop if buy else px <= stop
    return Trigger(extreme=extreme, stop=stop), hit


def _quote_price(request: OrderRequest, trigger: Trigger, px: float) -> tuple[Trigger, bool]:
    # whether an order trading at ``px`` executes on this quote
    buy = request.side is Side.BUY
    kind = request.order_type
    if kind is OrderType.TRAILING_STOP:
        return _quote_trailing(request, trigger, px)
    if kind in (OrderType.STOP, OrderType.STOP_LIMIT) and not trigger.triggered:
        assert request.stop_price is not None
        stop = float(request.stop_price)
        if not (px >= stop if buy else px <= stop):
            return trigger, False
        trigger = trigger._replace(triggered=True)
    if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        assert request.limit_price is not None
        limit = float(request.limit_price)
        return trigger, (px <= limit if buy else px >= limit)
    return trigger, True


def match_quote(
    request: OrderRequest, remaining: Decimal, trigger: Trigger, quote: Quote, share: float | None
) -> Outcome:
    """Match a working order against a quote stamped after the order reached the venue.

    Args:
        request: The order ticket.
        remaining: Quantity still to fill.
        trigger: State from earlier matches (``Trigger()`` at first).
        quote: The new quote of the order's symbol.
        share: Largest share of the displayed size one order may take, or None for no limit.
    """
    px, size = _quote_side(request.side, quote)
    if px is None:
        return Outcome(trigger, None)
    trigger, executes = _quote_price(request, trigger, px)
    if not executes:
        return Outcome(trigger, None)
    taker = request.order_type in (OrderType.MARKET, OrderType.STOP, OrderType.TRAILING_STOP)
    return _outcome(request, remaining, trigger, _price(px), taker=taker, available=size, share=share)
