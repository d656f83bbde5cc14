"""``PaperConfig``: settings of the simulated venue."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from enum import StrEnum

from pydantic import Field
from pydantic import field_validator

from brokers.paper.costs import Commission
from brokers.paper.costs import NoCommission
from brokers.paper.costs import NoSlippage
from brokers.paper.costs import Slippage
from brokers.paper.fill_model import FillModel
from framework.config import FrozenConfig


class MarketHours(StrEnum):
    """When the venue's market trades."""

    EXCHANGE = "exchange"  # the instrument's exchange sessions (framework.trading_hours)
    ALWAYS = "always"  # a market that never closes (24-hour data, or a demo on the wall clock)


class PaperConfig(FrozenConfig):
    """Settings of :class:`~brokers.paper.broker.PaperBroker`.

    Attributes:
        starting_cash: Cash of the simulated account at the start.
        currency: Account currency.
        account_id: Id of the simulated account.
        fill_model: Fill on bars (next bar's open, bar ranges) or on quotes (opposite side).
        slippage: Slippage model for taker fills (see :mod:`brokers.paper.costs`).
        commission: Commission model charged on every fill.
        volume_share: Largest share (0 < x <= 1) of a bar's volume, or a quote's size, that one order
            may fill per bar or quote; None fills any quantity at once.
        latency: Time from submission until the order works at the venue (clock time); the order
            is acknowledged then and only meets data stamped at or after it.
        market_hours: ``exchange``: orders fill only inside the sessions they allow (regular hours;
            pre-market and after-hours too with ``outside_rth``) on the instrument's exchange
            calendar; ``always``: at any time. ``DAY`` orders expire at their session's end
            (:mod:`framework.trading_hours`) either way, and frozen quotes never fill.
        check_buying_power: Reject buys whose estimated cost exceeds the cash.
    """

    starting_cash: Decimal = Field(default=Decimal(1_000_000), ge=0)
    currency: str = Field(default="USD", min_length=3, max_length=3)
    account_id: str = "PAPER"
    fill_model: FillModel = FillModel.BAR
    slippage: Slippage = NoSlippage()
    commission: Commission = NoCommission()
    volume_share: float | None = Field(default=None, gt=0, le=1)
    latency: timedelta = timedelta(0)
    market_hours: MarketHours = MarketHours.EXCHANGE
    check_buying_power: bool = True

    @field_validator("latency")
    @classmethod
    def _check_latency(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            msg = f"latency must not be negative, received {value}"
            raise ValueError(msg)
        return value
