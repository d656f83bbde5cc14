"""Every pre-trade risk limit denies what it should and lets through what it should."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from framework.engine import Engine
from framework.events import OrderDenied
from framework.marketdata import Quote
from framework.models import Instrument
from framework.models import OrderRequest
from framework.models import OrderType
from framework.risk import RiskConfig
from framework.risk import RiskEngine
from framework.risk import RiskLimits
from framework.testing import EventRecorder
from framework.testing import FakeClock
from framework.testing import ScriptedBroker

AAPL = Instrument(symbol="AAPL", broker_id="265598")
MSFT = Instrument(symbol="MSFT", broker_id="272093")


class Desk:
    """An engine with a risk engine, a scripted broker and a price of 100 for AAPL and MSFT."""

    def __init__(self, config: RiskConfig, *, auto_fill: bool = True, start: datetime | None = None) -> None:
        self.clock = FakeClock() if start is None else FakeClock(start)
        self.broker = ScriptedBroker(self.clock, instruments=[AAPL, MSFT], auto_fill=auto_fill)
        self.engine = Engine(self.broker, clock=self.clock)
        self.risk = RiskEngine(config)
        self.engine.add_check(self.risk)
        self.denied = EventRecorder(self.engine.bus, [OrderDenied])
        self.engine.start()
        self.n = 0
        for symbol in ("AAPL", "MSFT"):
            self.quote(symbol, 100.0)

    def quote(self, symbol: str, price: float) -> None:
        self.broker.push_quote(Quote(symbol, self.clock.now(), bid=price, ask=price, last=price))
        self.engine.run_pending()

    def order(self, side: str = "buy", quantity: int = 1, instrument: Instrument = AAPL, **ticket: Any) -> str | None:
        """Submit; return the denial reason or None if it reached the broker."""
        self.n += 1
        cid = f"r{self.n}"
        self.engine.submit_order(
            OrderRequest(
                client_order_id=cid, instrument=instrument, side=side, quantity=quantity, strategy_id="s", **ticket
            )
        )
        self.engine.run_pending()
        reasons = [e.reason for e in self.denied.events if e.client_order_id == cid]
        return reasons[0] if reasons else None


def test_max_order_quantity() -> None:
    desk = Desk(RiskConfig(max_order_quantity=Decimal(10)))
    assert desk.order(quantity=10) is None
    reason = desk.order(quantity=11)
    assert reason is not None
    assert "max_order_quantity" in reason
    assert "global limit" in reason


def test_max_order_notional_uses_limit_price_or_reference() -> None:
    desk = Desk(RiskConfig(max_order_notional=Decimal(1000)))
    assert desk.order(quantity=10) is None  # 10 x 100
    assert "max_order_notional" in (desk.order(quantity=11) or "")
    assert desk.order(quantity=11, order_type="limit", limit_price=Decimal("90")) is None  # 990


def test_max_position_counts_working_orders_and_allows_reducing() -> None:
    desk = Desk(RiskConfig(max_position=Decimal(10)), auto_fill=False)
    assert desk.order(quantity=6, order_type="limit", limit_price=Decimal(99)) is None
    assert "max_position" in (desk.order(quantity=5, order_type="limit", limit_price=Decimal(99)) or "")
    assert desk.order(side="sell", quantity=5, order_type="limit", limit_price=Decimal(101)) is None


def test_max_gross_exposure_across_instruments() -> None:
    desk = Desk(RiskConfig(max_gross_exposure=Decimal(1500)))
    assert desk.order(quantity=10, instrument=AAPL) is None  # 1,000 held
    assert "max_gross_exposure" in (desk.order(quantity=6, instrument=MSFT) or "")
    assert desk.order(quantity=5, instrument=MSFT) is None


def test_max_orders_per_second_on_the_engine_clock() -> None:
    desk = Desk(RiskConfig(max_orders_per_second=2))
    assert desk.order() is None
    assert desk.order() is None
    assert "max_orders_per_second" in (desk.order() or "")
    desk.clock.advance(timedelta(seconds=1))
    assert desk.order() is None


def test_daily_loss_limit_allows_only_reducing_orders() -> None:
    desk = Desk(RiskConfig(daily_loss_limit=Decimal(50)))
    assert desk.order(quantity=10) is None  # long 10 at 100; the day starts here
    desk.quote("AAPL", 94.0)  # equity down 60
    reason = desk.order(quantity=1)
    assert reason is not None
    assert "daily_loss_limit" in reason
    assert desk.order(side="sell", quantity=10) is None  # closing is allowed


def test_daily_loss_resets_on_a_new_trading_day() -> None:
    desk = Desk(RiskConfig(daily_loss_limit=Decimal(50)))
    desk.order(quantity=10)
    desk.quote("AAPL", 94.0)
    assert desk.order(quantity=1) is not None
    desk.clock.advance(timedelta(days=1))
    assert desk.order(quantity=1) is None


def test_allowed_instruments() -> None:
    desk = Desk(RiskConfig(allowed_instruments=frozenset({"AAPL"})))
    assert desk.order(instrument=AAPL) is None
    assert "allowed_instruments" in (desk.order(instrument=MSFT) or "")


def test_r20_price_band_around_the_last_price() -> None:
    """R20 (input validation): a bad order request is refused locally with a typed error naming the field, and never
    reaches the broker. Partial versus the criterion: see docs/reliability.md."""
    desk = Desk(RiskConfig(price_band_percent=Decimal(5)), auto_fill=False)
    assert desk.order(order_type="limit", limit_price=Decimal("96")) is None
    assert "more than 5%" in (desk.order(order_type="limit", limit_price=Decimal("94")) or "")
    assert "stop_price" in (desk.order(side="sell", order_type="stop", stop_price=Decimal("90")) or "")


def test_no_reference_price_is_denied_when_a_price_limit_is_set() -> None:
    desk = Desk(RiskConfig(max_order_notional=Decimal(10**6)))
    nvda = Instrument(symbol="NVDA")
    assert "no reference price for NVDA" in (desk.order(instrument=nvda) or "")


def test_per_strategy_limits_apply_on_top_of_global_ones() -> None:
    desk = Desk(
        RiskConfig(max_order_quantity=Decimal(100), strategies={"s": RiskLimits(max_order_quantity=Decimal(5))})
    )
    reason = desk.order(quantity=6)
    assert reason is not None
    assert "strategy s limit" in reason
    assert desk.broker.submitted == []


def test_limits_validate_their_values() -> None:
    with pytest.raises(ValueError, match="max_order_quantity"):
        RiskConfig(max_order_quantity=Decimal(0))
    with pytest.raises(ValueError, match="max_orders_per_secnd"):
        RiskConfig.model_validate({"max_orders_per_secnd": 3})


PRE_MARKET = datetime(2024, 1, 2, 13, 0, tzinfo=UTC)  # 08:00 New York
LIMIT = {"order_type": OrderType.LIMIT, "limit_price": Decimal(99)}


def test_r22_the_pre_trade_check_denies_orders_that_may_not_trade_now_when_told_to() -> None:
    """R22: ``outside_hours = "deny"``: an order outside the sessions it allows never leaves the process."""
    desk = Desk(RiskConfig(outside_hours="deny"), start=PRE_MARKET)
    reason = desk.order(**LIMIT)
    assert reason is not None
    assert reason.startswith("AAPL may not trade now (pre-market on the New York Stock Exchange calendar); "
                             "this order may trade from 2024-01-02T14:30:00+00:00")
    assert desk.order(outside_rth=True, **LIMIT) is None  # a limit order may trade in pre-market
    market = desk.order(outside_rth=True)  # IBKR ignores outside_rth on a market order
    assert market is not None
    assert "outside_rth applies to limit and stop-limit orders, not market ones" in market
    assert len(desk.broker.submitted) == 1


def test_r22_the_pre_trade_check_flags_orders_that_may_not_trade_now_and_sends_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """R22: ``outside_hours = "warn"``: the order goes to the venue, with a warning saying when it may trade."""
    desk = Desk(RiskConfig(outside_hours="warn"), start=datetime(2024, 1, 6, 15, 0, tzinfo=UTC))  # a Saturday
    assert desk.order(**LIMIT) is None
    assert len(desk.broker.submitted) == 1
    assert "AAPL may not trade now (closed on the New York Stock Exchange calendar); this order may trade " \
           "from 2024-01-08T14:30:00+00:00" in caplog.text
    assert "outside_hours = warn: sent anyway" in caplog.text


def test_trading_hours_are_not_checked_by_default_nor_inside_the_session() -> None:
    assert Desk(RiskConfig(), start=datetime(2024, 1, 6, 15, 0, tzinfo=UTC)).order(**LIMIT) is None
    assert Desk(RiskConfig(outside_hours="deny")).order() is None  # 09:30 New York: the open
