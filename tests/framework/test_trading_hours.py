"""Exchange trading hours: sessions, holidays, early closes and both DST changes, with and without the data."""

from __future__ import annotations

import logging
import sys
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from typing import Any

import pytest

from framework import trading_hours
from framework.trading_hours import US_EQUITIES
from framework.trading_hours import CalendarHours
from framework.trading_hours import SessionPhase
from framework.trading_hours import TradingHours
from framework.trading_hours import WeekdayHours
from framework.trading_hours import allowed
from framework.trading_hours import hours_for
from tests.markers import needs_calendar_data


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.fixture
def hours() -> TradingHours:
    return hours_for("NASDAQ")


@needs_calendar_data
def test_the_calendar_library_gives_the_us_calendar_when_installed() -> None:
    # the dev extra includes it (so CI runs the holiday tests); without it they are skipped
    assert trading_hours.calendar_library() is not None
    assert isinstance(hours_for("SMART").source, CalendarHours)


@pytest.mark.parametrize(
    ("ts", "phase"),
    [
        (utc(2024, 1, 2, 8, 59), SessionPhase.CLOSED),  # 03:59 New York
        (utc(2024, 1, 2, 9, 0), SessionPhase.PRE_MARKET),  # 04:00
        (utc(2024, 1, 2, 14, 29, 59), SessionPhase.PRE_MARKET),
        (utc(2024, 1, 2, 14, 30), SessionPhase.REGULAR),  # 09:30
        (utc(2024, 1, 2, 20, 59, 59), SessionPhase.REGULAR),
        (utc(2024, 1, 2, 21, 0), SessionPhase.AFTER_HOURS),  # 16:00
        (utc(2024, 1, 3, 0, 59), SessionPhase.AFTER_HOURS),  # 19:59
        (utc(2024, 1, 3, 1, 0), SessionPhase.CLOSED),  # 20:00
        (utc(2024, 1, 6, 15, 0), SessionPhase.CLOSED),  # a Saturday
    ],
)
def test_a_trading_day_has_pre_market_regular_and_after_hours_sessions(
    hours: TradingHours, ts: datetime, phase: SessionPhase
) -> None:
    assert hours.phase(ts) is phase


@needs_calendar_data
@pytest.mark.parametrize("day", [date(2024, 1, 1), date(2024, 3, 29), date(2024, 7, 4), date(2024, 12, 25)])
def test_holidays_have_no_session_at_all(hours: TradingHours, day: date) -> None:
    assert hours.day(day) is None
    noon = datetime(day.year, day.month, day.day, 17, 0, tzinfo=UTC)
    assert hours.phase(noon) is SessionPhase.CLOSED
    assert not hours.is_open(noon, outside_rth=True)


@needs_calendar_data
def test_an_early_close_ends_regular_trading_at_13_and_after_hours_at_17(hours: TradingHours) -> None:
    friday = hours.day(date(2024, 11, 29))  # the day after Thanksgiving
    assert friday is not None
    assert friday.early_close
    assert (friday.open, friday.close, friday.post_close) == (utc(2024, 11, 29, 14, 30), utc(2024, 11, 29, 18, 0),
                                                              utc(2024, 11, 29, 22, 0))
    assert hours.phase(utc(2024, 11, 29, 18, 30)) is SessionPhase.AFTER_HOURS
    assert hours.phase(utc(2024, 11, 29, 22, 0)) is SessionPhase.CLOSED
    full = hours.day(date(2024, 12, 2))
    assert full is not None
    assert not full.early_close


@pytest.mark.parametrize(
    ("day", "open_utc"),
    [
        (date(2024, 3, 8), utc(2024, 3, 8, 14, 30)),  # last Friday of winter time (EST, UTC-5)
        (date(2024, 3, 11), utc(2024, 3, 11, 13, 30)),  # first Monday of summer time (EDT, UTC-4)
        (date(2024, 11, 1), utc(2024, 11, 1, 13, 30)),  # last Friday of summer time
        (date(2024, 11, 4), utc(2024, 11, 4, 14, 30)),  # first Monday of winter time
    ],
)
def test_both_daylight_saving_changes_move_the_sessions_in_utc(hours: TradingHours, day: date,
                                                               open_utc: datetime) -> None:
    sessions = hours.day(day)
    assert sessions is not None
    assert sessions.open == open_utc
    assert sessions.close == open_utc + timedelta(hours=6, minutes=30)
    assert sessions.pre_open == open_utc - timedelta(hours=5, minutes=30)
    assert sessions.post_close == open_utc + timedelta(hours=10, minutes=30)


