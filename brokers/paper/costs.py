"""Trading costs of the simulated venue: slippage and commission models.

Each model is a small frozen config with a ``kind`` tag, so :class:`~brokers.paper.config.PaperConfig`
can hold any of them and parse them from a dict (``{"kind": "per_share", "rate": "0.005"}``).

* Slippage moves a *taker* fill (market, stop, trailing stop) against the order: :class:`TickSlippage`
  by a whole number of ticks, :class:`BasisPointSlippage` by a fraction of the price. Limit-priced
  fills get none. The result is rounded to the instrument's tick.
* Commission is charged per fill: :class:`PerShareCommission` is IBKR's fixed pricing shape (a rate
  per share, a minimum per order, a cap as a percent of the trade value), :class:`PercentCommission`
  a percent of the trade value with an optional minimum. Amounts are rounded half-up to the cent.
  The minimum applies to each fill (a partially filled order may pay it more than once; IBKR charges
  it per order, so this errs on the expensive side).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP
from decimal import Decimal
from typing import Annotated
from typing import Literal

from pydantic import Field

from framework.config import FrozenConfig
from framework.models import Instrument
from framework.models import Side

ZERO = Decimal(0)
CENT = Decimal("0.01")


class NoSlippage(FrozenConfig):
    """Fills at the model price."""

    kind: Literal["none"] = "none"

    def apply(self, price: Decimal, side: Side, instrument: Instrument) -> Decimal:
        """Return ``price`` rounded to the tick."""
        return instrument.round_price(price)


class TickSlippage(FrozenConfig):
    """Taker fills are ``ticks`` ticks worse than the model price.

    Attributes:
        ticks: Number of ticks (non-negative).
    """

    kind: Literal["ticks"] = "ticks"
    ticks: int = Field(default=1, ge=0)

    def apply(self, price: Decimal, side: Side, instrument: Instrument) -> Decimal:
        """Return ``price`` moved against ``side`` by the ticks, on the tick grid."""
        return instrument.round_price(price + side.sign * self.ticks * instrument.tick_size)


class BasisPointSlippage(FrozenConfig):
    """Taker fills are ``bps`` basis points worse than the model price (then rounded to the tick).

    Attributes:
        bps: Basis points (1 bp = 0.01 %), non-negative.
    """

    kind: Literal["bps"] = "bps"
    bps: Decimal = Field(default=Decimal(1), ge=0)

    def apply(self, price: Decimal, side: Side, instrument: Instrument) -> Decimal:
        """Return ``price * (1 ± bps / 10000)`` against ``side``, on the tick grid."""
        return instrument.round_price(price * (1 + side.sign * self.bps / Decimal(10_000)))


Slippage = Annotated[NoSlippage | TickSlippage | BasisPointSlippage, Field(discriminator="kind")]
"""Any slippage model (tagged by ``kind``)."""


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


class NoCommission(FrozenConfig):
    """Trading is free."""

    kind: Literal["none"] = "none"

    def charge(self, quantity: Decimal, price: Decimal, instrument: Instrument) -> Decimal:
        """Return zero."""
        return ZERO


class PerShareCommission(FrozenConfig):
    """A rate per share with a minimum and a cap, like IBKR's fixed pricing for US stocks.

    Attributes:
        rate: Charge per share (IBKR fixed: 0.005 USD).
        minimum: Least charge per fill (IBKR: 1.00 USD per order).
        maximum_percent: Cap as a percent of the trade value (IBKR: 1 %); None for no cap.
    """

    kind: Literal["per_share"] = "per_share"
    rate: Decimal = Field(default=Decimal("0.005"), ge=0)
    minimum: Decimal = Field(default=Decimal("1.00"), ge=0)
    maximum_percent: Decimal | None = Field(default=Decimal(1), ge=0)

    def charge(self, quantity: Decimal, price: Decimal, instrument: Instrument) -> Decimal:
        """Return ``max(rate * quantity, minimum)``, capped at the percent of the trade value."""
        fee = max(self.rate * quantity, self.minimum)
        if self.maximum_percent is not None:
            fee = min(fee, quantity * price * instrument.multiplier * self.maximum_percent / 100)
        return _cents(fee)


class PercentCommission(FrozenConfig):
    """A percent of the trade value, with an optional minimum per fill.

    Attributes:
        percent: Percent of ``quantity * price * multiplier`` (0.1 means 0.1 %).
        minimum: Least charge per fill.
    """

    kind: Literal["percent"] = "percent"
    percent: Decimal = Field(default=Decimal("0.1"), ge=0)
    minimum: Decimal = Field(default=ZERO, ge=0)

    def charge(self, quantity: Decimal, price: Decimal, instrument: Instrument) -> Decimal:
        """Return ``max(value * percent / 100, minimum)`` rounded to the cent."""
        value = quantity * price * instrument.multiplier
        return _cents(max(value * self.percent / 100, self.minimum))


Commission = Annotated[NoCommission | PerShareCommission | PercentCommission, Field(discriminator="kind")]
"""Any commission model (tagged by ``kind``)."""
