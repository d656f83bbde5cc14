"""The catalogue of events: if an event is not in this module, it does not exist.

Every event is immutable and carries ``ts``, the time it happened, read from the injected clock of
whoever emits it. Events are published on the :class:`~framework.bus.EventBus` with a *sender* used
for routing: the symbol for market data, the owning strategy id for order events, :data:`ANY` for
the rest. Strategies receive them through ``on_*`` hooks (see :mod:`framework.strategy`).

===================== ================================ ======================= ============================
event                 emitted by                       sender                  payload
===================== ================================ ======================= ============================
QuoteUpdated          broker adapter (market data)     symbol                  quote
BarClosed             broker adapter, bar aggregator,  symbol                  bar
                      backtest data feed
DataStale             engine (no data within limit)    symbol                  symbol, last_update
DataGap               broker adapter (its stream was   symbol                  symbol, start, end
                      interrupted and is back)
OrderSubmitted        engine (checks passed, intent    strategy id             order
                      journaled, command queued)
OrderDenied           engine: checks, kill switch      strategy id             client_order_id, reason
                      (never reached the broker)
OrderAccepted         broker adapter                   strategy id             client_order_id, broker id
OrderRejected         broker adapter (venue refusal,   strategy id             client_order_id, reason
                      unconfirmed order question)
OrderUpdated          broker adapter (modify acked)    strategy id             client_order_id, request
ExecutionReported     broker adapter (an execution,    (not published: the     report
                      unchecked)                       engine consumes it)
OrderPartiallyFilled  engine (a checked execution)     strategy id             client_order_id, fill
OrderFilled           engine (the completing one)      strategy id             client_order_id, fill
ExecutionRefused      engine (report contradicts its   strategy id, else ANY   client_order_id,
                      order or an earlier report)                              execution_id, field,
                                                                               expected, received
OrderPendingCancel    engine (cancel requested)        strategy id             client_order_id
OrderCancelled        broker adapter                   strategy id             client_order_id, reason
OrderCancelRejected   broker adapter (too late, etc.)  strategy id             client_order_id, reason
OrderExpired          broker adapter (DAY at close)    strategy id             client_order_id
OrderHeld             engine (broker cannot take the   strategy id             client_order_id, command,
                      command now: degraded policy)                            reason, until
CommandNotSent        broker adapter (a command it     (not published: the     client_order_id, command,
                      could not send, given back)      engine consumes it)     reason, request
PositionChanged       engine (portfolio, after a fill) symbol                  position
AccountUpdated        broker adapter / engine          ANY                     account
PnlUpdated            broker adapter (the broker's     ANY                     account_id, daily and
                      P&L stream)                                              unrealized P&L, net liq.
BrokerConnected       broker adapter                   ANY                     broker
BrokerDegraded        broker adapter (partly usable)   ANY                     broker, reason
BrokerDisconnected    broker adapter                   ANY                     broker, reason
HaltRequested         broker adapter (trading is       ANY                     source, reason
                      unsafe: another account, ...)
ClockSkewDetected     broker adapter (the venue's      ANY                     broker, skew, threshold,
                      clock and this one's disagree)                           source
TimerFired            engine (strategy timers)         strategy id             name, scheduled
HandlerFailed         event bus (a handler that no     ANY                     handler, event, error
                      strategy owns raised)
StrategyFailed        engine (a strategy's hook        ANY                     strategy_id, hook, event,
                      raised; see framework.supervision)                       error, traceback, policy,
                                                                               cancelled
===================== ================================ ======================= ============================

Brokers emit order events by ``client_order_id`` only; the engine updates order state and the
portfolio, then publishes them to the owning strategy. Executions arrive as ``ExecutionReported``;
the engine checks each against its order (side, instrument, account, quantity, price, commission,
an execution id seen before) and publishes ``OrderFilled`` for the fill that completes the order,
``OrderPartiallyFilled`` for every earlier one, or ``ExecutionRefused`` naming the field that
contradicts the order (nothing is booked then). ``OrderSubmitted`` and ``PositionChanged`` are built
only when someone listens.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from typing import Literal
from typing import NamedTuple
from typing import TypeAlias

from pydantic import AwareDatetime
from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import SkipValidation
from pydantic import field_serializer

from framework.marketdata import Bar
from framework.marketdata import Quote
from framework.models import Account
from framework.models import ExecutionReport
from framework.models import Fill
from framework.models import Order
from framework.models import OrderRequest
from framework.models import Position


class Event(BaseModel):
    """Base of the pydantic events: frozen, unknown fields refused, ``ts`` aware UTC."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ts: AwareDatetime


