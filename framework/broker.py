"""The contract every broker adapter implements.

A broker is two halves plus a connection: :class:`MarketData` (find instruments, stream quotes and
bars, fetch history) and :class:`Execution` (take order commands; report open orders, positions and
the account). Adapters translate their wire formats at their own boundary; nothing wire-specific
crosses into the framework.

**Commands in, facts out.** The engine's dispatcher hands every order command
(:mod:`framework.commands`) to :meth:`Execution.execute`, which must return without waiting on the
network: a networked adapter queues the command for its own worker (see
:class:`~framework.worker.CommandWorker`), an in-memory venue may run it inline. Commands for one
order must reach the venue in the order they were issued. What happened comes back through the
:data:`EventSink` given at :meth:`Broker.connect`, from any thread: ``OrderAccepted``,
``OrderRejected``, ``OrderUpdated``, ``OrderCancelled``, ``OrderCancelRejected``, ``OrderExpired`` and,
for every execution, ``ExecutionReported`` carrying the venue's report as it was received. Adapters
report facts; the engine's order book alone decides an order's status and checks every execution
against its order before the portfolio books it (see :mod:`framework.lifecycle`). An adapter keeps
only what it needs to talk to its venue: id mapping and de-duplication.

An in-memory venue (paper, backtest) is the account it simulates: it implements
:class:`SharesPortfolio`, and the engine then books fills into the venue's own
:class:`~framework.portfolio.Portfolio` instead of a second one, so each fill is booked once and the
venue's buying power and positions are the engine's.

Adapters emit ``BrokerConnected`` / ``BrokerDegraded`` / ``BrokerDisconnected`` as their connection
changes. A broker whose venue outlives the process (a real broker) also implements
:class:`Recoverable`, so a restarted engine picks up where the previous run stopped.

Two small optional parts serve a journal that holds many runs: a broker that knows its account once
connected says so (:class:`NamesAccount`), so the engine records the run's venue without asking the
venue; and a venue that numbers its own orders and executions afresh in every process
(:class:`RunScoped`, an in-memory venue) is told the run id, so its ids never repeat one an earlier
run journaled.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from datetime import timedelta
from enum import StrEnum
from typing import Protocol
from typing import runtime_checkable

from framework.commands import OrderCommand
from framework.events import AnyEvent
from framework.marketdata import Bar
from framework.models import Account
from framework.models import Fill
from framework.models import Instrument
from framework.models import Order
from framework.models import Position
from framework.models import SecurityType
from framework.portfolio import Portfolio


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
    """Order commands and account state."""

    def execute(self, command: OrderCommand) -> None:
        """Take an order command without waiting on the network; the outcome arrives as events.

        Called on the engine's dispatcher thread. A networked adapter queues the command for its
        own worker; an in-memory venue may run it at once. A request that can never be expressed
        for this venue is answered with ``OrderRejected`` (or ``OrderCancelRejected``), not an
        exception.
        """
        ...

    def drop_unsent(self) -> list[OrderCommand]:
        """Drop every placement (submit or modify) queued but not yet sent, and return them.

        The kill switch calls this from its own thread; a placement already being sent finishes.
        An adapter that executes inline has nothing queued and returns an empty list.
        """
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


@runtime_checkable
class NamesAccount(Protocol):
    """A broker that knows, once connected, the account it trades (without a request to the venue).

    Attributes:
        account_id: The account, or None before :meth:`Broker.connect` chose it.
    """

    @property
    def account_id(self) -> str | None:
        """The account traded."""
        ...


@runtime_checkable
class RunScoped(Protocol):
    """A venue that numbers its orders and executions afresh in every process (an in-memory venue).

    The engine calls :meth:`begin_run` before :meth:`Broker.connect` with the run id, which is
    unique among the runs of its journal; the venue puts it in every id it issues, so a later run
    on the same journal never reports an execution id an earlier one journaled.
    """

    def begin_run(self, run_id: str) -> None:
        """Issue ids of run ``run_id`` from now on."""
        ...


@runtime_checkable
class SharesPortfolio(Protocol):
    """An in-memory venue whose account is the engine's portfolio (see the module docstring).

    The venue reads the portfolio (buying power, positions, account) and never books into it: the
    engine's order lifecycle books each fill once, on the dispatcher thread.

    Attributes:
        portfolio: The venue's account, starting with its configured cash.
    """

    portfolio: Portfolio
