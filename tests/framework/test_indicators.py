"""Incremental indicators against straightforward reference computations."""

from __future__ import annotations

import itertools
import math
import random
import statistics
from collections import deque

import pytest

from framework.indicators import ATR
from framework.indicators import EMA
from framework.indicators import RSI
from framework.indicators import SMA
from framework.indicators import BollingerBands

RNG = random.Random(7)
PRICES = [100 + RNG.gauss(0, 1) for _ in range(300)]
for i in range(1, len(PRICES)):
    PRICES[i] = PRICES[i - 1] + RNG.gauss(0, 0.5)


def ref_sma(values: list[float], n: int) -> list[float | None]:
    return [None if i + 1 < n else sum(values[i + 1 - n : i + 1]) / n for i in range(len(values))]


def ref_ema(values: list[float], n: int) -> list[float | None]:
    out: list[float | None] = []
    ema: float | None = None
    for i in range(len(values)):
        if i + 1 < n:
            out.append(None)
            continue
        ema = sum(values[:n]) / n if ema is None else ema + 2 / (n + 1) * (values[i] - ema)
        out.append(ema)
    return out


def ref_rsi(values: list[float], n: int) -> list[float | None]:
    # Wilder: first averages are plain means of the first n changes, then smoothed
    changes = [b - a for a, b in itertools.pairwise(values)]
    out: list[float | None] = [None] * len(values)
    avg_gain = sum(max(c, 0) for c in changes[:n]) / n
    avg_loss = sum(max(-c, 0) for c in changes[:n]) / n
    for i in range(n, len(values)):
        if i > n:
            c = changes[i - 1]
            avg_gain = (avg_gain * (n - 1) + max(c, 0)) / n
            avg_loss = (avg_loss * (n - 1) + max(-c, 0)) / n
        out[i] = 100 - 100 / (1 + avg_gain / avg_loss)
    return out


def feed(ind: SMA | EMA | RSI, values: list[float]) -> list[float | None]:
    return [ind.update(v) for v in values]


def same(x: float | None, y: float | None) -> bool:
    return (x is None and y is None) or (x is not None and y is not None and math.isclose(x, y, rel_tol=1e-9))


def close(a: list[float | None], b: list[float | None]) -> bool:
    return all(same(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("n", [1, 5, 30])
def test_sma_matches_reference(n: int) -> None:
    assert close(feed(SMA(n), PRICES), ref_sma(PRICES, n))


def test_sma_stays_exact_over_long_runs() -> None:
    sma = SMA(3)
    for i in range(50_000):
        sma.update(1e6 + (i % 7) * 0.01)
    last = [1e6 + ((50_000 - k) % 7) * 0.01 for k in (3, 2, 1)]
    assert sma.value == pytest.approx(sum(last) / 3, rel=1e-12)


@pytest.mark.parametrize("n", [3, 12])
def test_ema_matches_reference(n: int) -> None:
    assert close(feed(EMA(n), PRICES), ref_ema(PRICES, n))


def test_rsi_matches_wilder_reference() -> None:
    assert close(feed(RSI(14), PRICES), ref_rsi(PRICES, 14))


def test_rsi_extremes() -> None:
    up = RSI(3)
    for v in [1, 2, 3, 4, 5]:
        up.update(v)
    assert up.value == 100.0
    flat = RSI(2)
    for v in [1, 1, 1]:
        flat.update(v)
    assert flat.value == 50.0


def test_bollinger_matches_population_stdev() -> None:
    bands = BollingerBands(20, 2.0)
    for i, v in enumerate(PRICES):
        out = bands.update(v)
        if i < 19:
            assert out is None
            continue
        window = PRICES[i - 19 : i + 1]
        mean, dev = statistics.fmean(window), statistics.pstdev(window)
        assert out is not None
        assert out.middle == pytest.approx(mean, rel=1e-9)
        assert out.upper == pytest.approx(mean + 2 * dev, rel=1e-7)
        assert out.lower == pytest.approx(mean - 2 * dev, rel=1e-7)


def test_atr_matches_wilder_reference() -> None:
    highs = [p + 0.6 for p in PRICES]
    lows = [p - 0.4 for p in PRICES]
    closes = PRICES
    # the first bar has no true range (no previous close), as in TA-Lib
    trs = [max(h - lo, abs(h - c0), abs(lo - c0)) for h, lo, c0 in zip(highs[1:], lows[1:], closes, strict=False)]
    expected = sum(trs[:14]) / 14
    atr = ATR(14)
    values = [atr.update(h, lo, c) for h, lo, c in zip(highs, lows, closes, strict=True)]
    assert values[13] is None
    assert values[14] == pytest.approx(expected)
    for tr in trs[14:]:
        expected = (expected * 13 + tr) / 14
    assert values[-1] == pytest.approx(expected)


def test_atr_warm_up_and_values_match_ta_lib() -> None:
    """TA-Lib 0.6 ``talib.ATR(h, l, c, timeperiod=3)`` on these bars gives NaN x3, then the values below."""
    highs = [10.0, 11.0, 12.0, 11.5, 12.5, 13.0, 12.8, 13.5]
    lows = [h - 1.0 for h in highs]
    closes = [h - 0.5 for h in highs]
    atr = ATR(3)
    values = [atr.update(h, lo, c) for h, lo, c in zip(highs, lows, closes, strict=True)]
    assert values[:3] == [None, None, None]
    expected = [1.33333333, 1.38888889, 1.25925926, 1.17283951, 1.181893]
    assert values[3:] == [pytest.approx(v, abs=1e-6) for v in expected]


def test_atr_agrees_with_ta_lib_when_installed() -> None:
    talib = pytest.importorskip("talib")
    np = pytest.importorskip("numpy")
    highs = np.array([p + 0.6 for p in PRICES])
    lows = np.array([p - 0.4 for p in PRICES])
    closes = np.array(PRICES, dtype=float)
    reference = talib.ATR(highs, lows, closes, timeperiod=14)
    atr = ATR(14)
    ours = [atr.update(h, lo, c) for h, lo, c in zip(highs, lows, closes, strict=True)]
    for mine, theirs in zip(ours, reference, strict=True):
        assert (mine is None) == bool(np.isnan(theirs))
        if mine is not None:
            assert mine == pytest.approx(theirs, rel=1e-9)


@pytest.mark.parametrize("cls", [SMA, EMA, RSI, ATR])
def test_period_must_be_positive(cls: type) -> None:
    with pytest.raises(ValueError, match="period"):
        cls(0)


def test_bollinger_width_stays_exact_over_a_long_run_at_a_high_price() -> None:
    """300k quiet, trending prints near 50,000: the old running sum of squares drifted ~3.6% here."""
    rng = random.Random(11)
    bands = BollingerBands(20, 2.0)
    price = 50_000.0
    window: deque[float] = deque(maxlen=20)
    for i in range(300_000):
        price += 0.01 + rng.gauss(0, 0.05)
        x = round(price, 2)
        window.append(x)
        out = bands.update(x)
        if i % 25_000 == 24_999 or i == 299_999:
            assert out is not None
            mean, dev = statistics.fmean(window), statistics.pstdev(window)
            assert out.middle == pytest.approx(mean, rel=1e-12)
            assert out.upper - out.lower == pytest.approx(4 * dev, rel=1e-6), f"after {i + 1} updates"
