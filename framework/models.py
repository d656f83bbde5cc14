"""Value objects of the trading domain.

Everything that carries money (orders, fills, positions, accounts) is a frozen pydantic model with
``Decimal`` amounts, validated at construction: a bad value raises ``pydantic.ValidationError``
naming the field. Market data (:class:`Quote`, :class:`Bar`) lives in :mod:`framework.marketdata`.
"""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated
from typing import NamedTuple
from typing import Self

from pydantic import AwareDatetime
from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import model_validator


class FrozenModel(BaseModel):
    """Base of every immutable, strictly validated model (unknown fields are refused)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def _finite(value: Decimal, name: str) -> Decimal:
    if not value.is_finite():
        msg = f"{name} must be a finite number, received {value}"
        raise ValueError(msg)
    return value


# Constraints are declared with Field(gt=0) so pydantic checks them in its compiled core (a Python
# validator per field cost ~1 us each on the order path); non-finite Decimals are refused by default.
Positive = Annotated[Decimal, Field(gt=0)]
NonNegative = Annotated[Decimal, Field(ge=0)]


class Side(StrEnum):
    """Direction of an order or fill."""

    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        """+1 for a buy, -1 for a sell."""
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        """The other side."""
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(StrEnum):
    """How an order is priced."""

    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"
    TRAILING_STOP = "trailing_stop"


class TimeInForce(StrEnum):
    """How long an order works: the session (DAY), until cancelled, immediately, or at the open."""

    DAY = "day"
    GTC = "gtc"
    IOC = "ioc"
    OPG = "opg"


class SecurityType(StrEnum):
    """Kind of instrument."""

    STOCK = "stock"
    ETF = "etf"
    FUTURE = "future"
    OPTION = "option"
    FOREX = "forex"
    INDEX = "index"
    CRYPTO = "crypto"


class Instrument(FrozenModel):
    """A tradable instrument.

    Attributes:
        symbol: The ticker used everywhere in the framework (``AAPL``); unique within a run.
        broker_id: The broker's own id, such as an IBKR conid (``"265598"``), if resolved.
        security_type: Kind of instrument.
        exchange: Primary or routing exchange (``SMART``, ``NASDAQ``).
        currency: ISO currency of prices.
        tick_size: Smallest price increment; order prices must be a multiple of it.
        lot_size: Smallest quantity increment; order quantities must be a multiple of it.
        multiplier: Contract multiplier (1 for stocks).
    """

    symbol: str = Field(min_length=1)
    broker_id: str | None = None
    security_type: SecurityType = SecurityType.STOCK
    exchange: str = "SMART"
    currency: str = Field(default="USD", min_length=3, max_length=3)
    tick_size: Positive = Decimal("0.01")
    lot_size: Positive = Decimal(1)
    multiplier: Positive = Decimal(1)

    def round_price(self, price: Decimal | float) -> Decimal:
        """Round ``price`` to the nearest tick (half-even), returning a Decimal."""
        value = price if isinstance(price, Decimal) else Decimal(repr(price))
        if not value % self.tick_size:  # already on the grid (most prices): same result, two operations fewer
            return value.normalize() if value else Decimal(0)
        ticks = (value / self.tick_size).to_integral_value()
        return (ticks * self.tick_size).normalize() if ticks else Decimal(0)

    def is_on_tick(self, price: Decimal) -> bool:
        """Whether ``price`` is a whole number of ticks."""
        return price % self.tick_size == 0


class OrderRequest(FrozenModel):
    """What a strategy asks a broker to do: the immutable ticket of one order.

    Attributes:
        client_order_id: Our id, unique for the account across restarts; the broker echoes it.
        strategy_id: The strategy that owns the order (events are routed back to it).
        instrument: What to trade.
        side: Buy or sell.
        quantity: Positive, finite, a multiple of the instrument's lot size.
        order_type: Market, limit, stop, stop-limit or trailing stop.
        limit_price: Required for limit and stop-limit orders.
        stop_price: Required for stop and stop-limit orders; initial trigger of a trailing stop.
        trail_amount: Trailing distance in price units (trailing stops: this or ``trail_percent``).
        trail_percent: Trailing distance in percent of the price.
        time_in_force: DAY, GTC, IOC or OPG.
        outside_rth: Allow working outside regular trading hours.
        parent_id: Client order id of the parent (bracket children).
        oca_group: One-cancels-all group name.
    """

    client_order_id: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9._:-]+$")
    strategy_id: str = ""
    instrument: Instrument
    side: Side
    quantity: Positive
    order_type: OrderType = OrderType.MARKET
    limit_price: Positive | None = None
    stop_price: Positive | None = None
    trail_amount: Positive | None = None
    trail_percent: Positive | None = None
    time_in_force: TimeInForce = TimeInForce.DAY
    outside_rth: bool = False
    parent_id: str | None = None
    oca_group: str | None = None

    @model_validator(mode="after")
    def _check_ticket(self) -> Self:
        if self.order_type is not OrderType.MARKET or self.limit_price is not None:
            _require_prices_for_type(self)  # a plain market order (the common ticket) has no prices to check
        _require_on_grid(self)
        # Count every field of a ticket as set (a ticket is complete), with one shared set: a run
        # keeps every ticket, and pydantic's own per-instance set of the fields given costs about
        # 700 bytes each. ``model_copy`` copies the set before changing it, and a frozen model never
        # changes it in place. Done here rather than in model_post_init (which runs just before this
        # validator) to save a call per ticket.
        object.__setattr__(self, "__pydantic_fields_set__", _TICKET_FIELDS)
        return self

    @property
    def symbol(self) -> str:
        """The instrument's symbol."""
        return self.instrument.symbol


