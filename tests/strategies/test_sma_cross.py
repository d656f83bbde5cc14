"""SmaCross: config validation and its trading rules, driven through framework.testing."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from framework.events import OrderFilled
from framework.events import OrderSubmitted
from framework.marketdata import Bar
from framework.models import Side
from framework.testing import run_strategy
from strategies import SmaCross
from strategies import SmaCrossConfig

T0 = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def bars(closes: list[float]) -> list[Bar]:
    return [Bar("AAPL", T0 + i * MINUTE, MINUTE, c, c, c, c, 100) for i, c in enumerate(closes)]


def test_config_defaults_match_the_reference_and_fast_must_be_below_slow() -> None:
    config = SmaCrossConfig()
    assert (config.symbol, config.fast, config.slow, config.quantity, config.bar_seconds) == (
        "AAPL",
        10,
        30,
        Decimal(100),
        None,  # the data's own bar size
    )
    with pytest.raises(ValidationError, match="fast"):
        SmaCrossConfig(fast=30, slow=30)


def test_buys_on_a_cross_above_and_sells_to_flat_on_a_cross_below() -> None:
    # fast 2 / slow 4: flat, then a rise (cross above), then a fall (cross below)
    closes = [10, 10, 10, 10, 10, 12, 13, 13, 11, 9, 8]
    strategy = SmaCross(SmaCrossConfig(fast=2, slow=4))
    events = run_strategy(strategy, bars([float(c) for c in closes]))
    submitted = [e.order.request for e in events if isinstance(e, OrderSubmitted)]
    assert [(r.side, r.quantity) for r in submitted] == [(Side.BUY, Decimal(100)), (Side.SELL, Decimal(100))]
    fills = [e.fill for e in events if isinstance(e, OrderFilled)]
    # the scripted broker fills at the last close. Index 5: fast 11 > slow 10.5 after equality (buy
    # at 12); index 8: fast 12 < slow 12.25 (sell at 11)
    assert [f.price for f in fills] == [Decimal(12), Decimal(11)]


def test_a_flat_market_never_trades_and_leaving_equality_upwards_is_a_cross_above() -> None:
    flat = run_strategy(SmaCross(SmaCrossConfig(fast=2, slow=4)), bars([10.0] * 8))
    assert not [e for e in flat if isinstance(e, OrderSubmitted)]
    # index 3: diff 0 (first value); index 4: fast 10.5 > slow 10.25 with previous diff 0 -> buy
    rising = run_strategy(SmaCross(SmaCrossConfig(fast=2, slow=4)), bars([10.0, 10.0, 10.0, 10.0, 11.0]))
    assert [e.order.request.side for e in rising if isinstance(e, OrderSubmitted)] == [Side.BUY]


def test_no_sell_when_flat_and_no_second_buy_while_long() -> None:
    # index 4 crosses below while flat (no sell); index 7 crosses above (buy); index 10 touches
    # equality (fast = slow = 12.5) and index 11 leaves it upwards while long (no second buy)
    closes = [10, 10, 10, 10, 9, 8, 7, 12, 13, 11, 14, 15]
    events = run_strategy(SmaCross(SmaCrossConfig(fast=2, slow=4)), bars([float(c) for c in closes]))
    sides = [e.order.request.side for e in events if isinstance(e, OrderSubmitted)]
    assert sides == [Side.BUY]


def test_float_noise_around_equal_averages_counts_as_zero() -> None:
    # Exact diffs on bars 2..5: +1/30, -1/15, 0, +11/30. The running float sums make bar 4's diff
    # 2.8e-17 instead of 0, which would be a cross above one bar early; with the tolerance it is
    # zero, so the cross above (and the buy) comes on bar 5, as in exact arithmetic.
    closes = [0.1, 0.3, 0.1, 0.1, 0.1, 2.3]
    events = run_strategy(SmaCross(SmaCrossConfig(fast=2, slow=3)), bars(closes))
    submitted = [e for e in events if isinstance(e, OrderSubmitted)]
    assert [e.ts for e in submitted] == [T0 + 6 * MINUTE]
