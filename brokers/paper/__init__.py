"""Simulated execution: the paper venue, its fill and cost models, the historical feed and the replaying broker."""

from brokers.paper.backtest_broker import BacktestBroker
from brokers.paper.backtest_broker import BacktestBrokerConfig
from brokers.paper.broker import PaperBroker
from brokers.paper.config import MarketHours
from brokers.paper.config import PaperConfig
from brokers.paper.costs import BasisPointSlippage
from brokers.paper.costs import NoCommission
from brokers.paper.costs import NoSlippage
from brokers.paper.costs import PercentCommission
from brokers.paper.costs import PerShareCommission
from brokers.paper.costs import TickSlippage
from brokers.paper.feed import HistoricalFeed
from brokers.paper.fill_model import FillModel

__all__ = [
    "BacktestBroker",
    "BacktestBrokerConfig",
    "BasisPointSlippage",
    "FillModel",
    "HistoricalFeed",
    "MarketHours",
    "NoCommission",
    "NoSlippage",
    "PaperBroker",
    "PaperConfig",
    "PerShareCommission",
    "PercentCommission",
    "TickSlippage",
]
