"""Market-data field codes rendered the way the gateway sends them.

Values are strings with IBKR's decorations: ``31`` carries a ``C`` prefix before the first trade of
the day and ``H`` when halted, ``85``/``88`` are round lots with thousands separators, ``87`` is the
abbreviated volume and ``7762`` the exact one (spec section 5.2).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from simulators.ibkr.instruments import Instrument
from simulators.ibkr.market import Quote

PRICE_FIELDS = frozenset({"31", "84", "86", "7635"})
DEFAULT_FIELDS = ("31", "84", "85", "86", "88", "7059")


def price(value: Decimal) -> str:
    """Format a price with two decimals."""
    return f"{value:.2f}"


def abbreviated(volume: int) -> str:
    """Format a volume like field 87 (``860K``, ``12.5M``)."""
    for limit, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "K")):
        if volume >= limit:
            text = f"{volume / limit:.1f}".removesuffix(".0")
            return f"{text}{suffix}"
    return str(volume)


def size(shares: int, in_lots: bool) -> str:
    """Format a bid/ask size (round lots of 100 for US stocks) with thousands separators."""
    value = shares // 100 if in_lots else shares
    return f"{value:,}"


def signed(value: Decimal) -> str:
    """Format a change with an explicit sign (``+1.25``, ``-0.52``)."""
    return f"{value:+.2f}"


def _last(quote: Quote) -> str:
    if quote.halted:
        return "H" + price(quote.last)
    if not quote.traded:
        return "C" + price(quote.prior_close)
    return price(quote.last)


def _mark(quote: Quote) -> Decimal:
    if quote.ask < quote.last:
        return quote.ask
    if quote.bid > quote.last:
        return quote.bid
    return quote.last


def render(quote: Quote, inst: Instrument, in_lots: bool, availability: str) -> dict[str, Any]:
    """Return every supported field code of one quote as the gateway renders it."""
    change = quote.last - quote.prior_close
    pct = change / quote.prior_close * 100 if quote.prior_close else Decimal(0)
    return {
        "31": _last(quote),
        "55": inst.symbol,
        "70": price(quote.high),
        "71": price(quote.low),
        "82": signed(change),
        "83": signed(pct),
        "84": price(quote.bid),
        "85": size(quote.ask_size, in_lots),
        "86": price(quote.ask),
        "87": abbreviated(quote.volume),
        "88": size(quote.bid_size, in_lots),
        "6004": inst.exchange,
        "6008": inst.conid,
        "6070": "STK",
        "6509": availability,
        "7051": inst.name,
        "7059": str(quote.last_size),
        "7184": "1",
        "7219": inst.symbol,
        "7221": inst.listing_exchange,
        "7295": price(quote.open),
        "7635": price(_mark(quote)),
        "7682": signed(quote.last - quote.open),
        "7741": price(quote.prior_close),
        "7762": str(quote.volume),
        "7768": "1",
    }


def select(rendered: dict[str, Any], fields: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Return the requested subset of rendered fields (unknown codes are left out, as IBKR does)."""
    return {code: rendered[code] for code in fields if code in rendered}
