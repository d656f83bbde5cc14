"""Each statistic against a case computed by hand (the arithmetic is in the comments)."""

from __future__ import annotations

import math
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from decimal import Decimal

import pytest

from tradebus.stats import annualized_volatility
from tradebus.stats import cagr
from tradebus.stats import compute_statistics
from tradebus.stats import drawdown_series
from tradebus.stats import exposure
from tradebus.stats import max_drawdown
from tradebus.stats import moments
from tradebus.stats import periods_per_year
from tradebus.stats import profit_factor
from tradebus.stats import sharpe_ratio
from tradebus.stats import simple_returns
from tradebus.stats import sortino_ratio
from tradebus.stats import total_return
from tradebus.stats import win_rate

# equity 100 -> 110 -> 99 -> 108.9: returns +10 %, -10 %, +10 %
EQUITY = [100.0, 110.0, 99.0, 108.9]
RETURNS = [0.1, -0.1, 0.1]
D = Decimal


def test_simple_returns() -> None:
    assert list(simple_returns(EQUITY)) == pytest.approx(RETURNS)


def test_total_return() -> None:
    assert total_return(EQUITY) == pytest.approx(0.089)  # 108.9 / 100 - 1
    assert total_return([]) is None


def test_cagr_counts_periods_not_calendar_time() -> None:
    # 126 daily returns = half a year of 252: 1.21 over half a year is 1.21 ** 2 - 1 a year
    equity = [100.0] * 126 + [121.0]
    assert cagr(equity, 252) == pytest.approx(0.4641, abs=1e-4)
    assert cagr([100.0], 252) is None
    assert cagr([100.0, 0.0], 252) is None


def test_moments_mean_sample_deviation_and_downside() -> None:
    m = moments(RETURNS)
    assert m.samples == 3
    assert m.mean == pytest.approx(0.1 / 3)  # (0.1 - 0.1 + 0.1) / 3
    # deviations 0.0667, -0.1333, 0.0667: sum of squares 0.02667, / (n-1) = 0.013333
    assert m.stdev == pytest.approx(math.sqrt(0.04 / 3))
    assert m.downside == pytest.approx(math.sqrt(0.01 / 3))  # only -0.1 counts, over all 3


def test_annualised_volatility_sharpe_and_sortino() -> None:
    m = moments(RETURNS)
    assert annualized_volatility(m, 252) == pytest.approx(math.sqrt(0.04 / 3) * math.sqrt(252))
    # sharpe = (0.1/3) / sqrt(0.04/3) * sqrt(252) = 0.288675 * 15.874508 = 4.582576
    assert sharpe_ratio(m, 252) == pytest.approx(4.582576, abs=1e-6)
    # sortino = (0.1/3) / sqrt(0.01/3) * sqrt(252) = 0.577350 * 15.874508 = 9.165151
    assert sortino_ratio(m, 252) == pytest.approx(9.165151, abs=1e-6)


def test_ratios_are_undefined_without_variance_or_losses() -> None:
    flat = moments([0.01, 0.01, 0.01])
    assert sharpe_ratio(flat, 252) is None
    assert sortino_ratio(flat, 252) is None
    assert annualized_volatility(moments([0.01]), 252) is None


def test_max_drawdown_depth_and_recovery() -> None:
    # peak 120 at index 2, trough 90 at index 4 (-25 %), back to 120 at index 6
    curve = [100.0, 110.0, 120.0, 100.0, 90.0, 115.0, 120.0, 130.0]
    dd = max_drawdown(curve)
    assert (dd.depth, dd.peak, dd.trough, dd.recovery) == (pytest.approx(0.25), 2, 4, 6)
    assert max_drawdown([100.0, 110.0, 100.0]).recovery is None
    assert max_drawdown([1.0, 2.0, 3.0]).depth == 0.0


def test_drawdown_series() -> None:
    assert list(drawdown_series([100.0, 80.0, 120.0, 90.0])) == pytest.approx([0.0, -0.2, 0.0, -0.25])


