"""Broker plug-ins, found through the ``tradebus.brokers`` entry-point group.

A package adds a broker by declaring, in its own ``pyproject.toml``::

    [project.entry-points."tradebus.brokers"]
    mybroker = "mypackage.plugin:PLUGIN"

where ``PLUGIN`` satisfies :class:`BrokerPlugin`. The framework never imports a broker package: the
CLI and applications look brokers up by name here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any
from typing import Protocol

from framework.broker import Broker
from framework.broker import MarketData
from framework.clock import Clock
from framework.errors import ConfigError

log = logging.getLogger(__name__)

BROKER_GROUP = "tradebus.brokers"


class BrokerPlugin(Protocol):
    """Builds a broker from plain settings.

    Attributes:
        name: The name users type (``--broker ibkr``).
        description: One line for ``tradebus brokers``.
        needs_data: Whether the broker simulates execution over another broker's market data
            (``paper``); such a broker receives that source as ``data``.
    """

    name: str
    description: str
    needs_data: bool

    def create(self, settings: Mapping[str, Any], *, clock: Clock, data: MarketData | None = None) -> Broker:
        """Build the broker from its settings section (a mapping from the config file / CLI).

        ``settings`` is usually the :class:`~tradebus.settings.SettingsSection` of
        ``[brokers.<name>]``; validate it with :func:`~tradebus.settings.validate_section` so an
        error names the key and the file.

        Raises:
            ConfigError: If a setting is missing or invalid (naming ``brokers.<name>.<key>`` and the
                file).
        """
        ...


@dataclass(frozen=True)
class PluginInfo:
    """What ``tradebus brokers`` lists about one plug-in.

    Attributes:
        name: Entry-point name.
        target: ``module:attribute`` it points at.
        description: The plug-in's one-line description, or the import error if it failed to load.
        loaded: Whether it imported.
    """

    name: str
    target: str
    description: str
    loaded: bool


def broker_plugins() -> dict[str, BrokerPlugin]:
    """Load every installed broker plug-in (plug-ins that fail to import are logged and skipped)."""
    found: dict[str, BrokerPlugin] = {}
    for ep in entry_points(group=BROKER_GROUP):
        try:
            found[ep.name] = ep.load()
        except ImportError as e:
            log.warning("broker plug-in %s (%s) failed to load: %s", ep.name, ep.value, e)
    return dict(sorted(found.items()))


def describe_plugins() -> list[PluginInfo]:
    """Every declared broker plug-in with its status, for listing."""
    infos = []
    for ep in sorted(entry_points(group=BROKER_GROUP), key=lambda e: e.name):
        try:
            plugin: BrokerPlugin = ep.load()
        except ImportError as e:
            infos.append(PluginInfo(ep.name, ep.value, f"failed to load: {e}", loaded=False))
            continue
        infos.append(PluginInfo(ep.name, ep.value, plugin.description, loaded=True))
    return infos


def broker_plugin(name: str) -> BrokerPlugin:
    """Return the plug-in called ``name``.

    Raises:
        ConfigError: If no such plug-in is installed (the message lists those that are).
    """
    plugins = broker_plugins()
    if name not in plugins:
        known = ", ".join(plugins) or "none"
        msg = f"unknown broker {name!r}; installed brokers: {known}"
        raise ConfigError(msg, key="broker")
    return plugins[name]
