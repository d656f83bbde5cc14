"""Resampled bars: sizes, session alignment (hourly, daily, an early close), missing bars, and through a backtest."""

from __future__ import annotations

from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from typing import Any

import pytest

from framework.bars import BarAggregator
from framework.config import StrategyConfig
from framework.errors import SubscriptionError
from framework.events import BarClosed
from framework.history import BarData
from framework.history import BarSeriesBuilder
from framework.marketdata import Bar
from framework.resample import Resampler
from framework.resample import base_size
from framework.resample import format_size
from framework.resample import parse_bar_size
from framework.strategy import Strategy
from framework.trading_hours import hours_for
from tradebus.backtest import run_backtest
from tradebus.data import load_bars
from tradebus.sample_data import sample_data_path

MINUTE = timedelta(minutes=1)
FIVE = timedelta(minutes=5)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def minute_bar(start: datetime, o: float, h: float, low: float, c: float, v: float = 10.0, sym: str = "AAPL") -> Bar:
    return Bar(sym, start, MINUTE, o, h, low, c, v)


def feed(resampler: Resampler, bars: list[Bar]) -> list[BarClosed]:
    out = []
    for bar in bars:
        for got in (resampler.overdue(bar), resampler.add(bar)):
            if got is not None:
                out.append(got)
    return out


def flat_minutes(first: datetime, count: int, price: float = 100.0) -> list[Bar]:
    return [minute_bar(first + i * MINUTE, price + i, price + i + 0.5, price + i - 0.5, price + i + 0.25, 1.0)
            for i in range(count)]


# ----------------------------------------------------------------- sizes


@pytest.mark.parametrize(("text", "size"), [("60s", MINUTE), ("5m", FIVE), ("1h", HOUR), ("1d", DAY), ("1D", DAY),
                                            ("90s", timedelta(seconds=90)), ("1w", timedelta(days=7))])
def test_bar_sizes_parse_and_print(text: str, size: timedelta) -> None:
    assert parse_bar_size(text) == size
    assert parse_bar_size(format_size(size)) == size


@pytest.mark.parametrize("text", ["", "5", "m", "0m", "1.5h", "5 minutes", "-1d"])
def test_a_bad_bar_size_says_what_a_size_looks_like(text: str) -> None:
    with pytest.raises(ValueError, match="is not a bar size: give a whole number and a unit"):
        parse_bar_size(text)


def test_base_size_picks_the_data_size_or_says_why_not() -> None:
    assert base_size(FIVE, [MINUTE]) == MINUTE
    assert base_size(MINUTE, [MINUTE]) == MINUTE
    assert base_size(DAY, [FIVE]) == FIVE
    assert base_size(MINUTE, [DAY]) == "finer than the data's 1d bars"
    assert base_size(timedelta(minutes=7), [FIVE]) == "not a whole multiple of the data's 5m bars"
    assert "longer than a day" in str(base_size(timedelta(days=7), [DAY]))


def test_the_aggregator_merges_finer_bars() -> None:
    agg = BarAggregator("AAPL", FIVE)
    start = utc(2024, 1, 2, 14, 30)
    assert agg.add_bar(minute_bar(start, 10, 12, 9, 11, 5)) is None
    assert agg.add_bar(minute_bar(start + MINUTE, 11, 15, 10, 14, 7)) is None
    closed = agg.add_bar(minute_bar(start + FIVE, 14, 14, 13, 13, 1))
    assert closed == Bar("AAPL", start, FIVE, 10, 15, 9, 14, 12)
    assert agg.close() == Bar("AAPL", start + FIVE, FIVE, 14, 14, 13, 13, 1)
    assert agg.close() is None


# ----------------------------------------------------------------- session alignment


