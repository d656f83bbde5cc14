"""Each fill rule of the paper venue, one parametrized case per rule (pure functions, no engine)."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from brokers.paper.fill_model import Match
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


@pytest.mark.parametrize(
    ("request_", "first_bar", "stop_after_first", "gap_bar", "price"),
    [
        # the first bar lifts a sell's stop to 100 (high 101 - 1); the next opens at 98.2, below it
        (order(SELL, TRL, trail_amount=1), bar(100, 101, 99.5, 100.5), 100, bar(98.2, 99, 97.5, 98.8), "98.2"),
        # the first bar pulls a buy's stop to 100.2 (low 99.2 + 1); the next opens at 101.5, above it
        (order(BUY, TRL, trail_amount=1), bar(100, 100.5, 99.2, 99.5), 100.2, bar(101.5, 102, 101, 101.8), "101.5"),
    ],
    ids=["sell-gaps-down", "buy-gaps-up"],
)
def test_bar_trailing_stop_gapped_through_at_the_open_fills_at_the_open_not_the_stop(
    request_: OrderRequest, first_bar: Bar, stop_after_first: float, gap_bar: Bar, price: str
) -> None:
    first = match_bar(request_, request_.quantity, Trigger(), first_bar, None)
    assert first.match is None
    assert first.trigger.stop == stop_after_first
    gap = match_bar(request_, request_.quantity, first.trigger, gap_bar, None)
    assert gap.match == Match(Decimal(price), request_.quantity, taker=True)


def test_bar_trailing_stop_triggers_when_the_bar_touches_exactly_its_level() -> None:
    # in floats 16.06 - 0.10 is 15.959999999999999, which a low of 15.96 does not reach
    request = order(SELL, TRL, trail_amount=0.1)
    first = match_bar(request, request.quantity, Trigger(), bar(16.0, 16.06, 16.0, 16.05), None)
    assert first.match is None
    assert first.trigger.stop == 15.96
    touched = match_bar(request, request.quantity, first.trigger, bar(16.0, 16.02, 15.96, 15.99), None)
    assert touched.match == Match(Decimal("15.96"), request.quantity, taker=True)


@pytest.mark.parametrize(
    ("next_bar", "price"),
    [
        (bar(99.2, 99.8, 99.0, 99.6), "99.5"),  # trades back up through the limit: at the limit
        (bar(99.7, 100, 99.6, 99.8), "99.7"),  # opens above the limit: at the (better) open
        (bar(99.1, 99.4, 98.0, 98.5), None),  # never back up to the limit: keeps working
    ],
    ids=["reaches-limit", "opens-above-limit", "stays-below-limit"],
)
def test_stop_limit_sell_triggered_mid_bar_with_the_limit_above_the_stop_waits_for_the_next_bar(
    next_bar: Bar, price: str | None
) -> None:
    request = order(SELL, STL, stop_price=99, limit_price=99.5)
    # the low of 98.5 hits the stop, but whether the price came back to 99.5 afterwards is unknown
    first = match_bar(request, request.quantity, Trigger(), bar(100, 100.2, 98.5, 99), None)
    assert first.match is None
    assert first.trigger.triggered
    second = match_bar(request, request.quantity, first.trigger, next_bar, None)
    assert second.trigger.triggered
    if price is None:
        assert second.match is None
    else:
        assert second.match == Match(Decimal(price), request.quantity, taker=False)


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


def test_quote_trailing_buy_follows_the_ask_down_and_triggers_on_the_ask_back_up() -> None:
    request = order(BUY, TRL, trail_amount=1)
    state = Trigger()
    # (bid, ask, stop after the quote): the stop follows the lowest ask and never loosens
    for bid, ask, stop in ((99.9, 100.0, 101), (98.9, 99.0, 100), (98.4, 98.5, 99.5), (99.0, 99.2, 99.5)):
        outcome = match_quote(request, request.quantity, state, quote(bid, ask), None)
        assert outcome.match is None
        assert outcome.trigger.stop == stop
        state = outcome.trigger
    bid_at_stop = match_quote(request, request.quantity, state, quote(99.5, 99.6), None)
    assert bid_at_stop.match == Match(Decimal("99.6"), request.quantity, taker=True)  # a buy trades at the ask


def test_quote_trailing_buy_triggers_when_the_ask_is_exactly_at_its_level() -> None:
    # in floats 15.96 + 0.10 is 16.060000000000002, which an ask of 16.06 does not reach
    request = order(BUY, TRL, trail_amount=0.1)
    seeded = match_quote(request, request.quantity, Trigger(), quote(15.95, 15.96), None)
    assert seeded.trigger.stop == 16.06
    hit = match_quote(request, request.quantity, seeded.trigger, quote(16.05, 16.06), None)
    assert hit.match == Match(Decimal("16.06"), request.quantity, taker=True)


@pytest.mark.parametrize(
    ("side", "prices", "stops", "fill"),
    [
        # a sell trails the bid by 1 %: 100 -> 99, 102 -> 100.98; 101.5 leaves it there; 100.98 triggers
        (SELL, [100.0, 102.0, 101.5], [99, 100.98, 100.98], 100.98),
        # a buy trails the ask by 1 %: 100 -> 101, 98 -> 98.98; 98.5 leaves it there; 98.98 triggers
        (BUY, [100.0, 98.0, 98.5], [101, 98.98, 98.98], 98.98),
    ],
    ids=["sell", "buy"],
)
def test_quote_trailing_percent_moves_with_the_best_price_and_triggers_at_its_level(
    side: Side, prices: list[float], stops: list[float], fill: float
) -> None:
    request = order(side, TRL, trail_percent=1)

    def side_quote(px: float) -> Quote:  # the side the order trades on is at px, a 0.02 spread
        return quote(px, px + 0.02) if side is SELL else quote(px - 0.02, px)

    state = Trigger()
    for px, stop in zip(prices, stops, strict=True):
        outcome = match_quote(request, request.quantity, state, side_quote(px), None)
        assert outcome.match is None
        assert outcome.trigger.stop == stop
        state = outcome.trigger
    hit = match_quote(request, request.quantity, state, side_quote(fill), None)
    assert hit.match == Match(Decimal(repr(fill)), request.quantity, taker=True)


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
