"""The paper venue trades only inside the sessions an order allows, never on frozen quotes (R22)."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from decimal import Decimal

from brokers.paper.config import MarketHours
from brokers.paper.config import PaperConfig
from brokers.paper.fill_model import FillModel
from framework.events import OrderAccepted
from framework.events import OrderCancelled
from framework.events import OrderExpired
from framework.events import OrderFilled
from framework.events import OrderSubmitted
from framework.marketdata import Bar
from framework.marketdata import Quote
from framework.models import OrderStatus
from framework.models import OrderType
from framework.models import Side
from framework.models import TimeInForce
from tests.brokers.paper.test_paper_broker import Venue
from tests.brokers.paper.test_paper_broker import limit
from tests.markers import needs_calendar_data

PRE_MARKET = datetime(2024, 1, 2, 13, 0, tzinfo=UTC)  # 08:00 New York
AFTER_HOURS = datetime(2024, 1, 2, 21, 5, tzinfo=UTC)  # 16:05 New York
NEXT_OPEN = datetime(2024, 1, 3, 14, 30, tzinfo=UTC)
QUOTES = PaperConfig(fill_model=FillModel.QUOTE)


def bars_until(venue: Venue, end: datetime, low: float = 95) -> None:
    """Minute bars trading down to ``low`` until the clock reaches ``end``."""
    while venue.clock.now() < end:
        venue.bar(100, 101, low, 100)


def test_r22_no_fill_before_the_open_without_outside_rth_then_a_fill_in_the_session() -> None:
    """R22: pre-market bars that trade through the limit do not fill a regular-hours order."""
    venue = Venue(start=PRE_MARKET)
    cid = venue.submit(Side.BUY, 10, **limit("97"))
    bars_until(venue, datetime(2024, 1, 2, 14, 30, tzinfo=UTC))  # 90 pre-market minutes through the limit
    assert venue.events(cid) == [OrderSubmitted, OrderAccepted]
    venue.bar(100, 101, 95, 100)  # the first regular-session bar
    assert venue.events(cid)[-1] is OrderFilled
    assert venue.fills()[0].ts == datetime(2024, 1, 2, 14, 31, tzinfo=UTC)


def test_an_outside_rth_order_fills_in_the_pre_market() -> None:
    venue = Venue(start=PRE_MARKET)
    cid = venue.submit(Side.BUY, 10, outside_rth=True, **limit("97"))
    venue.bar(100, 101, 95, 100)
    assert venue.events(cid)[-1] is OrderFilled


def test_r22_outside_rth_on_a_market_order_is_ignored_as_at_ibkr() -> None:
    """R22: only limit and stop-limit orders trade outside regular hours; a market order waits for the open."""
    venue = Venue(start=PRE_MARKET)
    cid = venue.submit(Side.BUY, 10, outside_rth=True, time_in_force=TimeInForce.GTC)
    bars_until(venue, datetime(2024, 1, 2, 14, 30, tzinfo=UTC))
    assert venue.status(cid) is OrderStatus.ACCEPTED
    venue.bar(100, 101, 95, 100)
    assert venue.fills()[0].ts == datetime(2024, 1, 2, 14, 31, tzinfo=UTC)


def test_r22_after_the_close_a_market_order_waits_for_the_next_open() -> None:
    """R22: a GTC market order entered after the close fills at the next regular session's first bar."""
    venue = Venue(start=AFTER_HOURS)
    cid = venue.submit(Side.BUY, 10, time_in_force=TimeInForce.GTC)
    bars_until(venue, AFTER_HOURS + timedelta(minutes=30))
    assert venue.status(cid) is OrderStatus.ACCEPTED
    venue.clock.set(NEXT_OPEN)
    venue.bar(102, 103, 101, 102)
    assert venue.events(cid)[-1] is OrderFilled
    assert venue.fills()[0].price == Decimal(102)


@needs_calendar_data
def test_r22_nothing_fills_on_a_holiday_even_outside_rth() -> None:
    """R22: the exchange calendar's holidays have no session at all."""
    venue = Venue(start=datetime(2024, 1, 15, 15, 0, tzinfo=UTC))  # Martin Luther King Jr. Day, 10:00 New York
    cid = venue.submit(Side.BUY, 10, time_in_force=TimeInForce.GTC, outside_rth=True, **limit("97"))
    bars_until(venue, datetime(2024, 1, 15, 16, 0, tzinfo=UTC))
    assert venue.events(cid) == [OrderSubmitted, OrderAccepted]