_TICKET_FIELDS = set(OrderRequest.model_fields)


def _require_prices_for_type(req: OrderRequest) -> None:
    needs_limit = req.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
    needs_stop = req.order_type in (OrderType.STOP, OrderType.STOP_LIMIT)
    if needs_limit and req.limit_price is None:
        msg = f"limit_price is required for a {req.order_type} order"
        raise ValueError(msg)
    if needs_stop and req.stop_price is None:
        msg = f"stop_price is required for a {req.order_type} order"
        raise ValueError(msg)
    if req.order_type is OrderType.MARKET and req.limit_price is not None:
        msg = "limit_price must not be set on a market order"
        raise ValueError(msg)
    if req.order_type is OrderType.TRAILING_STOP and (req.trail_amount is None) == (req.trail_percent is None):
        msg = "trail_amount or trail_percent (exactly one) is required for a trailing_stop order"
        raise ValueError(msg)


def _require_on_grid(req: OrderRequest) -> None:
    inst = req.instrument
    if req.quantity % inst.lot_size:
        msg = f"quantity {req.quantity} is not a multiple of the lot size {inst.lot_size}"
        raise ValueError(msg)
    if req.limit_price is None and req.stop_price is None and req.trail_amount is None:
        return
    tick = inst.tick_size
    prices = (("limit_price", req.limit_price), ("stop_price", req.stop_price), ("trail_amount", req.trail_amount))
    for name, price in prices:
        if price is not None and price % tick:
            msg = f"{name} {price} is off the tick size {tick} of {inst.symbol}"
            raise ValueError(msg)


class OrderStatus(StrEnum):
    """Lifecycle state of an order (see :mod:`framework.orders` for legal transitions)."""

    INITIALIZED = "initialized"
    DENIED = "denied"
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    PENDING_UPDATE = "pending_update"
    PENDING_CANCEL = "pending_cancel"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def is_terminal(self) -> bool:
        """Whether no further event can change the order."""
        return self in TERMINAL_STATUSES

    @property
    def is_open(self) -> bool:
        """Whether the order may still fill."""
        return self not in TERMINAL_STATUSES and self is not OrderStatus.INITIALIZED


