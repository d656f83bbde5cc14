"""Performance statistics: pure functions of an equity curve and of closed trades.

Conventions (the same in every report):

* **Returns** are simple period returns of the equity curve, ``e[i] / e[i-1] - 1``, one per sample
  (a backtest samples equity at every distinct bar end time).
* **Annualisation** multiplies by ``periods_per_year``, derived from the bar length by
  :func:`periods_per_year`: 252 trading days a year, and for intraday bars a 6.5-hour session
  (1-minute bars: 390 x 252 = 98,280 periods), 252 for daily bars, 52 for weekly bars. Overnight
  gaps count as one period.
* **Risk-free rate** is zero. Standard deviations are sample deviations (n - 1).
* **Sharpe** = mean / stdev x sqrt(periods). **Sortino** = mean / downside deviation x
  sqrt(periods), where the downside deviation is ``sqrt(mean(min(r, 0)^2))`` over *all* returns.
* **CAGR** counts time in periods, as empyrical and quantstats do: the run lasts
  ``len(returns) / periods_per_year`` years (253 daily samples = 252 returns = one year), so nights,
  weekends and holidays are not time in the market. It is not calendar time.
* **Too short to annualise:** CAGR, volatility, Sharpe and Sortino are None when the run covers
  fewer than :data:`MIN_ANNUALISED_DAYS` trading days' worth of periods (20: about a month), and
  ``annualization_note`` says so: a gain compounded from a one-hour run says nothing about a year.
* **Max drawdown** is the largest fall from a running peak, as a *negative* fraction of the peak
  (-0.25 = a 25 % fall), the sign empyrical and quantstats use; its **duration** runs from that
  peak to the first sample back at or above it (or to the last sample, if equity never recovered).
* **Per trade** (closed round trips, flat to flat): **win rate** is winning trades (net P&L > 0)
  over all trades; **profit factor** is gross profit over gross loss; **average win** and
  **average loss** are the mean net P&L of the winners and of the losers (the loss negative);
  **expectancy** is the mean net P&L of all trades. They are not per-period figures: empyrical's
  and quantstats' ``win_rate`` count winning *periods* instead.
* **Per period:** **exposure** is the share of periods that began with an open position.

Functions return None where a statistic is undefined (no variance, no losses, too few samples).
Floats are fine for ratios (analytics, not money); the per-trade money figures stay Decimal.
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
MIN_ANNUALISED_DAYS = 20.0
"""Trading days' worth of periods a run needs before CAGR, volatility, Sharpe and Sortino are given."""
SESSION = timedelta(hours=6, minutes=30)
_WEEK = timedelta(days=7)
_WEEKS_PER_YEAR = 52


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
    if period >= _WEEK:  # weeks and months count calendar weeks: 52 weekly bars a year, as empyrical
        return _WEEKS_PER_YEAR / (period / _WEEK)
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


def cagr(equity: Sequence[float], periods: float) -> float | None:
    """Compound annual growth rate, counting ``len(equity) - 1`` periods of ``1 / periods`` years each.

    This is empyrical's and quantstats' convention (years = number of returns / periods per year), so
    overnight and weekend gaps do not count as time in the market.
    """
    years = (len(equity) - 1) / periods if periods > 0 else 0.0
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


def average_win(pnls: Sequence[Decimal]) -> Decimal | None:
    """Mean net P&L of the winning trades (None without winners)."""
    wins = [p for p in pnls if p > 0]
    return sum(wins, Decimal(0)) / len(wins) if wins else None


def average_loss(pnls: Sequence[Decimal]) -> Decimal | None:
    """Mean net P&L of the losing trades, negative (None without losers)."""
    losses = [p for p in pnls if p < 0]
    return sum(losses, Decimal(0)) / len(losses) if losses else None


def expectancy(pnls: Sequence[Decimal]) -> Decimal | None:
    """Mean net P&L per trade (None without trades)."""
    return sum(pnls, Decimal(0)) / len(pnls) if pnls else None


