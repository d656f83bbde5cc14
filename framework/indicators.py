"""Incremental indicators: O(1) work per update, floats inside (analytics, not money).

Each indicator takes values one at a time with ``update`` and exposes ``value`` (None until it has
seen enough data, see ``ready``). They are plain objects a strategy owns; nothing here touches the
bus or the clock.
"""

from __future__ import annotations

import math
from collections import deque
from typing import NamedTuple


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
        window = self._window
        window.append(x)
        self._sum += x
        if len(window) > self.period:
            self._sum -= window.popleft()
        self._count += 1
        # Re-sum now and then so floating-point drift of the running sum cannot accumulate.
        if self._count % 10_000 == 0:
            self._sum = math.fsum(window)
        self.value = self._sum / self.period if len(window) == self.period else None
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
    """Bollinger bands over ``period`` values with population standard deviation, O(1)."""

    def __init__(self, period: int = 20, k: float = 2.0) -> None:
        _check_period(period)
        self.period = period
        self.k = k
        self._window: deque[float] = deque()
        self._sum = 0.0
        self._sumsq = 0.0
        self.value: Bands | None = None

    @property
    def ready(self) -> bool:
        """Whether ``period`` values have been seen."""
        return self.value is not None

    def update(self, x: float) -> Bands | None:
        """Add a value; return the bands, or None while warming up."""
        w = self._window
        w.append(x)
        self._sum += x
        self._sumsq += x * x
        if len(w) > self.period:
            old = w.popleft()
            self._sum -= old
            self._sumsq -= old * old
        if len(w) < self.period:
            return None
        mean = self._sum / self.period
        variance = max(self._sumsq / self.period - mean * mean, 0.0)
        dev = self.k * math.sqrt(variance)
        self.value = Bands(mean - dev, mean, mean + dev)
        return self.value


class ATR:
    """Average true range with Wilder's smoothing."""

    def __init__(self, period: int = 14) -> None:
        _check_period(period)
        self.period = period
        self._prev_close: float | None = None
        self._sum = 0.0
        self._n = 0
        self.value: float | None = None

    @property
    def ready(self) -> bool:
        """Whether ``period`` true ranges have been seen."""
        return self.value is not None

    def update(self, high: float, low: float, close: float) -> float | None:
        """Add a bar's high, low and close; return the ATR, or None while warming up."""
        prev = self._prev_close
        true_range = high - low if prev is None else max(high - low, abs(high - prev), abs(low - prev))
        self._prev_close = close
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
