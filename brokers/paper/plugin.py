"""The ``paper`` broker plug-in (entry point ``tradebus.brokers: paper``): settings -> PaperBroker."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from brokers.paper.broker import PaperBroker
from brokers.paper.config import PaperConfig
from framework.broker import MarketData
from framework.clock import Clock
from framework.config import validate_section
from framework.errors import ConfigError


class PaperPlugin:
    """Builds a :class:`PaperBroker` over another broker's market data."""

    name = "paper"
    description = "simulated fills, cash and positions over another broker's market data"
    needs_data = True

    def create(self, settings: Mapping[str, Any], *, clock: Clock, data: MarketData | None = None) -> PaperBroker:
        """Build the broker from its ``[brokers.paper]`` settings.

        Raises:
            ConfigError: If ``data`` is missing, or a setting is invalid (naming ``brokers.paper.<key>``
                and the file it came from).
        """
        if data is None:
            msg = "the paper broker needs a market-data source (--data-from)"
            raise ConfigError(msg, key="data_from")
        config = validate_section(PaperConfig, settings, section="brokers.paper")
        return PaperBroker(data, clock, config)


PLUGIN = PaperPlugin()
