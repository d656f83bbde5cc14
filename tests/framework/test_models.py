"""Domain models refuse bad input with an error naming the field."""

from __future__ import annotations

import random
from datetime import datetime
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from framework.marketdata import Bar
from framework.marketdata import Quote
from framework.models import Account
from framework.models import Fill
from framework.models import Instrument
from framework.models import Order
from framework.models import OrderRequest
from framework.models import OrderStatus
from framework.models import OrderType
from framework.models import Side
from framework.models import to_decimal
from framework.testing import DEFAULT_START

T0 = DEFAULT_START
AAPL = Instrument(symbol="AAPL", broker_id="265598")


def ticket(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"client_order_id": "c-1", "instrument": AAPL, "side": "buy", "quantity": "10"}
    base.update(changes)
    return base


def test_valid_limit_order_parses_decimal_prices_exactly() -> None:
    req = OrderRequest(**ticket(order_type="limit", limit_price="101.25"))
    assert req.limit_price == Decimal("101.25")
    assert req.quantity == Decimal(10)
    assert req.side is Side.BUY


@pytest.mark.parametrize(
    ("changes", "field", "text"),
    [
        ({"quantity": "0"}, "quantity", "greater than 0"),
        ({"quantity": "-5"}, "quantity", "greater than 0"),
        ({"order_type": "limit", "limit_price": "-1"}, "limit_price", "greater than 0"),
        ({"quantity": "NaN"}, "quantity", "finite"),
        ({"quantity": "Infinity"}, "quantity", "finite"),
        ({"order_type": "limit"}, "limit_price", "limit_price is required"),
        ({"order_type": "stop"}, "stop_price", "stop_price is required"),
        ({"order_type": "stop_limit", "limit_price": "10"}, "stop_price", "stop_price is required"),
        ({"order_type": "stop_limit", "stop_price": "10"}, "limit_price", "limit_price is required"),
        ({"order_type": "limit", "limit_price": "101.255"}, "limit_price", "off the tick size 0.01"),
        ({"order_type": "stop", "stop_price": "99.999"}, "stop_price", "off the tick size"),
        ({"order_type": "trailing_stop"}, "trail", "trail_amount or trail_percent"),
        ({"order_type": "market", "limit_price": "1"}, "limit_price", "must not be set"),
        ({"quantity": "1.5"}, "quantity", "lot size"),
        ({"client_order_id": ""}, "client_order_id", "at least 1"),
        ({"client_order_id": "has space"}, "client_order_id", "pattern"),
        ({"side": "long"}, "side", "buy"),
        ({"time_in_force": "forever"}, "time_in_force", "day"),
        ({"unknown": 1}, "unknown", "Extra inputs"),
    ],
)
def test_r20_bad_order_is_refused_naming_the_field(changes: dict[str, Any], field: str, text: str) -> None:
    """R20 (input validation): a bad order request is refused locally with a typed error naming the field, and never
    reaches the broker. Partial versus the criterion: see docs/reliability.md."""
    with pytest.raises(ValidationError) as info:
        OrderRequest(**ticket(**changes))
    message = str(info.value)
    assert field in message
    assert text in message


def test_order_request_is_frozen() -> None:
    req = OrderRequest(**ticket())
    with pytest.raises(ValidationError):
        req.quantity = Decimal(5)  # type: ignore[misc]


def test_fractional_lot_size_allows_fractional_quantity() -> None:
    btc = Instrument(symbol="BTC", lot_size=Decimal("0.0001"), tick_size=Decimal("0.5"))
    req = OrderRequest(**ticket(instrument=btc, quantity="0.0015", order_type="limit", limit_price="25000.5"))
    assert req.quantity == Decimal("0.0015")


def test_instrument_rounds_float_price_to_tick_without_binary_noise() -> None:
    inst = Instrument(symbol="X", tick_size=Decimal("0.05"))
    assert inst.round_price(101.26) == Decimal("101.25")
    assert inst.round_price(0.1 + 0.2) == Decimal("0.3")
    assert inst.is_on_tick(Decimal("1.05"))
    assert not inst.is_on_tick(Decimal("1.01"))


@pytest.mark.parametrize("tick", ["0.01", "0.05", "0.25", "1", "0.0001"])
def test_round_price_matches_rounding_to_the_nearest_tick_on_and_off_the_grid(tick: str) -> None:
    # round_price skips the arithmetic for prices already on the grid: the result (value and printed
    # form) must be what rounding to the nearest tick gives
    inst = Instrument(symbol="X", tick_size=Decimal(tick))
    rng = random.Random(7)
    prices: list[float | Decimal] = [round(rng.uniform(0, 500), rng.choice([0, 1, 2, 3, 4])) for _ in range(3000)]
    prices += [0.0, 100.0, 185.5, Decimal("100.00"), Decimal("0.000"), Decimal("101.2500")]
    for price in prices:
        value = price if isinstance(price, Decimal) else Decimal(repr(price))
        ticks = (value / inst.tick_size).to_integral_value()
        expected = (ticks * inst.tick_size).normalize() if ticks else Decimal(0)
        assert str(inst.round_price(price)) == str(expected), price