# Market data events are tuples for speed (see framework.marketdata for the measurement).
class QuoteUpdated(NamedTuple):
    """A new quote for ``quote.symbol``."""

    ts: datetime
    quote: Quote


class BarClosed(NamedTuple):
    """A bar for ``bar.symbol`` has closed."""

    ts: datetime
    bar: Bar


class ExecutionReported(NamedTuple):
    """A broker reported an execution; the engine checks it before anything is booked."""

    ts: datetime
    report: ExecutionReport


class DataStale(Event):
    """No market data arrived for ``symbol`` within the configured limit."""

    symbol: str
    last_update: AwareDatetime | None


class DataGap(Event):
    """Market data for ``symbol`` may be missing between ``start`` and ``end``: the broker's stream was interrupted.

    A broker adapter emits one per subscribed instrument once its stream is back (re-subscribed,
    data flowing again from ``end``). Quotes and trades of the gap were not delivered: a bar that
    spans it may be incomplete, and an indicator fed from quotes missed whatever happened meanwhile.
    Orders are not affected (the adapter reconciles them).

    Attributes:
        symbol: The instrument.
        start: When the last data arrived before the interruption.
        end: When the stream was back.
    """

    symbol: str
    start: AwareDatetime
    end: AwareDatetime


class OrderEvent(Event):
    """Base of the events about one order."""

    client_order_id: str


class OrderSubmitted(OrderEvent):
    """The order passed the pre-trade checks and is being sent to the broker."""

    order: SkipValidation[Order]  # the engine's own snapshot: its ticket was validated where it entered

    @field_serializer("order")
    def _order_as_object(self, order: Order) -> dict[str, Any]:
        return order._asdict()


class OrderDenied(OrderEvent):
    """The framework refused the order before it reached the broker."""

    reason: str


class OrderAccepted(OrderEvent):
    """The broker acknowledged the order; it is working."""

    broker_order_id: str


class OrderRejected(OrderEvent):
    """The broker refused the order (or a confirmation question was declined)."""

    reason: str


class OrderUpdated(OrderEvent):
    """The broker accepted a modification; ``request`` is the new ticket."""

    request: OrderRequest


class _FillEvent(OrderEvent):
    fill: SkipValidation[Fill]  # made by the order book from a report it checked

    @field_serializer("fill")
    def _fill_as_object(self, fill: Fill) -> dict[str, Any]:
        return fill._asdict()  # a named tuple would serialise as a list


class OrderPartiallyFilled(_FillEvent):
    """Part of the order executed; more quantity remains."""


class OrderFilled(_FillEvent):
    """The order executed completely; ``fill`` is the last execution."""


class ExecutionRefused(Event):
    """An execution report contradicts its order (or an earlier report): refused, nothing booked.

    Attributes:
        client_order_id: The order the report named.
        execution_id: The report's execution id.
        field: What contradicts (``side``, ``instrument``, ``account``, ``quantity``, ``price``,
            ``commission``, ``execution_id``, ``client_order_id``).
        expected: What the order (or the earlier report) says.
        received: What the report says.
    """

    client_order_id: str
    execution_id: str
    field: str
    expected: str
    received: str


class OrderPendingCancel(OrderEvent):
    """A cancel was requested and sent; the broker has not confirmed it yet."""


class OrderCancelled(OrderEvent):
    """The order was cancelled (by request, by the broker, or by an OCA sibling)."""

    reason: str = ""


class OrderCancelRejected(OrderEvent):
    """A cancel or modify could not be applied (typically: already filled)."""

    reason: str


class OrderExpired(OrderEvent):
    """The order's time in force ran out."""


CommandKind: TypeAlias = Literal["submit", "modify", "cancel"]
"""Which order command an event is about."""


class OrderHeld(OrderEvent):
    """The broker cannot take orders now, and this order's command waits (the degraded-order policy).

    The order keeps its status. The command is sent once the broker is connected (and trusted)
    again, or, if that takes past ``until``, dropped: an order is then denied (``OrderDenied``), a
    cancel or modification refused (``OrderCancelRejected``).

    Attributes:
        command: The command that waits.
        reason: Why the broker cannot take it.
        until: When it is dropped if the broker has not recovered.
    """

    command: CommandKind
    reason: str
    until: AwareDatetime


class CommandNotSent(Event):
    """A broker gives back an order command it could not send: it never reached the venue.

    The engine holds or denies it under the degraded-order policy (``OrderHeld``, ``OrderDenied``,
    ``OrderCancelRejected``). Adapters emit it only when they know the venue did not act on the
    command (their session was down, their rate limiter or the venue's refused it unread); an
    outcome they cannot know is looked up, never given back.

    Attributes:
        client_order_id: The order.
        command: What was not sent.
        reason: Why.
        request: The ticket of a modification (None for the others).
    """

    client_order_id: str
    command: CommandKind
    reason: str
    request: OrderRequest | None = None


