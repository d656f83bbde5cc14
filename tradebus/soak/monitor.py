"""A strategy that trades nothing and watches the run from the dispatcher thread.

It may read the engine's order book there (the One Rule: only the dispatcher touches order state).
Every second it looks for orders *stuck unresolved*: an order whose outcome is unknown (sent but not
acknowledged, a cancel or a modification not answered) for longer than ``stuck_after`` while the
broker has been connected all that time. Faults make outcomes unknown for a while; the adapter must
resolve each soon after the broker is back. It also counts connection changes and times how long
the broker was not connected.
"""

from __future__ import annotations

from datetime import datetime
from datetime import timedelta

from pydantic import Field

from framework.config import StrategyConfig
from framework.events import BrokerConnected
from framework.events import BrokerDegraded
from framework.events import BrokerDisconnected
from framework.events import TimerFired
from framework.models import OrderStatus
from framework.strategy import Strategy

WATCH = "soak-watch"
UNRESOLVED = frozenset({OrderStatus.INITIALIZED, OrderStatus.SUBMITTED, OrderStatus.PENDING_CANCEL,
                        OrderStatus.PENDING_UPDATE})
"""Statuses that mean the outcome of a command is not known yet."""


class SoakMonitorConfig(StrategyConfig):
    """Parameters of :class:`SoakMonitor`.

    Attributes:
        stuck_after: How long an outcome may stay unknown while the broker is connected.
        every: Time between two looks.
    """

    stuck_after: timedelta = Field(default=timedelta(seconds=60), gt=timedelta(0))
    every: timedelta = timedelta(seconds=1)


class SoakMonitor(Strategy[SoakMonitorConfig]):
    """Watches for stuck orders and connection changes (see the module docstring).

    Attributes:
        stuck: Stuck orders found: client order id -> a description (each reported once).
        connection: Connection events heard, by event name.
        down_seconds: Total time the broker was not connected.
    """

    config_type = SoakMonitorConfig

    def on_start(self) -> None:
        """Start watching."""
        self.stuck: dict[str, str] = {}
        self.connection: dict[str, int] = {}
        self.down_seconds = 0.0
        self._connected_since: datetime | None = self.now
        self._down_since: datetime | None = None
        self.every(self.config.every, WATCH)

    def _count(self, name: str) -> None:
        self.connection[name] = self.connection.get(name, 0) + 1

    def _down(self) -> None:
        self._connected_since = None
        if self._down_since is None:
            self._down_since = self.now

    def on_broker_connected(self, event: BrokerConnected) -> None:
        """The broker is back: outcomes must now resolve."""
        self._count("BrokerConnected")
        self._connected_since = event.ts
        if self._down_since is not None:
            self.down_seconds += (event.ts - self._down_since).total_seconds()
            self._down_since = None

    def on_broker_degraded(self, event: BrokerDegraded) -> None:
        """The broker cannot take orders for now."""
        self._count("BrokerDegraded")
        self._down()

    def on_broker_disconnected(self, event: BrokerDisconnected) -> None:
        """The broker is unreachable."""
        self._count("BrokerDisconnected")
        self._down()

    def on_timer(self, event: TimerFired) -> None:
        """Look for stuck orders."""
        if event.name != WATCH or self._connected_since is None:
            return
        now = self.now
        limit = self.config.stuck_after
        for order in self.context.orders.open():  # the book keeps an index of these: no scan of every order
            cid = order.client_order_id
            if order.status not in UNRESOLVED or cid in self.stuck:
                continue
            since = max(order.updated, self._connected_since)
            if now - since > limit:
                self.stuck[cid] = (f"{cid} {order.status} since {order.updated.isoformat()} "
                                   f"(broker connected since {self._connected_since.isoformat()})")