def test_instrument_refuses_zero_tick_size() -> None:
    with pytest.raises(ValidationError, match="tick_size"):
        Instrument(symbol="X", tick_size=Decimal(0))


def test_fills_and_orders_are_small_immutable_records() -> None:
    # a run keeps every order and fill: slotted records, validated where their data entered
    fill = Fill("e1", "c", "A", Side.BUY, Decimal(1), Decimal(1), Decimal(0), T0)
    order = Order(request=OrderRequest(**ticket()), updated=T0)
    for record in (fill, order):
        assert not hasattr(record, "__dict__")
    with pytest.raises(AttributeError):
        fill.quantity = Decimal(2)  # type: ignore[misc]
    with pytest.raises(AttributeError):
        order.status = OrderStatus.FILLED  # type: ignore[misc]
    assert order.client_order_id == "c-1"
    assert order.remaining_quantity == 10


def test_tickets_share_one_fields_set() -> None:
    first, second = OrderRequest(**ticket()), OrderRequest(**ticket(client_order_id="other"))
    assert first.model_fields_set is second.model_fields_set
    changed = first.model_copy(update={"quantity": Decimal(7)})
    assert changed.quantity == 7
    assert first.model_fields_set is second.model_fields_set  # a copy never changes the shared set


def test_order_remaining_quantity_and_status_flags() -> None:
    order = Order(request=OrderRequest(**ticket()), filled_quantity=Decimal(4), updated=T0)
    assert order.remaining_quantity == Decimal(6)
    assert not OrderStatus.INITIALIZED.is_open
    assert OrderStatus.PARTIALLY_FILLED.is_open
    assert OrderStatus.FILLED.is_terminal
    assert not OrderStatus.PENDING_CANCEL.is_terminal


def test_account_keeps_decimal_money() -> None:
    acct = Account(account_id="DU1", cash="100.10", equity="100.10", buying_power="200.20", ts=T0)
    assert acct.cash == Decimal("100.10")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"high": 9.0}, "high/low"),
        ({"low": 10.6}, "high/low"),
        ({"volume": -1.0}, "volume"),
        ({"volume": float("nan")}, "volume"),
        ({"start": datetime(2024, 1, 1)}, "start"),  # noqa: DTZ001 - the point of the test
        ({"duration": timedelta(0)}, "duration"),
        ({"low": 0.0, "open": 0.0, "close": 0.0}, "low/high"),
    ],
)
def test_bad_bar_is_refused_naming_the_field(kwargs: dict[str, Any], field: str) -> None:
    values: dict[str, Any] = {
        "symbol": "A", "start": T0, "duration": timedelta(minutes=1),
        "open": 10.0, "high": 11.0, "low": 9.5, "close": 10.5, "volume": 100.0,
    }  # fmt: skip
    values.update(kwargs)
    with pytest.raises(ValueError, match=field):
        Bar(**values)


def test_bar_is_immutable_and_knows_its_end() -> None:
    bar = Bar("A", T0, timedelta(minutes=1), 10.0, 11.0, 9.0, 10.5, 5.0)
    assert bar.end == T0 + timedelta(minutes=1)
    with pytest.raises(AttributeError):
        bar.close = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"bid": -1.0}, "bid"),
        ({"ask": float("inf")}, "ask"),
        ({"bid_size": -2.0}, "bid_size"),
        ({"ts": None}, "ts"),
    ],
)
def test_bad_quote_is_refused_naming_the_field(kwargs: dict[str, Any], field: str) -> None:
    values: dict[str, Any] = {"symbol": "A", "ts": T0, "bid": 1.0, "ask": 1.1}
    values.update(kwargs)
    with pytest.raises(ValueError, match=field):
        Quote(**values)


def test_quote_mid_and_replace() -> None:
    quote = Quote("A", T0, bid=10.0, ask=10.2)
    assert quote.mid == pytest.approx(10.1)
    assert Quote("A", T0, bid=10.0).mid is None
    assert quote.replace(bid=10.1).bid == 10.1
    with pytest.raises(ValueError, match="bid"):
        quote.replace(bid=-1.0)


def test_to_decimal_refuses_nan() -> None:
    assert to_decimal(101.25) == Decimal("101.25")
    with pytest.raises(ValueError, match="non-finite"):
        to_decimal(float("nan"))


def test_order_type_values_are_lowercase_domain_words() -> None:
    assert [t.value for t in OrderType] == ["market", "limit", "stop", "stop_limit", "trailing_stop"]
