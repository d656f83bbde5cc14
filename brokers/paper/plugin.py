"""The ``paper`` broker plug-in (entry point ``tradebus.brokers: paper``): settings -> PaperBroker."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from brokers.paper.broker import PaperBroker
from brokers.paper.config import PaperConfig
from framework.broker import MarketData
from framework.clock import Clock
from framework.errors import ConfigError


class PaperPlugin:
    """Builds a :class:`PaperBroker` over another broker's market data."""

    name = "paper"
    description = "simulated fills, cash and positions over another broker's market data"
    needs_data = True

    def create(self, settings: Mapping[str, Any], *, clock: Clock, data: MarketData | None = None) -> PaperBroker:
        """Build the broker from its ``[paper]`` settings.

        Raises:
            ConfigError: If ``data`` is missing or a setting is invalid (naming the key).
        """
        if data is None:
            msg = "the paper broker needs a market-data source (--data-from)"
            raise ConfigError(msg, key="data_from")
        try:
            config = PaperConfig.model_validate(dict(settings))
        except ValidationError as e:
            first = e.errors()[0]
            key = "paper." + ".".join(str(p) for p in first["loc"])
            raise ConfigError(first["msg"], key=key) from e
        return PaperBroker(data, clock, config)


PLUGIN = PaperPlugin()
