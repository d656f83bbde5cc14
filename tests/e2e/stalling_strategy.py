"""A sweep test strategy: each run marks its start in a folder; runs with ``n >= stall_from`` then never end."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

from framework.config import StrategyConfig
from framework.marketdata import Bar
from framework.strategy import Strategy


class Config(StrategyConfig):
    symbol: str = "AAPL"
    bar_seconds: int = 86400
    n: int = 0
    stall_from: int = 2
    marks: str = "."


class StallsFromN(Strategy[Config]):
    """Writes ``started-<n>`` into ``marks``; a run with ``n >= stall_from`` then blocks for good (a stuck backtest)."""

    config_type = Config

    def on_start(self) -> None:
        (Path(self.config.marks) / f"started-{self.config.n}").touch()
        if self.config.n >= self.config.stall_from:
            threading.Event().wait()
        self.subscribe_bars(self.config.symbol, timedelta(seconds=self.config.bar_seconds))

    def on_bar(self, bar: Bar) -> None:
        """Nothing to trade: the test is about the sweep's processes."""
