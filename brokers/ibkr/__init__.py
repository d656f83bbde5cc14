"""IBKR Client Portal Web API adapter: ``IbkrBroker`` implements the framework's broker interface."""

from brokers.ibkr.broker import IbkrBroker
from brokers.ibkr.config import IbkrConfig

__all__ = [
    "IbkrBroker",
    "IbkrConfig",
]