def annualization_note(samples: int, periods: float, min_days: float = MIN_ANNUALISED_DAYS) -> str | None:
    """Say why annualised figures are withheld, or None when the run is long enough.

    Args:
        samples: Equity samples (periods) in the run.
        periods: Periods per year (see :func:`periods_per_year`).
        min_days: Trading days' worth of periods needed.
    """
    days = samples / (periods / TRADING_DAYS)
    if days >= min_days:
        return None
    return (
        f"not annualised: the run covers {days:.1f} trading days of data; CAGR, volatility, Sharpe and "
        f"Sortino need at least {min_days:g}"
    )


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
        cagr: Compound annual growth rate over the periods (not calendar time; None when too short).
        annualized_volatility: Annualised sample deviation of period returns (None when too short).
        sharpe: Annualised Sharpe ratio, risk-free rate zero (None when too short).
        sortino: Annualised Sortino ratio, target zero (None when too short).
        annualization_note: Why the annualised figures are None, or None when they are given.
        max_drawdown: Deepest fall from a peak, as a negative fraction (-0.25 = 25 %), as empyrical.
        max_drawdown_duration: Peak to recovery (or to the end) of that drawdown.
        win_rate: Per trade: share of winning round-trip trades.
        profit_factor: Per trade: gross profit over gross loss.
        average_win: Per trade: mean net P&L of the winners, in account currency.
        average_loss: Per trade: mean net P&L of the losers (negative), in account currency.
        expectancy: Per trade: mean net P&L of all trades, in account currency.
        exposure: Per period: share of periods with an open position.
        trade_count: Number of closed round-trip trades.
        periods_per_year: The annualisation factor used.
    """

    total_return: float | None
    cagr: float | None
    annualized_volatility: float | None
    sharpe: float | None
    sortino: float | None
    annualization_note: str | None = None
    max_drawdown: float
    max_drawdown_duration: timedelta
    win_rate: float | None
    profit_factor: float | None
    average_win: Decimal | None = None
    average_loss: Decimal | None = None
    expectancy: Decimal | None = None
    exposure: float | None
    trade_count: int
    periods_per_year: float


def compute_statistics(
    timestamps: Sequence[datetime],
    equity: Sequence[float],
    invested: Sequence[int],
    pnls: Sequence[Decimal],
    periods: float,
    *,
    min_days: float = MIN_ANNUALISED_DAYS,
) -> Statistics:
    """Compute every statistic of a run.

    Args:
        timestamps: Time of each equity sample, ascending.
        equity: Equity at each sample.
        invested: 1 where a position was open after the sample, else 0.
        pnls: Net P&L of each closed trade.
        periods: Annualisation factor (see :func:`periods_per_year`).
        min_days: Trading days' worth of samples needed before annualised figures are given (0: always).
    """
    m = moments(simple_returns(equity))
    dd = max_drawdown(equity)
    duration = timedelta(0)
    if dd.depth > 0:
        duration = timestamps[dd.recovery if dd.recovery is not None else len(timestamps) - 1] - timestamps[dd.peak]
    note = annualization_note(len(equity), periods, min_days)
    annualised = note is None
    return Statistics(
        total_return=total_return(equity),
        cagr=cagr(equity, periods) if annualised else None,
        annualized_volatility=annualized_volatility(m, periods) if annualised else None,
        sharpe=sharpe_ratio(m, periods) if annualised else None,
        sortino=sortino_ratio(m, periods) if annualised else None,
        annualization_note=note,
        max_drawdown=-dd.depth if dd.depth else 0.0,
        max_drawdown_duration=duration,
        win_rate=win_rate(pnls),
        profit_factor=profit_factor(pnls),
        average_win=average_win(pnls),
        average_loss=average_loss(pnls),
        expectancy=expectancy(pnls),
        exposure=exposure(invested),
        trade_count=len(pnls),
        periods_per_year=periods,
    )
