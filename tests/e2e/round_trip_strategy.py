"""A test strategy for the CLI end-to-end test: buy on one bar, sell on a later one, then stop."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from framework.config import StrategyConfig
from framework.events import OrderFilled
from framework.marketdata import Bar
from framework.strategy import Strategy


class RoundTripConfig(StrategyConfig):
    symbol: str = "AAPL"
    bar_seconds: int = 60
    quantity: Decimal = Decimal(10)


class RoundTrip(Strategy[RoundTripConfig]):
    """Buys ``quantity`` on the first bar, sells it on the bar after the buy filled, then asks to stop."""

    config_type = RoundTripConfig

    def on_start(self) -> None:
        self.stage = "buy"
        self.subscribe_bars(self.config.symbol, timedelta(seconds=self.config.bar_seconds))

    def on_bar(self, bar: Bar) -> None:
        if self.stage == "buy":
            self.buy(bar.symbol, self.config.quantity)
            self.stage = "wait-buy"
        elif self.stage == "sell":
            self.sell(bar.symbol, self.config.quantity)
            self.stage = "wait-sell"

    def on_order_filled(self, event: OrderFilled) -> None:
        if self.stage == "wait-buy":
            self.stage = "sell"
        elif self.stage == "wait-sell":
            self.stage = "done"
            self.request_stop()