def test_a_stop_is_not_triggered_by_bars_outside_its_sessions() -> None:
    venue = Venue(start=PRE_MARKET)
    stop = venue.submit(Side.SELL, 10, order_type=OrderType.STOP, stop_price=Decimal(96))
    bars_until(venue, datetime(2024, 1, 2, 14, 30, tzinfo=UTC), low=90)  # would have triggered it
    venue.bar(100, 101, 99, 100)  # regular hours, above the stop
    assert venue.status(stop) is OrderStatus.ACCEPTED


def test_bars_of_a_whole_day_are_not_checked_against_the_sessions() -> None:
    venue = Venue(start=datetime(2024, 1, 2, 0, 0, tzinfo=UTC))  # daily bars stamped at midnight UTC
    cid = venue.submit(Side.BUY, 10, **limit("97"))
    bar = Bar("AAPL", venue.clock.now(), timedelta(days=1), 100, 101, 95, 100, 1_000_000)
    venue.clock.set(bar.end)
    venue.source.push_bar(bar)
    venue.engine.run_pending()
    assert venue.events(cid)[-1] is OrderFilled


def test_with_market_hours_always_orders_fill_at_any_time() -> None:
    venue = Venue(PaperConfig(market_hours=MarketHours.ALWAYS), start=datetime(2024, 1, 6, 3, 0, tzinfo=UTC))
    cid = venue.submit(Side.BUY, 10, time_in_force=TimeInForce.GTC, **limit("97"))
    venue.bar(100, 101, 95, 100)  # 22:00 on a Friday night
    assert venue.events(cid)[-1] is OrderFilled


def test_r22_quotes_outside_the_session_or_frozen_never_fill() -> None:
    """R22: no fill on a quote outside the order's sessions, nor on a frozen (``Z``) quote inside them."""
    venue = Venue(QUOTES, start=AFTER_HOURS)
    cid = venue.submit(Side.BUY, 10, time_in_force=TimeInForce.GTC, **limit("101"))
    venue.quote(99, 100)  # after-hours, marketable: not for a regular-hours order
    assert venue.status(cid) is OrderStatus.ACCEPTED
    venue.clock.set(NEXT_OPEN)
    venue.source.push_quote(Quote("AAPL", venue.clock.now(), bid=99, ask=100, frozen=True))
    venue.engine.run_pending()
    assert venue.status(cid) is OrderStatus.ACCEPTED
    venue.quote(99, 100)  # live, in the session
    assert venue.events(cid)[-1] is OrderFilled


def test_a_frozen_quote_never_fills_even_when_the_market_never_closes() -> None:
    venue = Venue(PaperConfig(fill_model=FillModel.QUOTE, market_hours=MarketHours.ALWAYS), start=AFTER_HOURS)
    cid = venue.submit(Side.BUY, 10, time_in_force=TimeInForce.GTC)
    venue.source.push_quote(Quote("AAPL", venue.clock.now(), bid=99, ask=100, frozen=True))
    venue.engine.run_pending()
    assert venue.status(cid) is OrderStatus.ACCEPTED
    venue.quote(99, 100)
    assert venue.events(cid)[-1] is OrderFilled


def test_an_ioc_order_outside_its_session_is_cancelled_unfilled() -> None:
    venue = Venue(QUOTES, start=AFTER_HOURS)
    cid = venue.submit(Side.BUY, 10, time_in_force=TimeInForce.IOC)
    venue.quote(99, 100)
    assert venue.events(cid) == [OrderSubmitted, OrderAccepted, OrderCancelled]
    assert venue.fills() == []


def test_a_day_order_outside_rth_expires_at_the_end_of_after_hours() -> None:
    venue = Venue(start=datetime(2024, 1, 3, 0, 58, tzinfo=UTC))  # 19:58 New York
    cid = venue.submit(Side.BUY, 10, outside_rth=True, **limit("90"))
    bars_until(venue, datetime(2024, 1, 3, 1, 0, tzinfo=UTC), low=99)
    assert venue.events(cid)[-1] is OrderExpired
    assert venue.recorder.of(OrderExpired)[0].ts == datetime(2024, 1, 3, 1, 0, tzinfo=UTC)
