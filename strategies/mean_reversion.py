"""Bollinger-band mean reversion, confirmed by RSI.

Rules, evaluated on each closed bar of ``symbol``:

* flat, the close is below the lower band and RSI is below ``rsi_entry`` -> buy ``quantity`` at market;
* long, the close is back at or above the middle band (the moving average) -> sell to flat at market;
* long, RSI rises above ``rsi_exit`` -> sell to flat (the bounce is exhausted).

Only long positions; one position at a time; nothing is sent while an order is still working.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from pydantic import Field

from framework.config import StrategyConfig
from framework.indicators import RSI
from framework.indicators import BollingerBands
from framework.marketdata import Bar
from framework.strategy import Strategy


class MeanReversionConfig(StrategyConfig):
    """Parameters of :class:`MeanReversion`.

    Attributes:
        symbol: Instrument traded.
        period: Bollinger moving-average period.
        band_width: Standard deviations between the middle and outer bands.
        rsi_period: RSI period.
        rsi_entry: Enter only when RSI is below this.
        rsi_exit: Exit when RSI rises above this.
        quantity: Shares per entry.
        bar_seconds: Size of the bars traded on, in seconds; None (the default) for the data's own bars.
            A size coarser than the data's is built from them (e.g. 300 on 1-minute data).
    """

    symbol: str = "AAPL"
    period: int = Field(default=20, ge=2)
    band_width: float = Field(default=2.0, gt=0)
    rsi_period: int = Field(default=14, ge=2)
    rsi_entry: float = Field(default=30.0, gt=0, lt=100)
    rsi_exit: float = Field(default=70.0, gt=0, lt=100)
    quantity: Decimal = Field(default=Decimal(100), gt=0)
    bar_seconds: int | None = Field(default=None, gt=0)


class MeanReversion(Strategy[MeanReversionConfig]):
    """Buys stretched dips below the lower Bollinger band and exits at the mean."""

    config_type = MeanReversionConfig

    def on_start(self) -> None:
        """Set up the indicators and subscribe to bars."""
        cfg = self.config
        self.bands = BollingerBands(cfg.period, cfg.band_width)
        self.rsi = RSI(cfg.rsi_period)
        size = None if cfg.bar_seconds is None else timedelta(seconds=cfg.bar_seconds)
        self.subscribe_bars(cfg.symbol, size)

    def on_bar(self, bar: Bar) -> None:
        """Apply the entry and exit rules to a closed bar."""
        bands = self.bands.update(bar.close)
        rsi = self.rsi.update(bar.close)
        if bands is None or rsi is None or self.open_orders():
            return
        held = self.portfolio.quantity(bar.symbol)
        if held == 0 and bar.close < bands.lower and rsi < self.config.rsi_entry:
            self.buy(bar.symbol, self.config.quantity)
        elif held > 0 and (bar.close >= bands.middle or rsi > self.config.rsi_exit):
            self.close_position(bar.symbol)