def test_five_minute_bars_by_hand_over_a_missing_minute_and_a_session_boundary() -> None:
    # 2024-01-02 (a Tuesday) closes at 16:00 New York = 21:00 UTC; 15:57 is missing
    bars = [
        minute_bar(utc(2024, 1, 2, 20, 50), 10.0, 10.5, 9.8, 10.2, 100),
        minute_bar(utc(2024, 1, 2, 20, 51), 10.2, 10.9, 10.1, 10.8, 200),
        minute_bar(utc(2024, 1, 2, 20, 52), 10.8, 10.8, 9.5, 9.6, 300),
        minute_bar(utc(2024, 1, 2, 20, 53), 9.6, 9.9, 9.6, 9.7, 400),
        minute_bar(utc(2024, 1, 2, 20, 54), 9.7, 9.8, 9.6, 9.75, 500),
        minute_bar(utc(2024, 1, 2, 20, 55), 9.8, 9.9, 9.7, 9.8, 10),
        minute_bar(utc(2024, 1, 2, 20, 56), 9.8, 10.4, 9.8, 10.3, 20),
        minute_bar(utc(2024, 1, 2, 20, 58), 10.3, 10.3, 9.1, 9.2, 30),
        minute_bar(utc(2024, 1, 2, 20, 59), 9.2, 9.4, 9.0, 9.3, 40),
        minute_bar(utc(2024, 1, 3, 14, 30), 11.0, 11.5, 10.9, 11.4, 1),  # the next session
    ]
    built = feed(Resampler("AAPL", FIVE, hours_for()), bars)
    assert built == [
        BarClosed(utc(2024, 1, 2, 20, 55), Bar("AAPL", utc(2024, 1, 2, 20, 50), FIVE, 10.0, 10.9, 9.5, 9.75, 1500)),
        BarClosed(utc(2024, 1, 2, 21, 0), Bar("AAPL", utc(2024, 1, 2, 20, 55), FIVE, 9.8, 10.4, 9.0, 9.3, 100)),
    ]


def test_a_session_whose_last_minute_is_missing_ends_its_bar_at_the_close_before_the_next_session() -> None:
    resampler = Resampler("AAPL", HOUR, hours_for())
    built = feed(resampler, flat_minutes(utc(2024, 1, 2, 20, 30), 29))  # 15:30-15:59, the 15:59 bar missing
    assert built == []
    next_day = minute_bar(utc(2024, 1, 3, 14, 30), 1, 1, 1, 1)
    overdue = resampler.overdue(next_day)
    assert overdue is not None
    assert overdue.ts == utc(2024, 1, 2, 21, 0)  # stamped with the close, not the next day's data
    assert (overdue.bar.start, overdue.bar.open, overdue.bar.close, overdue.bar.volume) == (
        utc(2024, 1, 2, 20, 30), 100.0, 128.25, 29.0)


def test_hourly_bars_align_to_the_open_and_the_last_one_is_short() -> None:
    built = feed(Resampler("AAPL", HOUR, hours_for()), flat_minutes(utc(2024, 1, 2, 14, 30), 390))
    assert [(b.bar.start.strftime("%H:%M"), b.ts.strftime("%H:%M")) for b in built] == [
        ("14:30", "15:30"), ("15:30", "16:30"), ("16:30", "17:30"), ("17:30", "18:30"), ("18:30", "19:30"),
        ("19:30", "20:30"), ("20:30", "21:00"),
    ]
    assert all(b.bar.duration == HOUR for b in built)
    last = built[-1].bar
    assert (last.open, last.close, last.volume) == (100.0 + 360, 100.0 + 389 + 0.25, 30.0)


def test_hourly_and_daily_bars_on_an_early_close() -> None:
    # 2024-11-29, the day after Thanksgiving, closes at 13:00 New York (18:00 UTC) in the calendar data
    hours = hours_for()
    session = hours.day(date(2024, 11, 29))
    assert session is not None
    assert session.early_close
    minutes = flat_minutes(utc(2024, 11, 29, 14, 30), 210)  # 09:30-13:00
    hourly = feed(Resampler("AAPL", HOUR, hours), minutes)
    assert [b.ts for b in hourly][-2:] == [utc(2024, 11, 29, 17, 30), utc(2024, 11, 29, 18, 0)]
    daily = feed(Resampler("AAPL", DAY, hours), minutes)
    assert daily == [BarClosed(utc(2024, 11, 29, 18, 0), Bar(
        "AAPL", utc(2024, 11, 29), DAY, 100.0, 100.0 + 209 + 0.5, 99.5, 100.0 + 209 + 0.25, 210.0))]


def test_daily_bars_are_one_per_trading_day_and_skip_holidays() -> None:
    resampler = Resampler("AAPL", DAY, hours_for())
    bars = [*flat_minutes(utc(2024, 7, 3, 14, 30), 3), *flat_minutes(utc(2024, 7, 5, 14, 30), 3)]  # July 4 is shut
    built = feed(resampler, [*bars, minute_bar(utc(2024, 7, 8, 14, 30), 1, 1, 1, 1)])
    assert [(b.bar.start, b.ts) for b in built] == [
        (utc(2024, 7, 3), utc(2024, 7, 3, 17, 0)),  # July 3 closes early (13:00 New York)
        (utc(2024, 7, 5), utc(2024, 7, 5, 20, 0)),
    ]


# ----------------------------------------------------------------- in a backtest


