"""Test strategies for the journal-across-runs tests: one leaves an order resting, one does nothing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from framework.config import StrategyConfig
from framework.events import OrderAccepted
from framework.marketdata import Bar
from framework.models import TimeInForce
from framework.strategy import Strategy


class RestingConfig(StrategyConfig):
    symbol: str = "AAPL"
    bar_seconds: int = 1


class RestingBuy(Strategy[RestingConfig]):
    """Places a good-till-cancelled buy far below the market on the first bar; stops once it is accepted."""

    config_type = RestingConfig

    def on_start(self) -> None:
        self.placed = False
        self.subscribe_bars(self.config.symbol, timedelta(seconds=self.config.bar_seconds))

    def on_bar(self, bar: Bar) -> None:
        if not self.placed:
            self.placed = True
            price = (Decimal(str(bar.close)) / 2).quantize(Decimal("0.01"))
            self.buy(bar.symbol, 1, limit_price=price, time_in_force=TimeInForce.GTC)

    def on_order_accepted(self, event: OrderAccepted) -> None:
        self.request_stop()


class Idle(Strategy[StrategyConfig]):
    """Starts (after the engine recovered the journal) and asks to stop at once."""

    config_type = StrategyConfig

    def on_start(self) -> None:
        self.request_stop()
