"""The ``backtest`` broker plug-in (entry point ``tradebus.brokers: backtest``): a bar file as a broker.

Builds a :class:`~brokers.paper.backtest_broker.BacktestBroker` from the ``[brokers.backtest]``
settings (see :class:`~brokers.paper.backtest_broker.BacktestBrokerConfig`), reading the bar file
(default: the shipped sample) with :func:`tradebus.data.load_bars`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from brokers.paper.backtest_broker import BacktestBroker
from brokers.paper.backtest_broker import BacktestBrokerConfig
from framework.broker import MarketData
from framework.clock import Clock
from framework.clock import SimulatedClock
from framework.config import SectionSource
from framework.config import validate_section
from framework.errors import ConfigError
from tradebus.data import load_bars
from tradebus.sample_data import sample_data_path


class BacktestPlugin:
    """Builds a :class:`BacktestBroker` from the ``[brokers.backtest]`` settings."""

    name = "backtest"
    description = "the paper venue replaying a bar file (default: the shipped sample) on a simulated clock"
    needs_data = False

    def create(
        self, settings: Mapping[str, Any], *, clock: Clock, data: MarketData | None = None
    ) -> BacktestBroker:
        """Validate the settings, load the bars and build the broker.

        ``clock`` is driven by the replay if it is a :class:`~framework.clock.SimulatedClock`; a wall
        clock is left alone and the broker keeps a simulated clock of its own.

        Raises:
            ConfigError: Naming the bad key (``brokers.backtest.<key>``) and the file it came from, the
                unreadable bar file, or a market-data source, which this broker does not take.
            DataError: If the bar file is invalid (naming the file and line).
        """
        if data is not None:
            msg = "the backtest broker replays its own bar file and takes no market-data source"
            raise ConfigError(msg, key="data_from")
        config = validate_section(BacktestBrokerConfig, settings, section="brokers.backtest")
        source = settings.source_of("data") if isinstance(settings, SectionSource) else None
        path = config.data or sample_data_path()
        try:
            duration = None if config.bar_seconds is None else timedelta(seconds=config.bar_seconds)
            bars = load_bars(path, duration)
        except OSError as e:
            msg = f"cannot read bar file {path}: {e.strerror}"
            raise ConfigError(msg, key="brokers.backtest.data", source=source) from e
        try:
            return BacktestBroker(bars, config, clock=clock if isinstance(clock, SimulatedClock) else None)
        except ValueError as e:
            raise ConfigError(str(e), key="brokers.backtest.data", source=source) from e


PLUGIN = BacktestPlugin()
