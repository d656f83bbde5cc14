"""Time-bar aggregation from trades and quotes; the timer queue."""

from __future__ import annotations

from datetime import timedelta

import pytest

from framework.bars import BarAggregator
from framework.bars import bar_start
from framework.marketdata import Quote
from framework.testing import DEFAULT_START
from framework.timers import TimerQueue

T0 = DEFAULT_START
MINUTE = timedelta(minutes=1)


def test_bar_start_aligns_to_the_duration() -> None:
    assert bar_start(T0 + timedelta(seconds=75), MINUTE) == T0 + MINUTE
    assert bar_start(T0 + timedelta(minutes=7), timedelta(minutes=5)) == T0 + timedelta(minutes=5)


def test_trades_aggregate_into_ohlcv_bars() -> None:
    agg = BarAggregator("A", MINUTE)
    prints = [(0, 10.0, 1), (10, 12.0, 2), (20, 9.0, 3), (59, 11.0, 4), (61, 11.5, 5)]
    closed = [agg.add_trade(T0 + timedelta(seconds=s), p, v) for s, p, v in prints]
    assert closed[:4] == [None, None, None, None]
    bar = closed[4]
    assert bar is not None
    assert (bar.start, bar.open, bar.high, bar.low, bar.close, bar.volume) == (T0, 10.0, 12.0, 9.0, 11.0, 10)
    flushed = agg.flush(T0 + 2 * MINUTE)
    assert flushed is not None
    assert (flushed.start, flushed.open, flushed.close, flushed.volume) == (T0 + MINUTE, 11.5, 11.5, 5)
    assert agg.flush(T0 + 3 * MINUTE) is None


def test_late_print_for_an_emitted_interval_is_dropped() -> None:
    agg = BarAggregator("A", MINUTE)
    agg.add_trade(T0 + MINUTE, 10.0)
    assert agg.add_trade(T0, 50.0) is None
    bar = agg.flush(T0 + 2 * MINUTE)
    assert bar is not None
    assert bar.high == 10.0


def test_quotes_use_last_or_mid() -> None:
    agg = BarAggregator("A", MINUTE)
    agg.add_quote(Quote("A", T0, bid=10.0, ask=10.2))
    agg.add_quote(Quote("A", T0 + timedelta(seconds=1), last=10.5, last_size=3.0))
    agg.add_quote(Quote("A", T0 + timedelta(seconds=2)))  # nothing to price: ignored
    bar = agg.flush(T0 + MINUTE)
    assert bar is not None
    assert (bar.open, bar.close, bar.volume) == (pytest.approx(10.1), 10.5, 3.0)


def test_aggregator_refuses_non_positive_duration() -> None:
    with pytest.raises(ValueError, match="duration"):
        BarAggregator("A", timedelta(0))


def test_timer_queue_repeats_cancels_and_replaces() -> None:
    q = TimerQueue()
    q.schedule("s", "every", T0 + MINUTE, MINUTE)
    q.schedule("s", "once", T0 + 2 * MINUTE)
    q.schedule("t", "other", T0)
    assert q.cancel("t", "other")
    assert not q.cancel("t", "other")
    fired = q.pop_due(T0 + 2 * MINUTE)
    # due together: "once" was set before "every" re-armed for its second firing
    assert [(t.name, when) for t, when in fired] == [
        ("every", T0 + MINUTE),
        ("once", T0 + 2 * MINUTE),
        ("every", T0 + 2 * MINUTE),
    ]
    assert q.next_due() == T0 + 3 * MINUTE
    q.schedule("s", "every", T0 + 10 * MINUTE, MINUTE)  # replaces
    assert q.next_due() == T0 + 10 * MINUTE
    q.cancel_owner("s")
    assert q.next_due() is None
    assert len(q) == 0
    with pytest.raises(ValueError, match="interval"):
        q.schedule("s", "bad", T0, timedelta(0))
