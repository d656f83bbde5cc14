"""Test strategies for the exit-code tests: one that raises, one that trades and reports, one that waits."""

from __future__ import annotations

import sys
from datetime import timedelta
from decimal import Decimal

from framework.config import StrategyConfig
from framework.events import OrderAccepted
from framework.events import OrderFilled
from framework.marketdata import Bar
from framework.strategy import Strategy


class Config(StrategyConfig):
    symbol: str = "AAPL"
    bar_seconds: int = 60
    quantity: Decimal = Decimal(10)
    at_bar: int = 3


class FailsOnBar(Strategy[Config]):
    """Buys ``quantity`` at market on the first bar, rests a far limit on the second, raises on bar ``at_bar``."""

    config_type = Config

    def on_start(self) -> None:
        self.bars = 0
        self.subscribe_bars(self.config.symbol, timedelta(seconds=self.config.bar_seconds))

    def on_bar(self, bar: Bar) -> None:
        self.bars += 1
        if self.bars == 1:
            self.buy(bar.symbol, self.config.quantity)
        elif self.bars == 2:
            self.buy(bar.symbol, self.config.quantity, limit_price=1)
        if self.bars == self.config.at_bar:
            raise ValueError(f"bad bar {self.bars}")


class TradesThenWaits(Strategy[Config]):
    """Buys ``quantity`` on the first bar; once it filled, rests a far limit; prints ``traded`` once that works."""

    config_type = Config

    def on_start(self) -> None:
        self.bought = False
        self.limit: str | None = None
        self.subscribe_bars(self.config.symbol, timedelta(seconds=self.config.bar_seconds))

    def on_bar(self, bar: Bar) -> None:
        if not self.bought:
            self.bought = True
            self.buy(bar.symbol, self.config.quantity)

    def on_order_filled(self, event: OrderFilled) -> None:
        self.limit = self.buy(self.config.symbol, self.config.quantity, limit_price=1)

    def on_order_accepted(self, event: OrderAccepted) -> None:
        if event.client_order_id == self.limit:
            print("traded", flush=True)


class WaitsOnBar(Strategy[Config]):
    """On bar ``at_bar``, prints ``waiting at bar N`` and blocks until its standard input is closed.

    The test sends Ctrl-C while it waits and then closes the input, so the interruption lands at a
    known bar.
    """

    config_type = Config

    def on_start(self) -> None:
        self.bars = 0
        self.subscribe_bars(self.config.symbol, timedelta(seconds=self.config.bar_seconds))

    def on_bar(self, bar: Bar) -> None:
        self.bars += 1
        if self.bars == self.config.at_bar:
            print(f"waiting at bar {self.bars}", flush=True)
            sys.stdin.read()
