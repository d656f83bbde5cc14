"""Portfolio accounting from fills, against hand-computed figures."""

from __future__ import annotations

from decimal import Decimal

from framework.models import Fill
from framework.models import Side
from framework.portfolio import Portfolio
from framework.testing import DEFAULT_START

T0 = DEFAULT_START
D = Decimal


def fill(side: str, qty: int, price: str, commission: str = "0", symbol: str = "A") -> Fill:
    return Fill(
        execution_id=f"{side}{qty}{price}{symbol}",
        client_order_id="c",
        symbol=symbol,
        side=Side(side),
        quantity=D(qty),
        price=D(price),
        commission=D(commission),
        ts=T0,
    )


def test_buy_then_sell_realises_profit_net_of_commission() -> None:
    p = Portfolio(starting_cash=D(10_000))
    p.apply_fill(fill("buy", 100, "10.00", "1.00"))
    pos = p.apply_fill(fill("sell", 100, "10.50", "1.00"))
    assert pos.quantity == 0
    assert pos.realized_pnl == D("48.00")  # 50 gross - 2 commission
    assert p.cash == D("10048.00")
    assert p.equity == D("10048.00")
    assert p.commissions == D("2.00")


def test_average_price_moves_only_when_growing() -> None:
    p = Portfolio(starting_cash=D(0))
    p.apply_fill(fill("buy", 100, "10"))
    p.apply_fill(fill("buy", 100, "12"))
    pos = p.apply_fill(fill("sell", 50, "15"))
    assert pos.average_price == D(11)
    assert pos.quantity == 150
    assert pos.realized_pnl == D(200)  # 50 * (15 - 11)


def test_short_position_profit_and_mark_to_market() -> None:
    p = Portfolio(starting_cash=D(1000))
    p.apply_fill(fill("sell", 10, "50"))
    p.mark("A", 45.0)
    pos = p.position("A", T0)
    assert pos.quantity == -10
    assert pos.unrealized_pnl == D(50)
    assert p.cash == D(1500)
    assert p.equity == D(1050)  # 1500 cash - 450 short value
    assert p.gross_exposure == D(450)


def test_crossing_through_zero_opens_remainder_at_fill_price() -> None:
    p = Portfolio()
    p.apply_fill(fill("buy", 10, "100"))
    pos = p.apply_fill(fill("sell", 15, "110"))
    assert pos.quantity == -5
    assert pos.average_price == D(110)
    assert pos.realized_pnl == D(100)


def test_marks_of_unheld_symbols_are_ignored_and_account_snapshot_adds_up() -> None:
    p = Portfolio(starting_cash=D(5000), account_id="DU1")
    p.mark("ZZZ", 1.0)
    p.apply_fill(fill("buy", 10, "100", symbol="B"))
    p.mark("B", 101.5)
    acct = p.account(T0)
    assert acct.account_id == "DU1"
    assert acct.cash == D(4000)
    assert acct.equity == D(5015)
    assert acct.unrealized_pnl == D(15)
    assert [x.symbol for x in p.positions(T0)] == ["B"]
    assert p.position("ZZZ", T0).is_flat


def test_multiplier_scales_cash_and_pnl() -> None:
    p = Portfolio(starting_cash=D(100_000))
    p.apply_fill(fill("buy", 1, "4000", symbol="ES"), multiplier=D(50))
    pos = p.apply_fill(fill("sell", 1, "4010", symbol="ES"), multiplier=D(50))
    assert pos.realized_pnl == D(500)
    assert p.cash == D(100_500)
