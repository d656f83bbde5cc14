"""Performance statistics: pure functions of an equity curve and of closed trades.

Conventions (the same in every report):

* **Returns** are simple period returns of the equity curve, ``e[i] / e[i-1] - 1``, one per sample
  (a backtest samples equity at every distinct bar end time).
* **Annualisation** multiplies by ``periods_per_year``, derived from the bar length by
  :func:`periods_per_year`: 252 trading days a year, and for intraday bars a 6.5-hour session
  (1-minute bars: 390 x 252 = 98,280 periods). Overnight gaps count as one period.
* **Risk-free rate** is zero. Standard deviations are sample deviations (n - 1).
* **Sharpe** = mean / stdev x sqrt(periods). **Sortino** = mean / downside deviation x
  sqrt(periods), where the downside deviation is ``sqrt(mean(min(r, 0)^2))`` over *all* returns.
* **CAGR** uses calendar time between the first and last sample, in years of 365.25 days (None
  when a very short span makes it overflow a float).
* **Max drawdown** is the largest fall from a running peak, as a positive fraction of the peak;
  its **duration** runs from that peak to the first sample back at or above it (or to the last
  sample, if equity never recovered).
* **Win rate** is winning trades (net P&L > 0) over all trades; **profit factor** is gross profit
  over gross loss. **Exposure** is the share of periods that began with an open position.

Functions return None where a statistic is undefined (no variance, no losses, too few samples).
Floats are fine here: these are analytics, not money.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
from datetime import datetime
from datetime import timedelta
from decimal import Decimal
from typing import NamedTuple

from framework.models import FrozenModel

TRADING_DAYS = 252
SESSION = timedelta(hours=6, minutes=30)
_YEAR_SECONDS = 365.25 * 86_400


def periods_per_year(period: timedelta, trading_days: int = TRADING_DAYS, session: timedelta = SESSION) -> float:
    """Return how many ``period``-long bars a year holds: per session for intraday bars, else per trading day.

    Raises:
        ValueError: If ``period`` is not positive.
    """
    if period <= timedelta(0):
        msg = f"period must be positive, received {period}"
        raise ValueError(msg)
    if period < timedelta(days=1):
        return trading_days * (session / period)
    return trading_days / (period / timedelta(days=1))


def simple_returns(equity: Iterable[float]) -> Iterator[float]:
    """Yield ``e[i] / e[i-1] - 1`` for consecutive equity values."""
    it = iter(equity)
    previous = next(it, None)
    for value in it:
        assert previous is not None
        yield value / previous - 1.0 if previous else 0.0
        previous = value


def total_return(equity: Sequence[float]) -> float | None:
    """Return ``last / first - 1``, or None with fewer than one sample or a zero start."""
    if not equity or not equity[0]:
        return None
    return equity[-1] / equity[0] - 1.0


def cagr(equity: Sequence[float], start: datetime, end: datetime) -> float | None:
    """Compound annual growth rate over the calendar time from ``start`` to ``end``."""
    years = (end - start).total_seconds() / _YEAR_SECONDS
    total = total_return(equity)
    if total is None or years <= 0 or total <= -1.0:
        return None
    try:
        return float((1.0 + total) ** (1.0 / years) - 1.0)
    except OverflowError:  # a gain compounded over minutes: too large for a float to annualise
        return None


class Moments(NamedTuple):
    """One pass over returns: number of samples, mean, sample deviation, downside deviation."""

    samples: int
    mean: float
    stdev: float | None
    downside: float | None


def moments(returns: Iterable[float]) -> Moments:
    """Mean, sample standard deviation and downside deviation of ``returns`` in one pass (Welford)."""
    n, mean, m2, down = 0, 0.0, 0.0, 0.0
    for r in returns:
        n += 1
        delta = r - mean
        mean += delta / n
        m2 += delta * (r - mean)
        if r < 0:
            down += r * r
    stdev = math.sqrt(m2 / (n - 1)) if n > 1 else None
    downside = math.sqrt(down / n) if n else None
    return Moments(n, mean, stdev, downside)


def annualized_volatility(m: Moments, periods: float) -> float | None:
    """Sample deviation of returns times ``sqrt(periods)``."""
    return None if m.stdev is None else m.stdev * math.sqrt(periods)


def sharpe_ratio(m: Moments, periods: float) -> float | None:
    """Annualised Sharpe ratio with a zero risk-free rate (None without variance)."""
    if not m.stdev:
        return None
    return m.mean / m.stdev * math.sqrt(periods)


def sortino_ratio(m: Moments, periods: float) -> float | None:
    """Annualised Sortino ratio with a zero target (None without losing periods)."""
    if not m.downside:
        return None
    return m.mean / m.downside * math.sqrt(periods)


class Drawdown(NamedTuple):
    """The deepest drawdown of an equity curve.

    Attributes:
        depth: Fall from the peak as a positive fraction (0.25 = 25 %).
        peak: Index of the peak sample.
        trough: Index of the lowest sample after the peak.
        recovery: Index of the first sample back at the peak, or None if never.
    """

    depth: float
    peak: int
    trough: int
    recovery: int | None


def max_drawdown(equity: Sequence[float]) -> Drawdown:
    """Find the largest peak-to-trough fall of ``equity`` and when it recovered."""
    best = Drawdown(0.0, 0, 0, 0)
    peak_value, peak_at = -math.inf, 0
    for i, value in enumerate(equity):
        if value >= peak_value:
            peak_value, peak_at = value, i
        elif peak_value > 0 and 1.0 - value / peak_value > best.depth:
            best = Drawdown(1.0 - value / peak_value, peak_at, i, None)
    if best.depth == 0.0:
        return best
    level = equity[best.peak]
    recovery = next((i for i in range(best.trough + 1, len(equity)) if equity[i] >= level), None)
    return best._replace(recovery=recovery)


def drawdown_series(equity: Iterable[float]) -> Iterator[float]:
    """Yield the drawdown (a fraction <= 0) of every sample from its running peak."""
    peak = -math.inf
    for value in equity:
        peak = max(peak, value)
        yield value / peak - 1.0 if peak > 0 else 0.0


def win_rate(pnls: Sequence[Decimal]) -> float | None:
    """Share of trades with a positive net P&L (None without trades)."""
    if not pnls:
        return None
    return sum(1 for p in pnls if p > 0) / len(pnls)


def profit_factor(pnls: Sequence[Decimal]) -> float | None:
    """Gross profit over gross loss (None without losing trades)."""
    loss = -sum((p for p in pnls if p < 0), Decimal(0))
    if not loss:
        return None
    return float(sum((p for p in pnls if p > 0), Decimal(0)) / loss)


def exposure(invested: Sequence[int]) -> float | None:
    """Share of periods that began with an open position (``invested[i]`` is 1 after sample i)."""
    if len(invested) < 2:
        return None
    return sum(invested[:-1]) / (len(invested) - 1)


class Statistics(FrozenModel):
    """Summary statistics of one run (definitions in :mod:`tradebus.stats`).

    Attributes:
        total_return: Last equity over first, minus one.
        cagr: Compound annual growth rate.
        annualized_volatility: Annualised sample deviation of period returns.
        sharpe: Annualised Sharpe ratio, risk-free rate zero.
        sortino: Annualised Sortino ratio, target zero.
        max_drawdown: Deepest fall from a peak, as a positive fraction.
        max_drawdown_duration: Peak to recovery (or to the end) of that drawdown.
        win_rate: Share of winning round-trip trades.
        profit_factor: Gross profit over gross loss.
        exposure: Share of periods with an open position.
        trade_count: Number of closed round-trip trades.
        periods_per_year: The annualisation factor used.
    """

    total_return: float | None
    cagr: float | None
    annualized_volatility: float | None
    sharpe: float | None
    sortino: float | None
    max_drawdown: float
    max_drawdown_duration: timedelta
    win_rate: float | None
    profit_factor: float | None
    exposure: float | None
    trade_count: int
    periods_per_year: float


def compute_statistics(
    timestamps: Sequence[datetime],
    equity: Sequence[float],
    invested: Sequence[int],
    pnls: Sequence[Decimal],
    periods: float,
) -> Statistics:
    """Compute every statistic of a run.

    Args:
        timestamps: Time of each equity sample, ascending.
        equity: Equity at each sample.
        invested: 1 where a position was open after the sample, else 0.
        pnls: Net P&L of each closed trade.
        periods: Annualisation factor (see :func:`periods_per_year`).
    """
    m = moments(simple_returns(equity))
    dd = max_drawdown(equity)
    duration = timedelta(0)
    if dd.depth > 0:
        duration = timestamps[dd.recovery if dd.recovery is not None else len(timestamps) - 1] - timestamps[dd.peak]
    return Statistics(
        total_return=total_return(equity),
        cagr=cagr(equity, timestamps[0], timestamps[-1]) if timestamps else None,
        annualized_volatility=annualized_volatility(m, periods),
        sharpe=sharpe_ratio(m, periods),
        sortino=sortino_ratio(m, periods),
        max_drawdown=dd.depth,
        max_drawdown_duration=duration,
        win_rate=win_rate(pnls),
        profit_factor=profit_factor(pnls),
        exposure=exposure(invested),
        trade_count=len(pnls),
        periods_per_year=periods,
    )
