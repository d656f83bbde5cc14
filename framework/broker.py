"""The contract every broker adapter implements.

A broker is two halves plus a connection: :class:`MarketData` (find instruments, stream quotes and
bars, fetch history) and :class:`Execution` (submit, modify and cancel orders; report open orders,
positions and the account). Adapters translate their wire formats at their own boundary; nothing
wire-specific crosses into the framework.

Results of execution calls arrive as events, not return values: ``submit_order`` returns once the
request is on its way, and the broker later emits ``OrderAccepted`` / ``OrderRejected`` /
``OrderFilled`` ... through the :data:`EventSink` it was given at :meth:`Broker.connect`. A sink may be
called from any thread (the engine queues; it never runs handlers on the caller's thread).

Adapters must make every order event carry the ``client_order_id`` of the request, never emit the
same execution twice on purpose (the engine de-duplicates anyway), and emit ``BrokerConnected`` /
``BrokerDegraded`` / ``BrokerDisconnected`` as their connection changes. A broker whose venue outlives
the process (a real broker) also implements :class:`Recoverable`, so a restarted engine picks up
where the previous run stopped.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from datetime import timedelta
from enum import StrEnum
from typing import Protocol
from typing import runtime_checkable

from framework.events import AnyEvent
from framework.marketdata import Bar
from framework.models import Account
from framework.models import Fill
from framework.models import Instrument
from framework.models import Order
from framework.models import OrderRequest
from framework.models import Position
from framework.models import SecurityType


class EventSink(Protocol):
    """Where a broker delivers events (the engine's queue); thread-safe, never blocks for long."""

    def __call__(self, event: AnyEvent, /) -> None:
        """Deliver one event."""
        ...


class ConnectionState(StrEnum):
    """How usable a broker connection is."""

    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DEGRADED = "degraded"


@runtime_checkable
class MarketData(Protocol):
    """Instrument lookup, live market data and history."""

    def resolve_instrument(self, symbol: str, security_type: SecurityType = SecurityType.STOCK) -> Instrument:
        """Return the one instrument for ``symbol`` (with its broker id), or raise ``LookupError``."""
        ...

    def search_instruments(self, text: str) -> Sequence[Instrument]:
        """Return instruments matching ``text``, best first (may be empty)."""
        ...

    def subscribe_quotes(self, instrument: Instrument) -> None:
        """Start emitting ``QuoteUpdated`` for ``instrument``."""
        ...

    def unsubscribe_quotes(self, instrument: Instrument) -> None:
        """Stop emitting ``QuoteUpdated`` for ``instrument``."""
        ...

    def subscribe_bars(self, instrument: Instrument, duration: timedelta) -> None:
        """Start emitting ``BarClosed`` of ``duration`` for ``instrument``."""
        ...

    def unsubscribe_bars(self, instrument: Instrument, duration: timedelta) -> None:
        """Stop emitting ``BarClosed`` of ``duration`` for ``instrument``."""
        ...

    def historical_bars(
        self, instrument: Instrument, duration: timedelta, start: datetime, end: datetime
    ) -> Sequence[Bar]:
        """Return completed bars of ``duration`` starting in ``[start, end)``, oldest first."""
        ...


@runtime_checkable
class Execution(Protocol):
    """Order entry and account state."""

    def submit_order(self, request: OrderRequest) -> None:
        """Send a new order; the outcome arrives as events."""
        ...

    def modify_order(self, request: OrderRequest) -> None:
        """Replace the working order ``request.client_order_id`` with this full ticket."""
        ...

    def cancel_order(self, client_order_id: str) -> None:
        """Ask the broker to cancel; ``OrderCancelled`` or ``OrderCancelRejected`` follows."""
        ...

    def open_orders(self) -> Sequence[Order]:
        """Return the orders the broker reports as working."""
        ...

    def positions(self) -> Sequence[Position]:
        """Return the broker's positions."""
        ...

    def account(self) -> Account:
        """Return the broker's account balances."""
        ...


@runtime_checkable
class Broker(MarketData, Execution, Protocol):
    """A complete broker: market data, execution and a connection.

    Attributes:
        name: Short identifier (``ibkr``, ``paper``), used as the event payload of connection events.
    """

    name: str

    @property
    def connection_state(self) -> ConnectionState:
        """Current connection state."""
        ...

    def connect(self, sink: EventSink) -> None:
        """Connect (blocking until usable or failed) and deliver all future events to ``sink``.

        Raises:
            BrokerConnectionError: If the broker cannot be made usable.
        """
        ...

    def disconnect(self) -> None:
        """Close connections and stop threads; idempotent."""
        ...


@runtime_checkable
class Recoverable(Protocol):
    """A broker that can take back the orders a previous run left behind (crash, restart).

    The engine calls :meth:`recover` once, after :meth:`Broker.connect` and before any strategy
    starts, with every order the journal holds as not final and the fills it already recorded for
    them. The broker looks each order up at the venue (by client order id first), adopts it, and
    emits through the sink every event the previous run missed (acceptance, fills, cancellation,
    or ``OrderRejected`` for an intent the venue never received), each exactly once. It never
    sends an order again.
    """

    def recover(self, orders: Sequence[Order], fills: Sequence[Fill]) -> None:
        """Adopt ``orders`` (not final in the journal) and emit the events missed for them.

        Args:
            orders: The journal's unfinished orders, with the state it recorded.
            fills: The fills the journal recorded for those orders (never emitted again).

        Raises:
            BrokerConnectionError: If the venue's state could not be read; the engine then refuses
                to start trading.
        """
        ...
