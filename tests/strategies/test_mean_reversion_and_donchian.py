"""The shipped mean-reversion and Donchian strategies, run in backtest mode on data built to trigger their rules."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from framework.history import BarData
from framework.history import series_from_bars
from framework.marketdata import Bar
from framework.models import OrderStatus
from framework.models import OrderType
from framework.models import Side
from framework.testing import DEFAULT_START
from strategies.donchian import DonchianBreakout
from strategies.donchian import DonchianConfig
from strategies.mean_reversion import MeanReversion
from strategies.mean_reversion import MeanReversionConfig
from tradebus import run_backtest

MINUTE = timedelta(minutes=1)


def data(closes: list[float], spread: float = 0.2) -> BarData:
    bars = []
    previous = closes[0]
    for i, close in enumerate(closes):
        high = max(previous, close) + spread
        low = min(previous, close) - spread
        bars.append(Bar("AAPL", DEFAULT_START + MINUTE * i, MINUTE, previous, high, low, close, 1000.0))
        previous = close
    return BarData([series_from_bars(bars, "AAPL", MINUTE, "test")])


def wiggle(n: int, level: float) -> list[float]:
    return [level + (0.3 if i % 2 else -0.3) for i in range(n)]


def test_mean_reversion_buys_the_stretched_dip_and_exits_at_the_mean() -> None:
    closes = [*wiggle(30, 100.0), 99.0, 97.0, 95.0, 93.0, 96.0, 99.0, 100.5, 100.0, 100.2]
    result = run_backtest(MeanReversion(MeanReversionConfig(period=20, rsi_period=5)), data(closes))
    sides = [f.side for f in result.fills]
    assert sides == [Side.BUY, Side.SELL]
    buy, sell = result.fills
    assert buy.price < Decimal("99.4")  # below the quiet channel's lower band, 100 - 2 x 0.3
    assert sell.price > buy.price  # sold back near the mean, at a profit
    assert len(result.trades) == 1


def test_mean_reversion_stays_out_of_a_quiet_market() -> None:
    result = run_backtest(MeanReversion(), data(wiggle(200, 50.0)))
    assert result.fills == []


@pytest.fixture
def breakout_run() -> object:
    # a quiet channel, a breakout bar, then a rally through the take-profit
    closes = [*wiggle(25, 100.0), 102.0, 103.0, 104.0, 105.0, 106.0, 107.0, 108.0, 109.0, 110.0]
    config = DonchianConfig(channel=20, atr_period=5, take_profit_atr=2.0, stop_loss_atr=1.0)
    return run_backtest(DonchianBreakout(config), data(closes))


def test_donchian_enters_on_the_breakout_with_a_bracket(breakout_run: object) -> None:
    orders = breakout_run.orders  # type: ignore[attr-defined]
    entry, profit, loss = orders[:3]
    assert entry.request.order_type is OrderType.MARKET
    assert profit.request.parent_id == entry.client_order_id == loss.request.parent_id
    assert profit.request.order_type is OrderType.LIMIT
    assert loss.request.order_type is OrderType.STOP
    assert profit.request.oca_group == loss.request.oca_group
    assert profit.request.limit_price > loss.request.stop_price


def test_donchian_bracket_exits_at_the_take_profit_and_cancels_the_stop(breakout_run: object) -> None:
    orders = breakout_run.orders  # type: ignore[attr-defined]
    statuses = [o.status for o in orders[:3]]
    assert statuses == [OrderStatus.FILLED, OrderStatus.FILLED, OrderStatus.CANCELLED]
    fills = breakout_run.fills  # type: ignore[attr-defined]
    assert [f.side for f in fills[:2]] == [Side.BUY, Side.SELL]
    assert fills[1].price >= orders[1].request.limit_price


def test_donchian_bracket_exits_at_the_stop_loss_and_cancels_the_take_profit() -> None:
    # a quiet channel, a breakout bar, then a slide through the stop (about one ATR below the entry)
    closes = [*wiggle(25, 100.0), 102.0, 101.0, 99.0, 97.0, 95.0]
    config = DonchianConfig(channel=20, atr_period=5, take_profit_atr=2.0, stop_loss_atr=1.0)
    result = run_backtest(DonchianBreakout(config), data(closes))
    entry, profit, loss = result.orders[:3]
    assert (profit.request.order_type, loss.request.order_type) == (OrderType.LIMIT, OrderType.STOP)
    assert [o.status for o in (entry, profit, loss)] == [OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.FILLED]
    assert len(result.orders) == 3  # no re-entry while the price keeps falling
    buy, sell = result.fills
    assert (buy.side, sell.side) == (Side.BUY, Side.SELL)
    assert (buy.client_order_id, sell.client_order_id) == (entry.client_order_id, loss.client_order_id)
    assert sell.price <= loss.request.stop_price < buy.price
    assert len(result.trades) == 1
    assert result.trades[0].pnl < 0