class Recorder(Strategy[StrategyConfig]):
    """Subscribes to the sizes it is given and records every bar with the clock at delivery."""

    config_type = StrategyConfig

    def __init__(self, wanted: list[tuple[str, timedelta | None]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.wanted = wanted
        self.seen: list[tuple[datetime, Bar]] = []

    def on_start(self) -> None:
        for symbol, size in self.wanted:
            self.subscribe_bars(symbol, size)

    def on_bar(self, bar: Bar) -> None:
        self.seen.append((self.context.clock.now(), bar))


def by_hand(series: list[Bar], size: timedelta) -> list[Bar]:
    """Epoch-aligned merge: the same as session-aligned for 5 minutes on a 09:30 open."""
    out: dict[datetime, list[Bar]] = {}
    for bar in series:
        out.setdefault(bar.start - (bar.start - utc(1970, 1, 1)) % size, []).append(bar)
    return [Bar(b[0].symbol, start, size, b[0].open, max(x.high for x in b), min(x.low for x in b), b[-1].close,
                sum(x.volume for x in b)) for start, b in out.items()]


def test_five_minute_bars_on_one_minute_data_in_a_backtest_match_the_bars_by_hand() -> None:
    data = load_bars(sample_data_path())
    strategy = Recorder([("MSFT", FIVE), ("AAPL", FIVE), ("AAPL", None)])
    run_backtest(strategy, data)
    five = [bar for _, bar in strategy.seen if bar.duration == FIVE]
    assert [b for b in five if b.symbol == "AAPL"] == by_hand(list(data["AAPL"]), FIVE)
    assert [b for b in five if b.symbol == "MSFT"] == by_hand(list(data["MSFT"]), FIVE)
    assert len([b for _, b in strategy.seen if b.duration == MINUTE]) == len(data["AAPL"])
    assert all(now == bar.end for now, bar in strategy.seen)  # each delivered at its end
    # at a shared end time: every 1-minute bar first, then the 5-minute ones in symbol order
    at_1435 = [(b.symbol, b.duration) for now, b in strategy.seen if now == utc(2024, 1, 2, 14, 35)]
    assert at_1435 == [("AAPL", MINUTE), ("AAPL", FIVE), ("MSFT", FIVE)]


def test_resampled_bars_follow_a_gap_in_the_data() -> None:
    builder = BarSeriesBuilder("AAPL", MINUTE, "test")
    minutes = [m for m in flat_minutes(utc(2024, 1, 2, 20, 50), 10) if m.start.minute != 57]  # 15:57 missing
    for bar in [*minutes, *flat_minutes(utc(2024, 1, 3, 14, 30), 5)]:
        builder.append((int(bar.start.timestamp()), bar.open, bar.high, bar.low, bar.close, bar.volume), None)
    strategy = Recorder([("AAPL", FIVE)])
    run_backtest(strategy, BarData([builder.build()]))
    assert [(now, bar.start, bar.volume) for now, bar in strategy.seen] == [
        (utc(2024, 1, 2, 20, 55), utc(2024, 1, 2, 20, 50), 5.0),
        (utc(2024, 1, 2, 21, 0), utc(2024, 1, 2, 20, 55), 4.0),
        (utc(2024, 1, 3, 14, 35), utc(2024, 1, 3, 14, 30), 5.0),
    ]


@pytest.mark.parametrize(("symbol", "size", "message"), [
    ("AAPL", timedelta(seconds=30), "strategy Recorder subscribed to 30s bars of AAPL, which the data cannot give: "
                                    "finer than the data's 1m bars"),
    ("AAPL", timedelta(minutes=7) + timedelta(seconds=30), "not a whole multiple of the data's 1m bars"),
    ("ZZZ", FIVE, "strategy Recorder subscribed to 5m bars of ZZZ: no historical data for ZZZ; the data has AAPL, "
                  "MSFT, SPY"),
])
def test_a_subscription_no_data_can_give_stops_the_run_before_it_starts(
    symbol: str, size: timedelta, message: str
) -> None:
    with pytest.raises(SubscriptionError, match=message) as caught:
        run_backtest(Recorder([(symbol, size)]), load_bars(sample_data_path()))
    assert (caught.value.strategy_id, caught.value.symbol) == ("Recorder", symbol)


def test_seven_minute_bars_on_five_minute_data_are_refused() -> None:
    builder = BarSeriesBuilder("AAPL", FIVE, "test")
    builder.append((int(utc(2024, 1, 2, 14, 30).timestamp()), 1.0, 1.0, 1.0, 1.0, 1.0), None)
    with pytest.raises(SubscriptionError, match=r"7m bars of AAPL.*not a whole multiple of the data's 5m bars"):
        run_backtest(Recorder([("AAPL", timedelta(minutes=7))]), BarData([builder.build()]))
