"""Each fill rule of the paper venue, one parametrized case per rule (pure functions, no engine)."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from brokers.paper.fill_model import Trigger
from brokers.paper.fill_model import capped_quantity
from brokers.paper.fill_model import match_bar
from brokers.paper.fill_model import match_quote
from framework.marketdata import Bar
from framework.marketdata import Quote
from framework.models import Instrument
from framework.models import OrderRequest
from framework.models import OrderType
from framework.models import Side

T0 = datetime(2024, 1, 2, 14, 31, tzinfo=UTC)
AAPL = Instrument(symbol="AAPL")


def order(side: Side, kind: OrderType = OrderType.MARKET, quantity: int = 100, **prices: Any) -> OrderRequest:
    ticket = {k: Decimal(str(v)) for k, v in prices.items()}
    return OrderRequest(
        client_order_id="c1", instrument=AAPL, side=side, quantity=Decimal(quantity), order_type=kind, **ticket
    )


def bar(o: float, h: float, low: float, c: float, volume: float = 10_000) -> Bar:
    return Bar("AAPL", T0, timedelta(minutes=1), o, h, low, c, volume)


def quote(bid: float | None, ask: float | None, bid_size: float | None = None, ask_size: float | None = None) -> Quote:
    return Quote("AAPL", T0, bid=bid, ask=ask, bid_size=bid_size, ask_size=ask_size)


BUY, SELL = Side.BUY, Side.SELL
LMT, STP, STL, TRL = OrderType.LIMIT, OrderType.STOP, OrderType.STOP_LIMIT, OrderType.TRAILING_STOP

BAR_CASES = [
    # (id, order, bar, expected price or None, expected taker)
    ("market-buy-at-open", order(BUY), bar(100, 101, 99, 100.5), "100", True),
    ("market-sell-at-open", order(SELL), bar(100, 101, 99, 100.5), "100", True),
    ("limit-buy-touched-fills-at-limit", order(BUY, LMT, limit_price=99.5), bar(100, 101, 99.5, 100), "99.5", False),
    ("limit-buy-not-reached", order(BUY, LMT, limit_price=99.5), bar(100, 101, 99.6, 100), None, False),
    ("limit-buy-gap-below-fills-at-open", order(BUY, LMT, limit_price=99.5), bar(98, 99, 97, 98.5), "98", False),
    ("limit-sell-touched-fills-at-limit", order(SELL, LMT, limit_price=101), bar(100, 101, 99, 100), "101", False),
    ("limit-sell-gap-above-fills-at-open", order(SELL, LMT, limit_price=101), bar(102, 103, 101.5, 102), "102", False),
    ("limit-sell-not-reached", order(SELL, LMT, limit_price=101), bar(100, 100.99, 99, 100), None, False),
    ("stop-buy-reached-fills-at-stop", order(BUY, STP, stop_price=101), bar(100, 101.5, 99, 101), "101", True),
    ("stop-buy-gap-fills-at-open", order(BUY, STP, stop_price=101), bar(102, 103, 101.5, 102), "102", True),
    ("stop-buy-not-reached", order(BUY, STP, stop_price=101), bar(100, 100.5, 99, 100), None, True),
    ("stop-sell-reached-fills-at-stop", order(SELL, STP, stop_price=99), bar(100, 101, 98.5, 99), "99", True),
    ("stop-sell-gap-fills-at-open", order(SELL, STP, stop_price=99), bar(98, 98.5, 97, 98), "98", True),
    ("stop-limit-buy-limit-above-stop-fills-at-stop",
     order(BUY, STL, stop_price=101, limit_price=101.5), bar(100, 102, 99, 101), "101", False),
    ("stop-limit-buy-limit-below-stop-waits",
     order(BUY, STL, stop_price=101, limit_price=100.5), bar(100, 102, 99, 101), None, False),
    ("stop-limit-buy-gap-through-limit-uses-bar-range",
     order(BUY, STL, stop_price=101, limit_price=101.5), bar(102, 103, 101.2, 102), "101.5", False),
    ("stop-limit-sell-triggered-fills-at-stop",
     order(SELL, STL, stop_price=99, limit_price=98.5), bar(100, 100, 98, 98.5), "99", False),
    ("trailing-sell-first-bar-seeds-at-open",
     order(SELL, TRL, trail_amount=1), bar(100, 100.5, 98.8, 99), "99", True),
    ("trailing-sell-not-reached", order(SELL, TRL, trail_amount=1), bar(100, 100.5, 99.2, 99.5), None, True),
    ("trailing-buy-first-bar-seeds-at-open",
     order(BUY, TRL, trail_percent=1), bar(100, 101.5, 99.9, 101), "101", True),
]  # fmt: skip


@pytest.mark.parametrize(
    ("request_", "bar_", "price", "taker"), [c[1:] for c in BAR_CASES], ids=[c[0] for c in BAR_CASES]
)
def test_bar_rule(request_: OrderRequest, bar_: Bar, price: str | None, taker: bool) -> None:
    outcome = match_bar(request_, request_.quantity, Trigger(), bar_, None)
    if price is None:
        assert outcome.match is None
    else:
        assert outcome.match is not None
        assert outcome.match.price == Decimal(price)
        assert outcome.match.quantity == request_.quantity
        assert outcome.match.taker is taker


def test_stop_limit_that_waited_fills_as_a_limit_on_the_next_bar() -> None:
    request = order(BUY, STL, stop_price=101, limit_price=100.5)
    first = match_bar(request, request.quantity, Trigger(), bar(100, 102, 99, 101), None)
    assert first.match is None
    assert first.trigger.triggered
    second = match_bar(request, request.quantity, first.trigger, bar(101, 101.2, 100.4, 100.8), None)
    assert second.match is not None
    assert second.match.price == Decimal("100.5")


def test_trailing_stop_follows_the_high_and_triggers_from_earlier_bars_only() -> None:
    request = order(SELL, TRL, trail_amount=1)
    state = Trigger()
    # bar 1: seeds at open 100 (stop 99), high 103 moves the stop to 102 for the *next* bar
    first = match_bar(request, request.quantity, state, bar(100, 103, 99.5, 102.5), None)
    assert first.match is None
    assert first.trigger.stop == 102
    # bar 2 dips to 101.9: the stop of 102 set by bar 1 triggers there
    second = match_bar(request, request.quantity, first.trigger, bar(102.5, 102.6, 101.9, 102.2), None)
    assert second.match is not None
    assert second.match.price == Decimal(102)


def test_trailing_stop_never_loosens_below_its_initial_stop() -> None:
    request = order(SELL, TRL, trail_amount=5, stop_price=99)
    outcome = match_bar(request, request.quantity, Trigger(), bar(100, 100.5, 99.5, 100), None)
    assert outcome.trigger.stop == 99  # 100.5 - 5 would be looser than the initial 99


QUOTE_CASES = [
    ("market-buy-at-ask", order(BUY), quote(99.9, 100.1), "100.1"),
    ("market-sell-at-bid", order(SELL), quote(99.9, 100.1), "99.9"),
    ("market-buy-without-ask-waits", order(BUY), quote(99.9, None), None),
    ("limit-buy-ask-at-limit", order(BUY, LMT, limit_price=100.1), quote(99.9, 100.1), "100.1"),
    ("limit-buy-ask-above-limit", order(BUY, LMT, limit_price=100), quote(99.9, 100.1), None),
    ("limit-sell-bid-above-limit-fills-at-bid", order(SELL, LMT, limit_price=99.5), quote(99.9, 100.1), "99.9"),
    ("stop-buy-ask-reaches-stop", order(BUY, STP, stop_price=100), quote(99.9, 100.1), "100.1"),
    ("stop-buy-below-stop", order(BUY, STP, stop_price=101), quote(99.9, 100.1), None),
    ("stop-sell-bid-reaches-stop", order(SELL, STP, stop_price=100), quote(99.9, 100.1), "99.9"),
    ("stop-limit-sell-triggered-within-limit",
     order(SELL, STL, stop_price=100, limit_price=99.8), quote(99.9, 100.1), "99.9"),
    ("stop-limit-sell-triggered-beyond-limit",
     order(SELL, STL, stop_price=100, limit_price=99.95), quote(99.9, 100.1), None),
]  # fmt: skip


@pytest.mark.parametrize(("request_", "quote_", "price"), [c[1:] for c in QUOTE_CASES], ids=[c[0] for c in QUOTE_CASES])
def test_quote_rule(request_: OrderRequest, quote_: Quote, price: str | None) -> None:
    outcome = match_quote(request_, request_.quantity, Trigger(), quote_, None)
    if price is None:
        assert outcome.match is None
    else:
        assert outcome.match is not None
        assert outcome.match.price == Decimal(price)


def test_quote_trailing_stop_triggers_after_the_bid_falls_by_the_trail() -> None:
    request = order(SELL, TRL, trail_amount=1)
    state = Trigger()
    for bid in (100.0, 101.0, 100.5):
        outcome = match_quote(request, request.quantity, state, quote(bid, bid + 0.1), None)
        assert outcome.match is None
        state = outcome.trigger
    hit = match_quote(request, request.quantity, state, quote(99.9, 100.0), None)
    assert hit.match is not None
    assert hit.match.price == Decimal("99.9")


@pytest.mark.parametrize(
    ("remaining", "available", "share", "expected"),
    [
        (Decimal(100), 1000.0, None, Decimal(100)),  # no cap
        (Decimal(100), 1000.0, 0.05, Decimal(50)),  # 5 % of 1000
        (Decimal(100), 1000.0, 0.5, Decimal(100)),  # cap above the remainder
        (Decimal(100), 19.0, 0.5, Decimal(9)),  # rounded down to the lot
        (Decimal(100), 1.0, 0.5, Decimal(0)),  # less than a lot: nothing
        (Decimal(100), None, 0.5, Decimal(100)),  # size unknown: no cap
    ],
)
def test_volume_share_caps_the_quantity(
    remaining: Decimal, available: float | None, share: float | None, expected: Decimal
) -> None:
    assert capped_quantity(order(BUY), remaining, available, share) == expected


def test_partial_fill_on_a_thin_bar_and_none_on_an_empty_one() -> None:
    request = order(BUY, quantity=300)
    partial = match_bar(request, Decimal(300), Trigger(), bar(100, 101, 99, 100, volume=1000), 0.1)
    assert partial.match is not None
    assert partial.match.quantity == Decimal(100)
    empty = match_bar(request, Decimal(300), Trigger(), bar(100, 101, 99, 100, volume=0), 0.1)
    assert empty.match is None


def test_quote_size_caps_a_quote_fill() -> None:
    request = order(SELL, quantity=500)
    outcome = match_quote(request, Decimal(500), Trigger(), quote(99.9, 100.1, bid_size=400, ask_size=10), 0.5)
    assert outcome.match is not None
    assert outcome.match.quantity == Decimal(200)
