"""The ``ibkr`` broker plug-in (entry point ``tradebus.brokers: ibkr``): settings -> IbkrBroker."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from brokers.ibkr.broker import IbkrBroker
from brokers.ibkr.config import IbkrConfig
from framework.broker import MarketData
from framework.clock import Clock
from framework.config import validate_section


class IbkrPlugin:
    """Builds an :class:`IbkrBroker` from the ``[brokers.ibkr]`` settings."""

    name = "ibkr"
    description = "Interactive Brokers Client Portal Web API (real gateway or tradebus gateway-sim)"
    needs_data = False

    def create(self, settings: Mapping[str, Any], *, clock: Clock, data: MarketData | None = None) -> IbkrBroker:
        """Validate the settings into an :class:`IbkrConfig` and build the broker.

        Raises:
            ConfigError: Naming the bad key (``brokers.ibkr.<key>``) and the file it came from.
        """
        config = validate_section(IbkrConfig, settings, section="brokers.ibkr")
        return IbkrBroker(config, clock=clock)


PLUGIN = IbkrPlugin()
