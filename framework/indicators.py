"""Incremental indicators: O(1) work per update, floats inside (analytics, not money).

Each indicator takes values one at a time with ``update`` and exposes ``value`` (None until it has
seen enough data, see ``ready``). They are plain objects a strategy owns; nothing here touches the
bus or the clock.
"""

from __future__ import annotations

import math
from collections import deque
from typing import NamedTuple

_RESYNC_EVERY = 1_000
_RESUM_EVERY = 10_000  # SMA: updates between two exact re-sums of the window


class SMA:
    """Simple moving average over the last ``period`` values (running sum, O(1))."""

    def __init__(self, period: int) -> None:
        _check_period(period)
        self.period = period
        self._window: deque[float] = deque()
        self._sum = 0.0
        self._count = 0
        self.value: float | None = None

    @property
    def ready(self) -> bool:
        """Whether ``period`` values have been seen."""
        return self.value is not None

    def update(self, x: float) -> float | None:
        """Add a value; return the average, or None while warming up."""
        # the hot path of every moving-average strategy: one branch per state, few attribute writes
        window = self._window
        window.append(x)
        if self.value is not None:  # full: the oldest value leaves as the new one enters
            total = self._sum + x - window.popleft()
            self._count += 1
            # Re-sum now and then so floating-point drift of the running sum cannot accumulate.
            if self._count == _RESUM_EVERY:
                total, self._count = math.fsum(window), 0
            self._sum = total
            self.value = value = total / self.period
            return value
        self._sum += x
        if len(window) == self.period:
            self.value = self._sum / self.period
        return self.value


class EMA:
    """Exponential moving average, seeded with the SMA of the first ``period`` values."""

    def __init__(self, period: int) -> None:
        _check_period(period)
        self.period = period
        self.alpha = 2.0 / (period + 1)
        self._seed: list[float] = []
        self.value: float | None = None

    @property
    def ready(self) -> bool:
        """Whether the seed period is complete."""
        return self.value is not None

    def update(self, x: float) -> float | None:
        """Add a value; return the average, or None while warming up."""
        if self.value is None:
            self._seed.append(x)
            if len(self._seed) == self.period:
                self.value = sum(self._seed) / self.period
                self._seed.clear()
            return self.value
        self.value += self.alpha * (x - self.value)
        return self.value


class RSI:
    """Relative strength index with Wilder's smoothing (0..100)."""

    def __init__(self, period: int = 14) -> None:
        _check_period(period)
        self.period = period
        self._prev: float | None = None
        self._gains = 0.0
        self._losses = 0.0
        self._n = 0
        self.value: float | None = None

    @property
    def ready(self) -> bool:
        """Whether ``period`` changes have been seen."""
        return self.value is not None

    def update(self, x: float) -> float | None:
        """Add a price; return the RSI, or None while warming up."""
        prev, self._prev = self._prev, x
        if prev is None:
            return None
        change = x - prev
        gain, loss = max(change, 0.0), max(-change, 0.0)
        p = self.period
        if self._n < p:
            self._gains += gain
            self._losses += loss
            self._n += 1
            if self._n < p:
                return None
            self._gains /= p
            self._losses /= p
        else:
            self._gains = (self._gains * (p - 1) + gain) / p
            self._losses = (self._losses * (p - 1) + loss) / p
        if self._losses == 0:
            self.value = 100.0 if self._gains > 0 else 50.0
        else:
            self.value = 100.0 - 100.0 / (1.0 + self._gains / self._losses)
        return self.value


class Bands(NamedTuple):
    """Bollinger bands: middle (SMA) and the upper/lower bands ``k`` deviations away."""

    lower: float
    middle: float
    upper: float


class BollingerBands:
    """Bollinger bands over ``period`` values with population standard deviation, O(1).

    The window's mean and sum of squared deviations are updated in place (the rolling form of
    Welford's algorithm), never as a raw sum of squares: at a price of 50,000 that sum is ~5e10 per
    value and cancels catastrophically, so the band width drifted by percents over long runs. Values
    are taken relative to a recent mean, so rounding scales with the price's drift since then rather
    than with the price level, and every so often the window is recomputed exactly.
    """

    def __init__(self, period: int = 20, k: float = 2.0) -> None:
        _check_period(period)
        self.period = period
        self.k = k
        self._window: deque[float] = deque()
        self._shift: float | None = None  # origin of the shifted values, reset at each resync
        self._mean = 0.0  # mean of the shifted window
        self._m2 = 0.0  # sum of squared deviations from the mean over the window
        self._count = 0
        # An exact recomputation costs O(period); doing it at most once per `period` updates keeps O(1).
        self._resync_every = max(_RESYNC_EVERY, period)
        self.value: Bands | None = None

    @property
    def ready(self) -> bool:
        """Whether ``period`` values have been seen."""
        return self.value is not None

    def update(self, x: float) -> Bands | None:
        """Add a value; return the bands, or None while warming up."""
        w = self._window
        w.append(x)
        if self._shift is None:
            self._shift = x
        y, mean = x - self._shift, self._mean
        if len(w) > self.period:
            old = w.popleft() - self._shift
            self._mean = mean + (y - old) / self.period
            self._m2 += (y - old) * (y - self._mean + old - mean)
        else:
            self._mean = mean + (y - mean) / len(w)
            self._m2 += (y - mean) * (y - self._mean)
        self._count += 1
        if self._count % self._resync_every == 0:
            self._resync()
        if len(w) < self.period:
            return None
        middle = self._shift + self._mean
        dev = self.k * math.sqrt(max(self._m2 / self.period, 0.0))
        self.value = Bands(middle - dev, middle, middle + dev)
        return self.value

    def _resync(self) -> None:
        # Recentre on the exact mean and bound whatever rounding the incremental update gathered.
        # The shift is the mean rounded to the price's precision; keep that residual in _mean.
        shift = math.fsum(self._window) / len(self._window)
        shifted = [v - shift for v in self._window]
        self._shift = shift
        self._mean = math.fsum(shifted) / len(shifted)
        self._m2 = math.fsum((y - self._mean) ** 2 for y in shifted)


class ATR:
    """Average true range with Wilder's smoothing, warmed up as TA-Lib's ``ATR``.

    The first bar has no previous close, so it has no true range; the first ATR is the mean of the
    true ranges of bars 2 .. ``period + 1`` and is returned on bar ``period + 1`` (TA-Lib's first
    non-NaN value); after that ``atr = (atr * (period - 1) + tr) / period``.
    """

    def __init__(self, period: int = 14) -> None:
        _check_period(period)
        self.period = period
        self._prev_close: float | None = None
        self._sum = 0.0
        self._n = 0
        self.value: float | None = None

    @property
    def ready(self) -> bool:
        """Whether ``period`` true ranges (``period + 1`` bars) have been seen."""
        return self.value is not None

    def update(self, high: float, low: float, close: float) -> float | None:
        """Add a bar's high, low and close; return the ATR, or None while warming up."""
        prev = self._prev_close
        self._prev_close = close
        if prev is None:  # no true range without a previous close (TA-Lib's TRANGE starts on bar 2)
            return None
        true_range = max(high - low, abs(high - prev), abs(low - prev))
        p = self.period
        if self._n < p:
            self._sum += true_range
            self._n += 1
            if self._n == p:
                self.value = self._sum / p
            return self.value
        assert self.value is not None
        self.value = (self.value * (p - 1) + true_range) / p
        return self.value


def _check_period(period: int) -> None:
    if period < 1:
        msg = f"period must be at least 1, received {period}"
        raise ValueError(msg)
