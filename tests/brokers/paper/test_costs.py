"""Slippage and commission models, against hand-computed amounts."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from brokers.paper.config import PaperConfig
from brokers.paper.costs import BasisPointSlippage
from brokers.paper.costs import NoCommission
from brokers.paper.costs import NoSlippage
from brokers.paper.costs import PercentCommission
from brokers.paper.costs import PerShareCommission
from brokers.paper.costs import TickSlippage
from framework.models import Instrument
from framework.models import Side

STOCK = Instrument(symbol="AAPL")
FUTURE = Instrument(symbol="ES", tick_size=Decimal("0.25"), multiplier=Decimal(50))
D = Decimal


@pytest.mark.parametrize(
    ("model", "side", "instrument", "price", "expected"),
    [
        (NoSlippage(), Side.BUY, STOCK, D("100.004"), D("100")),
        (TickSlippage(ticks=2), Side.BUY, STOCK, D("100.00"), D("100.02")),
        (TickSlippage(ticks=2), Side.SELL, STOCK, D("100.00"), D("99.98")),
        (TickSlippage(ticks=1), Side.BUY, FUTURE, D("4500.25"), D("4500.5")),
        (BasisPointSlippage(bps=D(10)), Side.BUY, STOCK, D("200.00"), D("200.2")),  # 200 * 1.001
        (BasisPointSlippage(bps=D(10)), Side.SELL, STOCK, D("200.00"), D("199.8")),
        (BasisPointSlippage(bps=D(5)), Side.BUY, STOCK, D("123.45"), D("123.51")),  # 123.5117... -> tick
    ],
)
def test_slippage_moves_the_price_against_the_order_on_the_tick_grid(
    model: NoSlippage | TickSlippage | BasisPointSlippage,
    side: Side,
    instrument: Instrument,
    price: Decimal,
    expected: Decimal,
) -> None:
    assert model.apply(price, side, instrument) == expected


@pytest.mark.parametrize(
    ("model", "quantity", "price", "expected"),
    [
        (NoCommission(), D(100), D(50), D(0)),
        (PerShareCommission(), D(100), D(50), D("1.00")),  # 100 * 0.005 = 0.50 -> minimum 1.00
        (PerShareCommission(), D(1000), D(50), D("5.00")),  # 1000 * 0.005
        (PerShareCommission(), D(1000), D("0.10"), D("1.00")),  # capped at 1 % of 100.00 = 1.00
        (PerShareCommission(), D(10), D("5.00"), D("0.50")),  # minimum 1.00 above 1 % of 50 = 0.50: cap wins
        (PerShareCommission(maximum_percent=None), D(10), D("5.00"), D("1.00")),
        (PercentCommission(percent=D("0.1")), D(100), D("123.45"), D("12.35")),  # 12.345 half-up
        (PercentCommission(percent=D("0.1"), minimum=D(20)), D(100), D("123.45"), D("20.00")),
    ],
)
def test_commission_matches_the_hand_computed_amount(
    model: NoCommission | PerShareCommission | PercentCommission, quantity: Decimal, price: Decimal, expected: Decimal
) -> None:
    assert model.charge(quantity, price, STOCK) == expected


def test_percent_commission_counts_the_multiplier() -> None:
    # 2 contracts * 4500 * 50 = 450,000; 0.01 % = 45.00
    assert PercentCommission(percent=D("0.01")).charge(D(2), D(4500), FUTURE) == D("45.00")


def test_config_parses_cost_models_from_plain_data() -> None:
    config = PaperConfig.model_validate(
        {"slippage": {"kind": "ticks", "ticks": 3}, "commission": {"kind": "per_share", "rate": "0.01"}}
    )
    assert config.slippage == TickSlippage(ticks=3)
    assert config.commission == PerShareCommission(rate=D("0.01"))


@pytest.mark.parametrize(
    "bad",
    [
        {"slippage": {"kind": "ticks", "ticks": -1}},
        {"commission": {"kind": "flat"}},
        {"volume_share": 0},
        {"volume_share": 1.5},
        {"latency": -1},
        {"market_hours": "sometimes"},
    ],
)
def test_config_refuses_invalid_settings(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        PaperConfig.model_validate(bad)