TERMINAL_STATUSES = frozenset(
    {OrderStatus.DENIED, OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
)


class Fill(NamedTuple):
    """One execution of (part of) an order, as booked.

    An immutable record, not a validated model: a fill is made only by the engine's order book from
    an execution report that passed the checks of :mod:`framework.executions` (or read back from the
    journal, which stored such a fill), so it is validated once, where the report enters. A run
    keeps and makes one for every execution, so it is a named tuple: a tenth of a pydantic model's
    memory, a quarter of a frozen dataclass's construction time.

    Attributes:
        execution_id: The broker's unique execution id; fills are de-duplicated on it.
        client_order_id: The order it belongs to.
        symbol: Instrument symbol.
        side: Buy or sell.
        quantity: Executed quantity (positive).
        price: Execution price (positive).
        commission: Commission charged, in the account currency (zero or positive).
        ts: Execution time (UTC).
        broker_order_id: The broker's order id, if known.
    """

    execution_id: str
    client_order_id: str
    symbol: str
    side: Side
    quantity: Decimal
    price: Decimal
    commission: Decimal
    ts: datetime
    broker_order_id: str | None = None


class ExecutionReport(NamedTuple):
    """A venue's report of one execution, as received and not yet checked against its order.

    Adapters build one per execution they hear of (stream, REST, recovery) and emit it in an
    ``ExecutionReported`` event; the engine checks it against its order (see
    :mod:`framework.executions`) and only then books it as a :class:`Fill`. Nothing here is
    validated, on purpose: a report that contradicts its order must reach that one check. A named
    tuple, the cheapest immutable record: one is made for every execution on a backtest's hot path.

    Attributes:
        execution_id: The venue's unique execution id.
        client_order_id: The order it belongs to (after the adapter's id mapping).
        side: Buy or sell, as reported.
        quantity: Executed quantity, as reported.
        price: Execution price, as reported.
        ts: Execution time.
        symbol: Instrument symbol, if the venue reported one.
        instrument_id: The venue's instrument id (an IBKR conid), if reported.
        account_id: The account the execution belongs to, if reported.
        commission: Commission charged (a cost, zero or positive), or None if not reported.
        broker_order_id: The venue's order id, if known.
    """

    execution_id: str
    client_order_id: str
    side: Side
    quantity: Decimal
    price: Decimal
    ts: datetime
    symbol: str | None = None
    instrument_id: str | None = None
    account_id: str | None = None
    commission: Decimal | None = None
    broker_order_id: str | None = None


class _OrderFields(NamedTuple):
    request: OrderRequest
    updated: datetime
    status: OrderStatus = OrderStatus.INITIALIZED
    broker_order_id: str | None = None
    filled_quantity: Decimal = Decimal(0)
    average_fill_price: Decimal | None = None
    reason: str | None = None


class Order(_OrderFields):
    """An order request together with its current state (a snapshot; never mutated).

    An immutable record made only by the engine's order book (and adapters reporting what a venue
    holds): the request inside was validated once, where the strategy made it. The book makes a
    snapshot at every change and a run keeps the last of every order, so it is a named tuple.

    Attributes:
        request: The ticket as last accepted (a modify replaces it).
        updated: Time of the last state change.
        status: Lifecycle state.
        broker_order_id: The broker's id once accepted.
        filled_quantity: Sum of fill quantities.
        average_fill_price: Quantity-weighted average fill price, if any fill.
        reason: Why it was rejected, denied, cancelled or expired, if it was.
    """

    __slots__ = ()

    @property
    def client_order_id(self) -> str:
        """The request's client order id."""
        return self.request.client_order_id

    @property
    def remaining_quantity(self) -> Decimal:
        """Quantity still to fill."""
        return self.request.quantity - self.filled_quantity


class Position(FrozenModel):
    """Holding in one instrument.

    Attributes:
        symbol: Instrument symbol.
        quantity: Signed quantity (negative when short).
        average_price: Average entry price of the open quantity (zero when flat).
        realized_pnl: Profit realised by closing trades, net of commissions.
        unrealized_pnl: Mark-to-market profit of the open quantity at ``last_price``.
        last_price: Latest mark price, if any.
        ts: When this snapshot was taken.
    """

    symbol: str
    quantity: Decimal = Decimal(0)
    average_price: Decimal = Decimal(0)
    realized_pnl: Decimal = Decimal(0)
    unrealized_pnl: Decimal = Decimal(0)
    last_price: Decimal | None = None
    ts: AwareDatetime

    @property
    def is_flat(self) -> bool:
        """Whether no quantity is held."""
        return self.quantity == 0


class Account(FrozenModel):
    """Balances of a trading account.

    Attributes:
        account_id: The broker's account id.
        currency: Base currency.
        cash: Settled and unsettled cash.
        equity: Net liquidation value (cash plus positions at market).
        buying_power: What the broker lets the account buy.
        realized_pnl: Realised profit of the session or run.
        unrealized_pnl: Open profit.
        ts: When this snapshot was taken.
    """

    account_id: str
    currency: str = "USD"
    cash: Decimal
    equity: Decimal
    buying_power: Decimal
    realized_pnl: Decimal = Decimal(0)
    unrealized_pnl: Decimal = Decimal(0)
    ts: AwareDatetime


def to_decimal(value: float | Decimal | str | int) -> Decimal:
    """Convert a market-data number to Decimal without binary-float noise (``101.25`` -> ``"101.25"``).

    Raises:
        ValueError: If the value is NaN or infinite.
    """
    if isinstance(value, float) and not math.isfinite(value):
        msg = f"cannot convert non-finite {value} to Decimal"
        raise ValueError(msg)
    result = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    return _finite(result, "value")
