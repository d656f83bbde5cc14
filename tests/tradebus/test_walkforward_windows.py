"""Walk-forward windows on hand-checkable timelines: rolling, anchored, by bars, by time, gaps, bad lengths."""

from __future__ import annotations

import logging
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest

from framework.errors import ConfigError
from tradebus.sweep.windows import Length
from tradebus.sweep.windows import add_months
from tradebus.sweep.windows import make_windows
from tradebus.sweep.windows import parse_length

DAY = 86_400
TEN_DAYS = [i * DAY for i in range(10)]  # 10 daily bars from the epoch; the data ends on day 10


def spans(times: list[int], train: object, test: object, step: object = None, **kw: bool) -> list[tuple[int, ...]]:
    windows = make_windows(times, times[-1] + DAY, parse_length(train, "--train"),  # type: ignore[arg-type]
                           parse_length(test, "--test"),  # type: ignore[arg-type]
                           None if step is None else parse_length(step, "--step"), **kw)  # type: ignore[arg-type]
    for w in windows:
        assert w.train_end == w.test_start  # no bar in both
    return [(w.train_start, w.test_start, w.test_end, int(w.partial)) for w in windows]


def test_rolling_by_bars_slides_the_train_window_by_the_test_length() -> None:
    # train 4, test 2: tests at 4-5, 6-7, 8-9; each train the 4 bars before
    assert spans(TEN_DAYS, "4bars", 2) == [(0, 4, 6, 0), (2, 6, 8, 0), (4, 8, 10, 0)]


def test_anchored_train_windows_start_at_the_first_bar() -> None:
    assert spans(TEN_DAYS, 4, 2, anchored=True) == [(0, 4, 6, 0), (0, 6, 8, 0), (0, 8, 10, 0)]


def test_a_longer_step_leaves_gaps_between_test_windows() -> None:
    assert spans(TEN_DAYS, 4, 2, step=3) == [(0, 4, 6, 0), (3, 7, 9, 0)]


def test_the_last_test_window_cut_short_is_kept_or_dropped() -> None:
    assert spans(TEN_DAYS, 4, 4) == [(0, 4, 8, 0), (4, 8, 10, 1)]
    assert spans(TEN_DAYS, 4, 4, partial=False) == [(0, 4, 8, 0)]


def test_windows_by_time_sit_on_a_calendar_grid() -> None:
    assert spans(TEN_DAYS, "4d", "3d") == [(0, 4, 7, 0), (3, 7, 10, 0)]
    assert spans(TEN_DAYS, timedelta(days=4), timedelta(days=3)) == [(0, 4, 7, 0), (3, 7, 10, 0)]


def test_weekends_shift_no_window_and_empty_test_windows_are_skipped() -> None:
    # weekdays only, Monday 1 January 2024 to Friday 19 January (15 bars: index 5 is Monday the 8th)
    monday = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp())
    weekdays = [monday + d * DAY for d in range(19) if d % 7 < 5]
    # train 5 days, test 2 days, the first test from Saturday the 6th: Sat-Sun 6-7 holds no bar (skipped);
    # Mon-Tue 8-9 is bars 5-6, trained on Wed 3 - Sun 7 (bars 2-4); Wed-Thu 10-11 is 7-8 (train Fri 5 - Tue 9:
    # bars 4-6); Fri 12 - Sat 13 is 9 (train Sun 7 - Thu 11: 5-8); Sun 14 - Mon 15 is 10 (train 6-9);
    # Tue-Wed 16-17 is 11-12 (train 8-10); Thu-Fri 18-19 is 13-14 (train 10-12), ending with the data
    assert spans(weekdays, "5d", "2d") == [(2, 5, 7, 0), (4, 7, 9, 0), (5, 9, 10, 0), (6, 10, 11, 0),
                                           (8, 11, 13, 0), (10, 13, 15, 0)]
    # test 3 days: the last, Thu 18 - Sat 20 (bars 13-14), is cut short: the data ends with Friday 19's bar
    assert spans(weekdays, "5d", "3d")[-1] == (10, 13, 15, 1)


