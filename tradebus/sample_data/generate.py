"""Seeded synthetic 1-minute bars: the generator of the shipped sample and of benchmark data.

Run ``python -m tradebus.sample_data.generate`` to rewrite ``bars_1m.csv`` (same seed, same bytes).

The walk: each bar's close is the previous close times ``exp(N(0, sigma))``; the open is the previous
close (plus a small gap at a session's first bar); high and low extend the open-close range by a
random wick; everything is rounded to the cent and volume to whole shares. Bars cover the New York
session (09:30-16:00, weekdays, no holiday calendar).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from framework.history import BarData
from framework.history import BarSeries
from framework.history import BarSeriesBuilder
from tradebus.data import write_csv

NEW_YORK = ZoneInfo("America/New_York")
SESSION_OPEN = time(9, 30)
SESSION_BARS = 390
SAMPLE_SYMBOLS = {"AAPL": 185.0, "MSFT": 370.0, "SPY": 475.0}
SAMPLE_SEED = 20240102


def session_starts(first_day: date, count: int) -> Iterator[int]:
    """Yield the epoch-second starts of ``count`` 1-minute session bars from ``first_day`` on, weekdays only."""
    day = first_day
    produced = 0
    while produced < count:
        if day.weekday() < 5:
            opening = int(datetime.combine(day, SESSION_OPEN, tzinfo=NEW_YORK).astimezone(UTC).timestamp())
            for minute in range(min(SESSION_BARS, count - produced)):
                yield opening + 60 * minute
            produced += min(SESSION_BARS, count - produced)
        day += timedelta(days=1)


def synthetic_series(
    symbol: str,
    count: int,
    *,
    seed: int,
    price: float = 100.0,
    sigma: float = 0.0008,
    first_day: date = date(2024, 1, 2),
) -> BarSeries:
    """Generate ``count`` validated 1-minute session bars of a seeded random walk."""
    rng = random.Random(f"{seed}:{symbol}")
    gauss, expovariate = rng.gauss, rng.expovariate
    builder = BarSeriesBuilder(symbol, timedelta(minutes=1), source=f"synthetic {symbol}")
    close = price
    previous = None
    for start in session_starts(first_day, count):
        gap = previous is None or start - previous > 60
        previous = start
        open_ = round(close * math.exp(gauss(0.0, sigma * 4)) if gap else close, 2)
        close = round(open_ * math.exp(gauss(0.0, sigma)), 2)
        high = round(max(open_, close) * (1 + expovariate(1 / (sigma / 2))), 2)
        low = round(min(open_, close) * (1 - expovariate(1 / (sigma / 2))), 2)
        volume = float(int(expovariate(1 / 2_000)) + 100)
        builder.append((start, open_, high, low, close, volume), None)
    return builder.build()


def sample_data(days: int = 5, seed: int = SAMPLE_SEED) -> BarData:
    """The shipped sample: AAPL, MSFT and SPY over ``days`` sessions."""
    return BarData(
        synthetic_series(symbol, days * SESSION_BARS, seed=seed, price=price)
        for symbol, price in SAMPLE_SYMBOLS.items()
    )


def main() -> None:
    """Rewrite the shipped sample file next to this module."""
    write_csv(sample_data(), Path(__file__).with_name("bars_1m.csv"))


if __name__ == "__main__":
    main()
