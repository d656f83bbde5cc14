"""Round-trip trades from fills, and the deterministic exports of a run."""

from __future__ import annotations

import json
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from decimal import Decimal

from framework.models import Fill
from framework.models import Side
from tradebus.results import EquityCurve
from tradebus.results import RunResult
from tradebus.results import round_trips

T0 = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
D = Decimal


def fill(n: int, side: Side, quantity: int, price: str, commission: str = "0", symbol: str = "AAPL") -> Fill:
    return Fill(
        execution_id=f"E{n}", client_order_id=f"C{n}", symbol=symbol, side=side, quantity=D(quantity),
        price=D(price), commission=D(commission), ts=T0 + timedelta(minutes=n),
    )  # fmt: skip


def test_a_long_trade_built_from_partial_entries_and_exits() -> None:
    fills = [fill(1, Side.BUY, 50, "100"), fill(2, Side.BUY, 50, "102"), fill(3, Side.SELL, 100, "105", "2")]
    (trade,) = round_trips(fills)
    assert (trade.side, trade.quantity, trade.entry_price, trade.exit_price) == (Side.BUY, D(100), D(101), D(105))
    assert trade.pnl == D(398)  # (105 - 101) * 100 - 2
    assert (trade.entry_time, trade.exit_time) == (fills[0].ts, fills[2].ts)


def test_a_fill_through_zero_closes_one_trade_and_opens_a_short_one() -> None:
    fills = [fill(1, Side.BUY, 100, "100"), fill(2, Side.SELL, 300, "110", "3"), fill(3, Side.BUY, 200, "105")]
    long, short = round_trips(fills)
    assert long.pnl == D(999)  # 10 * 100 - 1 (a third of the commission)
    assert (short.side, short.quantity, short.pnl) == (Side.SELL, D(200), D(998))  # 5 * 200 - 2


def test_open_positions_are_not_trades_and_symbols_are_separate() -> None:
    fills = [
        fill(1, Side.BUY, 10, "100"),
        fill(2, Side.BUY, 10, "50", symbol="MSFT"),
        fill(3, Side.SELL, 10, "55", symbol="MSFT"),
    ]
    (trade,) = round_trips(fills)
    assert (trade.symbol, trade.pnl) == ("MSFT", D(50))


def test_multiplier_scales_trade_pnl() -> None:
    fills = [fill(1, Side.BUY, 1, "4500", symbol="ES"), fill(2, Side.SELL, 1, "4502", symbol="ES")]
    assert round_trips(fills, {"ES": D(50)})[0].pnl == D(100)


def test_result_json_uses_plain_decimals_and_is_stable() -> None:
    curve = EquityCurve(timedelta(minutes=1))
    for i, equity in enumerate((1000.0, 1010.0, 1005.0)):
        curve.append(T0.timestamp() + 60 * i, equity, i == 1)
    fills = [fill(1, Side.BUY, 10, "100"), fill(2, Side.SELL, 10, "100.5")]
    result = RunResult(
        orders=[], fills=fills, curve=curve, starting_cash=D(1000), final_cash=D(1005), final_equity=D("1005.0")
    )
    doc = json.loads(result.to_json())
    assert doc["summary"]["final_equity"] == "1005.0"
    assert doc["trades"][0]["pnl"] == "5.0"
    assert doc["summary"]["max_drawdown"] == 1005.0 / 1010.0 - 1  # negative, as empyrical
    assert result.to_json() == result.to_json()