def test_win_rate_and_profit_factor() -> None:
    pnls = [D(30), D(-10), D(20), D(-20), D(0)]
    assert win_rate(pnls) == pytest.approx(0.4)  # 2 winners of 5
    assert profit_factor(pnls) == pytest.approx(50 / 30)  # (30 + 20) / (10 + 20)
    assert profit_factor([D(5)]) is None
    assert win_rate([]) is None


def test_exposure_counts_periods_that_began_invested() -> None:
    # samples 0..4; periods 1..4 began after samples 0..3, of which 0 and 1 were invested
    assert exposure([1, 1, 0, 0, 1]) == pytest.approx(0.5)
    assert exposure([1]) is None


@pytest.mark.parametrize(
    ("period", "expected"),
    [
        (timedelta(minutes=1), 390 * 252),
        (timedelta(minutes=5), 78 * 252),
        (timedelta(hours=1), 6.5 * 252),
        (timedelta(days=1), 252),
        (timedelta(days=7), 52),
        (timedelta(days=14), 26),
    ],
)
def test_periods_per_year_from_the_bar_length(period: timedelta, expected: float) -> None:
    assert periods_per_year(period) == pytest.approx(expected)


def test_compute_statistics_puts_it_all_together() -> None:
    t0 = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
    times = [t0 + timedelta(minutes=i) for i in range(len(EQUITY))]
    stats = compute_statistics(times, EQUITY, [1, 1, 0, 0], [D(10), D(-1)], 252, min_days=0)
    assert stats.total_return == pytest.approx(0.089)
    assert stats.sharpe == pytest.approx(4.582576, abs=1e-6)
    assert stats.annualization_note is None
    assert stats.max_drawdown == pytest.approx(-0.1)  # 110 -> 99, negative as in empyrical
    assert stats.max_drawdown_duration == timedelta(minutes=2)  # peak at 1, never recovered: to the end (3)
    assert stats.exposure == pytest.approx(2 / 3)
    assert (stats.trade_count, stats.win_rate, stats.profit_factor) == (2, 0.5, 10.0)
    assert (stats.average_win, stats.average_loss, stats.expectancy) == (D(10), D(-1), D("4.5"))


def test_a_run_too_short_to_annualise_gives_no_annualised_figures_and_says_why() -> None:
    t0 = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
    times = [t0 + timedelta(minutes=i) for i in range(len(EQUITY))]
    # four one-minute samples: 4 / 390 of a trading day, far below the 20 days annualising needs
    stats = compute_statistics(times, EQUITY, [0, 0, 0, 0], [], periods_per_year(timedelta(minutes=1)))
    assert (stats.cagr, stats.annualized_volatility, stats.sharpe, stats.sortino) == (None, None, None, None)
    assert stats.annualization_note is not None
    assert "0.0 trading days" in stats.annualization_note
    assert "at least 20" in stats.annualization_note
    assert stats.total_return == pytest.approx(0.089)  # not annualised, so still given
    assert stats.max_drawdown == pytest.approx(-0.1)


@pytest.mark.parametrize(("samples", "annualised"), [(19, False), (20, True)])
def test_twenty_daily_bars_are_enough_to_annualise(samples: int, annualised: bool) -> None:
    t0 = datetime(2024, 1, 2, tzinfo=UTC)
    times = [t0 + timedelta(days=i) for i in range(samples)]
    equity = [100.0 + (i % 3) for i in range(samples)]
    stats = compute_statistics(times, equity, [1] * samples, [], 252)
    assert (stats.sharpe is not None) is annualised
    assert (stats.annualization_note is None) is annualised


def test_a_flat_curve_has_a_zero_drawdown_not_minus_zero() -> None:
    t0 = datetime(2024, 1, 2, tzinfo=UTC)
    stats = compute_statistics([t0, t0 + timedelta(days=1)], [100.0, 100.0], [0, 0], [], 252)
    assert math.copysign(1.0, stats.max_drawdown) == 1.0
