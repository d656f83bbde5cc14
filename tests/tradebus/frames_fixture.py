"""A small, hand-checkable run result shared by the pandas tests."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from decimal import Decimal

from framework.models import Fill
from framework.models import Position
from framework.models import Side
from tradebus.results import EquityCurve
from tradebus.results import RunResult

T0 = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
EQUITY = (1000.0, 1010.0, 999.9, 1009.899, 1020.0)
D = Decimal


def _fill(n: int, side: Side, quantity: int, price: str, commission: str, symbol: str = "AAPL") -> Fill:
    return Fill(
        execution_id=f"E{n}", client_order_id=f"C{n}", symbol=symbol, side=side, quantity=D(quantity),
        price=D(price), commission=D(commission), ts=T0 + timedelta(minutes=n),
    )  # fmt: skip


def small_result() -> RunResult:
    """Equity +1 %, -1 %, +1 %, then a day later +1 %; one closed AAPL trade; 5 MSFT still held."""
    curve = EquityCurve(timedelta(minutes=1))
    for i, equity in enumerate(EQUITY):
        later = timedelta(days=1) if i == len(EQUITY) - 1 else timedelta(0)
        curve.append((T0 + timedelta(minutes=i) + later).timestamp(), equity, True)
    fills = [
        _fill(1, Side.BUY, 10, "100", "1"),
        _fill(3, Side.SELL, 10, "101.5", "1"),
        _fill(4, Side.BUY, 5, "50", "0.5", symbol="MSFT"),
    ]
    held = Position(symbol="MSFT", quantity=D(5), average_price=D(50), unrealized_pnl=D(10), last_price=D(52),
                    ts=T0 + timedelta(days=1))  # fmt: skip
    return RunResult(
        orders=[], fills=fills, curve=curve, starting_cash=D(1000), final_cash=D("762.5"),
        final_equity=D("1022.5"), positions=[held, Position(symbol="AAPL", ts=T0)],
    )  # fmt: skip
