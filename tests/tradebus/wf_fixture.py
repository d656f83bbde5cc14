"""A strategy and bars for the walk-forward tests: a zig-zag price, and a strategy that is long or flat."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from decimal import Decimal

from framework.config import StrategyConfig
from framework.events import OrderDenied
from framework.events import OrderFilled
from framework.history import BarData
from framework.history import BarSeriesBuilder
from framework.marketdata import Bar
from framework.models import TimeInForce
from framework.strategy import Strategy

HOLD = "tests.tradebus.wf_fixture:Hold"
START = datetime(2024, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


class HoldConfig(StrategyConfig):
    """``hold`` 1: be long ``quantity`` from the first bar it may trade on; 0: stay flat.

    Attributes:
        symbol: The instrument.
        hold: 1 to hold, 0 to stay flat.
        after: Bars to see before trading (an indicator's warm-up).
        quantity: Shares held.
    """

    symbol: str = "AAPL"
    hold: int = 1
    after: int = 0
    quantity: Decimal = Decimal(10)


class Hold(Strategy[HoldConfig]):
    """Buys ``quantity`` once it has seen more than ``after`` bars (when ``hold``), retrying if denied."""

    config_type = HoldConfig

    def on_start(self) -> None:
        """Subscribe and reset."""
        self.seen = 0
        self.denied = 0
        self.working: str | None = None
        self.subscribe_bars(self.config.symbol)

    def on_bar(self, bar: Bar) -> None:
        """Buy when allowed, flat and idle."""
        self.seen += 1
        cfg = self.config
        if cfg.hold and self.seen > cfg.after and self.working is None and not self.portfolio.quantity(bar.symbol):
            self.working = self.buy(bar.symbol, cfg.quantity, time_in_force=TimeInForce.GTC)

    def on_order_filled(self, event: OrderFilled) -> None:
        """Done."""
        self.working = None

    def on_order_denied(self, event: OrderDenied) -> None:
        """Refused (a warm-up bar): try again on the next bar."""
        self.denied += 1
        self.working = None


def zigzag(bars: int = 50, leg: int = 10, start: datetime = START, every: timedelta = DAY,
           symbol: str = "AAPL") -> BarData:
    """Daily bars rising by 1 for ``leg`` bars, then falling by 1 for ``leg`` bars, and so on (from 100)."""
    builder = BarSeriesBuilder(symbol, DAY)
    close = 100.0
    for i in range(bars):
        previous = close
        if i:
            close += 1.0 if (i // leg) % 2 == 0 else -1.0
        at = int((start + i * every).timestamp())
        builder.append((at, previous, max(previous, close) + 0.5, min(previous, close) - 0.5, close, 1000.0), i)
    return BarData([builder.build()])
