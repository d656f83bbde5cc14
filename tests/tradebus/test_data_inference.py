"""The bar length inferred from the data: the most common gap between bar starts."""

from __future__ import annotations

from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import pytest

from framework.errors import DataError
from tradebus.data import infer_bar_duration
from tradebus.data import load_bars

T0 = int(datetime(2024, 1, 2, 14, 30, tzinfo=UTC).timestamp())


def sessions(days: int, bars: int, step: int) -> list[int]:
    """``bars`` bars of ``step`` seconds a day, on ``days`` consecutive days (overnight gaps)."""
    return [T0 + d * 86400 + i * step for d in range(days) for i in range(bars)]


def test_one_minute_bars_with_overnight_gaps() -> None:
    assert infer_bar_duration(sessions(3, 390, 60)) == timedelta(minutes=1)


def test_five_minute_bars() -> None:
    assert infer_bar_duration(sessions(2, 78, 300)) == timedelta(minutes=5)


def test_daily_bars_with_weekends_and_holidays() -> None:
    holidays = {date(2024, 1, 15), date(2024, 2, 19)}
    days = [date(2024, 1, 1) + timedelta(days=i) for i in range(60)]
    trading = [d for d in days if d.weekday() < 5 and d not in holidays and d != date(2024, 1, 1)]
    starts = [int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()) for d in trading]
    assert infer_bar_duration(starts) == timedelta(days=1)


def test_gaps_are_pooled_over_symbols_and_a_tie_goes_to_the_shorter() -> None:
    assert infer_bar_duration([T0], [T0, T0 + 60]) == timedelta(minutes=1)
    assert infer_bar_duration([T0, T0 + 60, T0 + 180]) == timedelta(minutes=1)
    assert infer_bar_duration([T0, T0 + 300, T0 + 600], [T0, T0 + 60]) == timedelta(minutes=5)


def test_single_bars_cannot_be_measured() -> None:
    with pytest.raises(ValueError, match="give the duration"):
        infer_bar_duration([T0], [T0 + 60])


def write_minutes(path: Path, count: int) -> Path:
    rows = "".join(f"2024-01-02T14:{30 + i:02d}:00Z,A,1,2,1,2,3\n" for i in range(count))
    path.write_text("timestamp,symbol,open,high,low,close,volume\n" + rows, encoding="utf-8")
    return path


def test_loaders_infer_and_an_explicit_duration_wins(tmp_path: Path) -> None:
    path = write_minutes(tmp_path / "bars.csv", 5)
    assert load_bars(path)["A"].duration == timedelta(minutes=1)
    assert load_bars(path, timedelta(seconds=30))["A"].duration == timedelta(seconds=30)


def test_a_single_bar_file_without_a_duration_asks_for_one(tmp_path: Path) -> None:
    path = write_minutes(tmp_path / "bars.csv", 1)
    with pytest.raises(DataError, match=r"bars\.csv: cannot infer the bar length .*duration="):
        load_bars(path)
    assert len(load_bars(path, timedelta(minutes=1))["A"]) == 1


def test_a_duration_that_is_not_whole_seconds_is_a_config_error(tmp_path: Path) -> None:
    from framework.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^duration: must be a positive whole number of seconds"):
        load_bars(write_minutes(tmp_path / "bars.csv", 2), timedelta(milliseconds=1500))
