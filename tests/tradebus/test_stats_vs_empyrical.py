"""Our statistics against empyrical (and quantstats) on the same series: the conventions agree."""

from __future__ import annotations

import random
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest

from tradebus.stats import compute_statistics

empyrical = pytest.importorskip("empyrical")
pd = pytest.importorskip("pandas")


def _curve(days: int = 300, seed: int = 7) -> tuple[list[datetime], list[float]]:
    rng = random.Random(seed)
    t0 = datetime(2023, 1, 3, 21, tzinfo=UTC)
    times = [t0 + timedelta(days=i) for i in range(days + 1)]
    equity = [100_000.0]
    for _ in range(days):
        equity.append(equity[-1] * (1.0 + rng.gauss(0.0004, 0.012)))
    return times, equity


def test_sharpe_sortino_volatility_drawdown_and_cagr_agree_with_empyrical() -> None:
    times, equity = _curve()
    stats = compute_statistics(times, equity, [1] * len(equity), [], 252)
    returns = pd.Series(equity, index=pd.DatetimeIndex(times)).pct_change().iloc[1:]
    assert stats.sharpe == pytest.approx(empyrical.sharpe_ratio(returns, annualization=252), rel=1e-9)
    assert stats.sortino == pytest.approx(empyrical.sortino_ratio(returns, annualization=252), rel=1e-9)
    assert stats.annualized_volatility == pytest.approx(empyrical.annual_volatility(returns, annualization=252),
                                                        rel=1e-9)  # fmt: skip
    assert stats.max_drawdown == pytest.approx(empyrical.max_drawdown(returns), rel=1e-9)
    assert stats.max_drawdown < 0
    assert stats.cagr == pytest.approx(empyrical.cagr(returns, annualization=252), rel=1e-9)


def test_frames_returns_go_into_empyrical_as_they_are() -> None:
    from tests.tradebus.frames_fixture import small_result

    result = small_result()
    returns = result.frames.returns
    stats = result.statistics
    assert stats.max_drawdown == pytest.approx(empyrical.max_drawdown(returns), rel=1e-12)
    assert returns.iloc[0] == pytest.approx(0.01)
