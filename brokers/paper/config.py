"""``PaperConfig``: settings of the simulated venue."""

from __future__ import annotations

from datetime import time
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from pydantic import Field
from pydantic import field_validator

from brokers.paper.costs import Commission
from brokers.paper.costs import NoCommission
from brokers.paper.costs import NoSlippage
from brokers.paper.costs import Slippage
from brokers.paper.fill_model import FillModel
from framework.config import FrozenConfig
from framework.config import TimeZoneName


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
        session_close: Local time at which DAY orders expire.
        session_timezone: IANA zone of ``session_close``.
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
    session_close: time = time(16, 0)
    session_timezone: TimeZoneName = "America/New_York"
    check_buying_power: bool = True

    @field_validator("latency")
    @classmethod
    def _check_latency(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            msg = f"latency must not be negative, received {value}"
            raise ValueError(msg)
        return value

    @property
    def zone(self) -> ZoneInfo:
        """The session's time zone."""
        return ZoneInfo(self.session_timezone)
