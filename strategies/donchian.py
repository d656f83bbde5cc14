"""Donchian-channel breakout with a bracket exit.

Rules, on each closed bar of ``symbol``:

* flat and the close breaks above the highest high of the previous ``channel`` bars -> enter long
  ``quantity`` at market with a bracket: a take-profit limit ``take_profit_atr`` ATRs above the close
  and a stop-loss ``stop_loss_atr`` ATRs below it, in one OCA group (whichever fills cancels the other);
* while in a trade nothing else is sent; the bracket does the exit.

Exit prices are rounded to the instrument's tick.
"""

from __future__ import annotations

from collections import deque
from datetime import timedelta
from decimal import Decimal

from pydantic import Field

from framework.config import StrategyConfig
from framework.indicators import ATR
from framework.marketdata import Bar
from framework.models import Side
from framework.strategy import Strategy


class DonchianConfig(StrategyConfig):
    """Parameters of :class:`DonchianBreakout`.

    Attributes:
        symbol: Instrument traded.
        channel: Bars in the breakout channel.
        atr_period: ATR period sizing the exits.
        take_profit_atr: Take-profit distance in ATRs.
        stop_loss_atr: Stop-loss distance in ATRs.
        quantity: Shares per entry.
        bar_seconds: Size of the bars traded on, in seconds; None (the default) for the data's own bars.
            A size coarser than the data's is built from them (e.g. 300 on 1-minute data).
    """

    symbol: str = "AAPL"
    channel: int = Field(default=20, ge=2)
    atr_period: int = Field(default=14, ge=1)
    take_profit_atr: float = Field(default=3.0, gt=0)
    stop_loss_atr: float = Field(default=1.5, gt=0)
    quantity: Decimal = Field(default=Decimal(100), gt=0)
    bar_seconds: int | None = Field(default=None, gt=0)


class DonchianBreakout(Strategy[DonchianConfig]):
    """Buys channel breakouts and exits through a take-profit / stop-loss bracket."""

    config_type = DonchianConfig

    def on_start(self) -> None:
        """Set up the channel window and ATR, subscribe to bars."""
        cfg = self.config
        self.highs: deque[float] = deque(maxlen=cfg.channel)
        self.atr = ATR(cfg.atr_period)
        size = None if cfg.bar_seconds is None else timedelta(seconds=cfg.bar_seconds)
        self.traded = self.subscribe_bars(cfg.symbol, size)

    def on_bar(self, bar: Bar) -> None:
        """Enter on a breakout of the previous channel; the bracket handles the exit."""
        atr = self.atr.update(bar.high, bar.low, bar.close)
        channel_full = len(self.highs) == self.highs.maxlen
        breakout = channel_full and bar.close > max(self.highs)
        self.highs.append(bar.high)
        if not breakout or atr is None or self.open_orders() or self.portfolio.quantity(bar.symbol) != 0:
            return
        cfg = self.config
        take_profit = self.traded.round_price(bar.close + cfg.take_profit_atr * atr)
        stop_loss = self.traded.round_price(max(bar.close - cfg.stop_loss_atr * atr, 0.01))
        self.bracket(Side.BUY, bar.symbol, cfg.quantity, take_profit=take_profit, stop_loss=stop_loss)
