"""Results as pandas objects: the frames' shapes and values, a real backtest, and the missing-extra message."""

from __future__ import annotations

import sys
from datetime import timedelta
from decimal import Decimal

import pytest

from strategies.sma_cross import SmaCross
from tests.tradebus.frames_fixture import EQUITY
from tests.tradebus.frames_fixture import T0
from tests.tradebus.frames_fixture import small_result
from tradebus.backtest import run_backtest
from tradebus.data import load_bars
from tradebus.frames import require_pandas
from tradebus.sample_data import sample_data_path

pd = pytest.importorskip("pandas")


def test_equity_returns_and_drawdown_series() -> None:
    frames = small_result().frames
    equity = frames.equity
    assert list(equity) == list(EQUITY)
    assert str(equity.index.tz) == "UTC"
    assert equity.index[0] == pd.Timestamp(T0)
    assert list(frames.returns) == pytest.approx([0.01, -0.01, 0.01, 1020.0 / 1009.899 - 1])
    assert len(frames.returns) == len(EQUITY) - 1
    drawdown = frames.drawdown
    assert drawdown.max() == 0.0
    assert drawdown.min() == pytest.approx(999.9 / 1010.0 - 1)


def test_daily_returns_compound_each_day_from_the_previous_close() -> None:
    daily = small_result().frames.daily_returns
    assert len(daily) == 2
    assert daily.iloc[0] == pytest.approx(1009.899 / 1000.0 - 1)  # first day: from the first sample
    assert daily.iloc[1] == pytest.approx(1020.0 / 1009.899 - 1)


def test_trades_fills_and_positions_frames() -> None:
    frames = small_result().frames
    trades = frames.trades
    assert list(trades["symbol"]) == ["AAPL"]
    row = trades.iloc[0]
    assert (row["side"], row["quantity"], row["commission"], row["pnl"]) == ("buy", 10.0, 2.0, 13.0)
    assert row["holding_time"] == pd.Timedelta(minutes=2)
    assert str(trades["entry_time"].dt.tz) == "UTC"
    fills = frames.fills
    assert list(fills["execution_id"]) == ["E1", "E3", "E4"]
    assert fills["price"].dtype == "float64"
    positions = frames.positions
    assert list(positions.index) == ["MSFT"]  # the flat AAPL position is not open
    assert positions.loc["MSFT", "market_value"] == 260.0
    assert positions.loc["MSFT", "unrealized_pnl"] == 10.0


def test_frames_of_a_real_backtest_match_its_result() -> None:
    result = run_backtest(SmaCross(), load_bars(sample_data_path(), timedelta(minutes=1)))
    frames = result.frames
    assert len(frames.equity) == len(result.curve)
    assert len(frames.trades) == len(result.trades) > 0
    assert len(frames.fills) == len(result.fills)
    orders = frames.orders
    assert list(orders.index) == [o.client_order_id for o in result.orders]
    assert list(orders["status"]) == [o.status.value for o in result.orders]
    assert orders["quantity"].dtype == "float64"
    assert frames.trades["pnl"].sum() == pytest.approx(float(sum((t.pnl for t in result.trades), Decimal(0))))
    assert frames.returns.add(1).prod() == pytest.approx(result.curve.equity[-1] / result.curve.equity[0])


def test_repr_html_for_notebooks_says_what_the_run_did() -> None:
    page = small_result()._repr_html_()
    assert "<table>" in page
    assert "Open positions</th><td>MSFT 5</td>" in page
    assert "not annualised" in page  # five one-minute samples
    assert "RunResult completed" in repr(small_result())


def test_missing_pandas_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"pip install 'tradebus\[pandas\]'"):
        require_pandas()
    with pytest.raises(ImportError, match="tradebus\\[pandas\\]"):
        _ = small_result().frames.equity