def test_a_test_window_after_a_gap_longer_than_the_train_window_is_skipped_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # bars on days 0-4 and 15-19 (a ten-day gap); train 2 days, test 2 days, from day 2
    times = [d * DAY for d in (*range(5), *range(15, 20))]
    with caplog.at_level(logging.WARNING, logger="tradebus.sweep.windows"):
        found = spans(times, "2d", "2d")
    # test 2-3 (train 0-1), 4 (train 2-3); days 6-13 hold no bar; test 14-15 holds day 15 (index 5) but its
    # train window, days 12-13, holds none: skipped; test 16-17 (train 14-15: day 15), 18-19 (train 16-17)
    assert found == [(0, 2, 4, 0), (2, 4, 5, 0), (5, 6, 8, 0), (6, 8, 10, 0)]
    (record,) = caplog.records
    assert record.getMessage() == ("walk-forward: the test window 1970-01-16 to 1970-01-16 (1 bar time) is not run: "
                                   "its train window holds no bar (a gap in the data longer than --train 2d); "
                                   "use a longer --train")


def test_months_are_calendar_months() -> None:
    assert add_months(datetime(2024, 1, 31, tzinfo=UTC), 1) == datetime(2024, 2, 29, tzinfo=UTC)
    assert add_months(datetime(2024, 3, 31, tzinfo=UTC), -1) == datetime(2024, 2, 29, tzinfo=UTC)
    assert add_months(datetime(2023, 11, 15, tzinfo=UTC), 14) == datetime(2025, 1, 15, tzinfo=UTC)
    assert parse_length("1y", "--train") == Length(12, "months", "1y")
    first = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp())
    days = [first + i * DAY for i in range(366)]  # 2024, a leap year
    # train 6 months (Jan-Jun: 182 days), test 3 months: Jul-Sep (92 days), Oct-Dec (92 days)
    assert spans(days, "6mo", "3mo") == [(0, 182, 274, 0), (91, 274, 366, 0)]


@pytest.mark.parametrize(("text", "unit", "amount"), [
    ("250bars", "bars", 250), ("1bar", "bars", 1), ("30m", "seconds", 1800), ("8h", "seconds", 28_800),
    ("90d", "seconds", 90 * DAY), ("12w", "seconds", 84 * DAY), ("6mo", "months", 6),
])
def test_length_forms(text: str, unit: str, amount: int) -> None:
    length = parse_length(text, "--train")
    assert (length.unit, length.amount) == (unit, amount)


@pytest.mark.parametrize(("value", "message"), [
    ("0bars", "--train: 0bars must be positive"),
    ("5x", "--train: '5x' is not a length; give a whole number and a unit"),
    (-3, "--train: -3 bars must be positive"),
    (timedelta(seconds=1.5), "--train: 0:00:01.500000 is not a whole number of seconds"),
])
def test_bad_lengths_name_the_flag(value: object, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_length(value, "--train")  # type: ignore[arg-type]
    assert str(e.value).startswith(message)


def test_lengths_that_fit_no_window_say_what_the_data_holds() -> None:
    with pytest.raises(ConfigError, match=r"^--train: 10 bars leaves no bar to test: the data has 10 bar times, "
                                          r"1970-01-01 to 1970-01-11; use a shorter --train$"):
        spans(TEN_DAYS, 10, 2)
    with pytest.raises(ConfigError, match=r"^--train: 30d leaves no bar to test"):
        spans(TEN_DAYS, "30d", "1d")
    with pytest.raises(ConfigError, match=r"^--test: 8 bars: no full test window fits .*\(2 bar times left"):
        spans(TEN_DAYS, 8, 8, partial=False)
    with pytest.raises(ConfigError, match=r"^--step: 1 bars must be at least --test \(2 bars\)"):
        spans(TEN_DAYS, 4, 2, step=1)
    with pytest.raises(ConfigError, match=r"^--step: 3d must be at least --test \(2 bars\) and in the same unit"):
        spans(TEN_DAYS, 4, 2, step="3d")