def test_extended_sessions_allow_only_orders_that_may_trade_outside_regular_hours(hours: TradingHours) -> None:
    pre = utc(2024, 1, 2, 12, 0)
    assert not hours.is_open(pre)
    assert hours.is_open(pre, outside_rth=True)
    assert allowed(SessionPhase.REGULAR, outside_rth=False)
    assert not allowed(SessionPhase.CLOSED, outside_rth=True)


def test_a_day_order_ends_at_its_sessions_close(hours: TradingHours) -> None:
    # before the open and during the session: today's close; after it: the next trading day's
    assert hours.session_end_after(utc(2024, 1, 2, 12, 0)) == utc(2024, 1, 2, 21, 0)
    assert hours.session_end_after(utc(2024, 1, 2, 21, 0)) == utc(2024, 1, 3, 21, 0)
    assert hours.session_end_after(utc(2024, 1, 5, 22, 0)) == utc(2024, 1, 8, 21, 0)  # Friday -> Monday
    # outside regular hours: the end of after-hours trading
    assert hours.session_end_after(utc(2024, 1, 2, 21, 0), outside_rth=True) == utc(2024, 1, 3, 1, 0)


@needs_calendar_data
def test_a_day_order_ends_at_an_early_close_and_skips_a_holiday(hours: TradingHours) -> None:
    # the early close before Independence Day, then the holiday itself
    assert hours.session_end_after(utc(2024, 7, 3, 14, 0)) == utc(2024, 7, 3, 17, 0)
    assert hours.session_end_after(utc(2024, 7, 3, 17, 0)) == utc(2024, 7, 5, 20, 0)


def test_next_open_skips_closed_time_and_weekends(hours: TradingHours) -> None:
    friday_evening = utc(2024, 1, 5, 22, 0)
    assert hours.next_open(friday_evening) == utc(2024, 1, 8, 14, 30)
    assert hours.next_open(friday_evening, outside_rth=True) == friday_evening  # still after-hours
    assert hours.next_open(utc(2024, 1, 6, 3, 0), outside_rth=True) == utc(2024, 1, 8, 9, 0)
    assert hours.next_change(utc(2024, 1, 2, 15, 0)) == utc(2024, 1, 2, 21, 0)


@needs_calendar_data
def test_next_open_skips_a_holiday(hours: TradingHours) -> None:
    assert hours.next_open(utc(2023, 12, 29, 23, 0)) == utc(2024, 1, 2, 14, 30)  # over New Year's Day


def test_an_interval_overlaps_a_session_when_any_part_of_it_may_trade(hours: TradingHours) -> None:
    nine = utc(2024, 1, 2, 14, 0)  # 09:00 New York: an hourly bar that contains the open
    assert hours.overlaps(nine, nine + timedelta(hours=1))
    assert not hours.overlaps(nine, nine + timedelta(minutes=30))
    assert hours.overlaps(nine, nine + timedelta(minutes=1), outside_rth=True)


def test_without_the_calendar_data_every_weekday_is_a_full_day(monkeypatch: pytest.MonkeyPatch,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "exchange_calendars", None)  # the import now fails
    assert trading_hours.calendar_library() is None
    with caplog.at_level(logging.WARNING, logger="framework.trading_hours"):
        plain = trading_hours._hours.__wrapped__(US_EQUITIES)  # the uncached factory
    assert isinstance(plain.source, WeekdayHours)
    assert len(caplog.records) == 1
    assert "pip install 'tradebus[calendars]'" in caplog.records[0].getMessage()
    new_year = plain.day(date(2024, 1, 1))
    assert new_year is not None  # a holiday, but the weekday rule cannot know
    assert new_year.open == utc(2024, 1, 1, 14, 30)
    assert plain.day(date(2024, 1, 6)) is None
    friday = plain.day(date(2024, 11, 29))
    assert friday is not None
    assert not friday.early_close


class _BrokenLibrary:
    calls = 0

    def get_calendar(self, *_: Any, **__: Any) -> Any:
        self.calls += 1
        raise ValueError("no data before 1885")


def test_a_date_the_library_cannot_answer_follows_weekdays_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    library = _BrokenLibrary()
    hours = TradingHours(US_EQUITIES, CalendarHours(US_EQUITIES, library))
    with caplog.at_level(logging.WARNING, logger="framework.trading_hours"):
        assert hours.day(date(1800, 1, 6)) is not None  # a Monday
        assert hours.day(date(1800, 1, 4)) is None  # a Saturday
    assert library.calls == 2
    assert len(caplog.records) == 1
    assert "weekdays only" in caplog.records[0].getMessage()


def test_an_exchange_without_a_calendar_uses_the_us_one_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="framework.trading_hours"):
        assert hours_for("MOON-EXCHANGE") is hours_for("NYSE")
        hours_for("MOON-EXCHANGE")
    assert len(caplog.records) == 1
    assert "MOON-EXCHANGE" in caplog.records[0].getMessage()