class PositionChanged(Event):
    """A fill (or a broker position report) changed a position."""

    position: Position


class AccountUpdated(Event):
    """New account balances."""

    account: Account


class PnlUpdated(Event):
    """The broker's running profit and loss of one account, as the broker reports it.

    Informational: the engine books nothing from it (fills and ``AccountUpdated`` move the portfolio).
    A value the broker did not send is None.

    Attributes:
        account_id: The broker's account id.
        daily_pnl: Profit and loss since the start of the trading day.
        unrealized_pnl: Open profit and loss of the positions.
        net_liquidation: Net liquidation value of the account.
        excess_liquidity: Excess liquidity (margin headroom).
        market_value: Market value of the positions.
    """

    account_id: str
    daily_pnl: Decimal | None = None
    unrealized_pnl: Decimal | None = None
    net_liquidation: Decimal | None = None
    excess_liquidity: Decimal | None = None
    market_value: Decimal | None = None


class BrokerConnected(Event):
    """The broker is connected and ready for orders."""

    broker: str


class BrokerDegraded(Event):
    """The broker is partly usable (e.g. data stream down, REST up); new orders may be refused."""

    broker: str
    reason: str


class BrokerDisconnected(Event):
    """The broker is not usable."""

    broker: str
    reason: str = ""


class HaltRequested(Event):
    """A broker adapter found trading unsafe and asks for a halt (a kill-switch trigger).

    The engine halts its order gateway at once, as the kill switch does (new orders denied, unsent
    placements dropped, every open order cancelled), and publishes the event; an attached kill
    switch engages, so the halt is written to its flag file and outlives the process. Trading
    resumes only when an operator clears the halt.

    Attributes:
        source: Who asks (the broker's name).
        reason: Why, in one line (``the gateway's session lists account U****321, not this run's``).
    """

    source: str
    reason: str


class ClockSkewDetected(Event):
    """The broker's clock and this machine's differ by more than the adapter's threshold (an alarm).

    Emitted when the difference first exceeds the threshold and again whenever it moves by more than
    the threshold (a clock stepped meanwhile). Timing is unaffected (adapters time everything on the
    monotonic clock), but what is judged on the wall clock is off by ``skew``: stamps of events and
    fills, maintenance windows, trading hours. Fix the machine's time synchronisation (NTP).

    Attributes:
        broker: The broker.
        skew: Seconds the broker's clock is ahead of this machine's (negative: behind).
        threshold: The threshold in seconds.
        source: Where the broker's time was read (``websocket heartbeat``).
    """

    broker: str
    skew: float
    threshold: float
    source: str


class TimerFired(Event):
    """A strategy timer came due."""

    name: str
    scheduled: AwareDatetime


class HandlerFailed(Event):
    """An event handler that no strategy owns raised; the bus isolated it and carried on.

    A strategy's hooks are supervised instead: their errors are :class:`StrategyFailed`.
    """

    handler: str
    event: SkipValidation[Any]
    error: str
    error_type: str


class StrategyFailed(Event):
    """A strategy's hook raised, and the engine applied the strategy's error policy.

    Attributes:
        strategy_id: The strategy.
        hook: The hook that raised (``on_bar``, ``on_order_filled``, ``on_start``, ``on_stop`` ...).
        event: What the hook was handling, in words (``BarClosed AAPL 60s at 2024-01-02T14:31:00+00:00``);
            empty for ``on_start`` and ``on_stop``.
        error_type: The exception's class name.
        error: The exception's message, redacted (:func:`framework.redaction.redact`).
        traceback: The formatted traceback, redacted.
        policy: What was done (``stop-strategy``, ``stop-run`` or ``continue``; see
            :class:`~framework.supervision.ErrorPolicy`).
        cancelled: The client order ids of the working orders cancelled because the strategy stopped.
    """

    strategy_id: str
    hook: str
    event: str
    error_type: str
    error: str
    traceback: str
    policy: str
    cancelled: tuple[str, ...] = ()


AnyEvent: TypeAlias = Event | QuoteUpdated | BarClosed | ExecutionReported
"""Any event in this catalogue."""

ORDER_EVENTS: tuple[type[OrderEvent], ...] = (
    OrderSubmitted,
    OrderDenied,
    OrderAccepted,
    OrderRejected,
    OrderUpdated,
    OrderPartiallyFilled,
    OrderFilled,
    OrderPendingCancel,
    OrderCancelled,
    OrderCancelRejected,
    OrderExpired,
    OrderHeld,
)
"""Every event about a single order, in no particular order."""
