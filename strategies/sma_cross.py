"""``SmaCross``: the reference moving-average crossover strategy.

Rules, on the closes of one instrument's bars:

* ``diff = SMA(fast) - SMA(slow)``, defined once ``slow`` closes have been seen. A ``diff`` within
  ``1e-9 x SMA(slow)`` of zero counts as exactly zero: the averages are running float sums, and
  without this their last-bit rounding (which depends on summation order) could make or hide a
  cross when the two averages are equal, as they often are with prices in whole cents.
* The fast average **crosses above** when the previous ``diff <= 0`` and the current ``diff > 0``;
  it **crosses below** when the previous ``diff >= 0`` and the current ``diff < 0``. The first bar
  with a defined ``diff`` has no previous value and never crosses.
* On a cross above, when flat and with no order working: buy ``quantity`` at market.
* On a cross below, when long and with no order working: sell the whole position at market.

The strategy never shorts and holds at most one working order. It names no broker, so it runs the
same in a backtest, on paper and live.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Self

from pydantic import Field
from pydantic import model_validator

from framework.config import StrategyConfig
from framework.events import OrderCancelled
from framework.events import OrderDenied
from framework.events import OrderExpired
from framework.events import OrderFilled
from framework.events import OrderRejected
from framework.indicators import SMA
from framework.marketdata import Bar
from framework.strategy import Strategy

TOLERANCE = 1e-9
"""Relative size of an SMA difference that counts as zero (see the module docstring)."""


class SmaCrossConfig(StrategyConfig):
    """Parameters of :class:`SmaCross`.

    Attributes:
        symbol: The instrument traded.
        fast: Period of the fast average (bars); less than ``slow``.
        slow: Period of the slow average (bars).
        quantity: Shares bought on a cross above.
        bar_seconds: Size of the bars traded on, in seconds; None (the default) for the data's own bars.
            A size coarser than the data's is built from them (e.g. 300 on 1-minute data).
    """

    symbol: str = Field(default="AAPL", min_length=1)
    fast: int = Field(default=10, ge=1)
    slow: int = Field(default=30, ge=2)
    quantity: Decimal = Field(default=Decimal(100), gt=0)
    bar_seconds: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _check_periods(self) -> Self:
        if self.fast >= self.slow:
            msg = f"fast ({self.fast}) must be less than slow ({self.slow})"
            raise ValueError(msg)
        return self


class SmaCross(Strategy[SmaCrossConfig]):
    """Buys when the fast SMA crosses above the slow one, sells to flat when it crosses below.

    Events:
        Listens to on_bar for ``config.symbol``; on_order_filled / rejected / denied / cancelled /
        expired to know when its order is done.
    """

    config_type = SmaCrossConfig

    def on_start(self) -> None:
        """Subscribe to the bars and reset the averages."""
        cfg = self.config
        self._fast = SMA(cfg.fast)
        self._slow = SMA(cfg.slow)
        self._previous: float | None = None
        self._working: str | None = None
        size = None if cfg.bar_seconds is None else timedelta(seconds=cfg.bar_seconds)
        self.subscribe_bars(cfg.symbol, size)

    def on_bar(self, bar: Bar) -> None:
        """Update the averages and trade on a cross."""
        fast = self._fast.update(bar.close)
        slow = self._slow.update(bar.close)
        if fast is None or slow is None:
            return
        diff = fast - slow
        if abs(diff) <= TOLERANCE * slow:
            diff = 0.0
        previous, self._previous = self._previous, diff
        if previous is None or self._working is not None:
            return
        if previous <= 0 < diff:
            if self.portfolio.quantity(bar.symbol) == 0:
                self._working = self.buy(bar.symbol, self.config.quantity)
        elif previous >= 0 > diff:
            held = self.portfolio.quantity(bar.symbol)
            if held > 0:
                self._working = self.sell(bar.symbol, held)

    def _done(self, client_order_id: str) -> None:
        if client_order_id == self._working:
            self._working = None

    def on_order_filled(self, event: OrderFilled) -> None:
        """The order is complete."""
        self._done(event.client_order_id)

    def on_order_rejected(self, event: OrderRejected) -> None:
        """The broker refused the order."""
        self._done(event.client_order_id)

    def on_order_denied(self, event: OrderDenied) -> None:
        """The framework refused the order."""
        self._done(event.client_order_id)

    def on_order_cancelled(self, event: OrderCancelled) -> None:
        """The order was cancelled."""
        self._done(event.client_order_id)

    def on_order_expired(self, event: OrderExpired) -> None:
        """The order expired."""
        self._done(event.client_order_id)


__all__ = ["SmaCross", "SmaCrossConfig"]
