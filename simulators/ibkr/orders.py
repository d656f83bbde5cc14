"""Order tickets as the gateway receives them, and the simulator's order records.

:func:`parse_ticket` validates one JSON ticket (spec section 6.1) into a :class:`Ticket`; the order
book turns accepted tickets into :class:`Order` records whose status follows IBKR's lifecycle
(section 6.11).
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from decimal import Decimal
from decimal import InvalidOperation
from enum import StrEnum
from typing import Any


class OrderStatus(StrEnum):
    """IBKR order statuses (wire values)."""

    INACTIVE = "Inactive"
    PENDING_SUBMIT = "PendingSubmit"
    PRE_SUBMITTED = "PreSubmitted"
    SUBMITTED = "Submitted"
    FILLED = "Filled"
    PENDING_CANCEL = "PendingCancel"
    CANCELLED = "Cancelled"


WORKING = frozenset(
    {OrderStatus.PENDING_SUBMIT, OrderStatus.PRE_SUBMITTED, OrderStatus.SUBMITTED, OrderStatus.PENDING_CANCEL}
)
ORDER_TYPES = frozenset({"MKT", "LMT", "STP", "STOP_LIMIT", "TRAIL", "TRAILLMT", "MIDPRICE"})
STOP_TYPES = frozenset({"STP", "STOP_LIMIT", "TRAIL", "TRAILLMT"})
TIFS = frozenset({"DAY", "GTC", "IOC", "OPG", "PAX", "GTD", "OVT", "OND"})


class TicketError(ValueError):
    """A ticket is invalid; the message is the gateway's error text."""


@dataclass(frozen=True)
class Ticket:
    """A validated order ticket.

    Attributes:
        conid: Contract id.
        side: ``BUY`` or ``SELL``.
        order_type: One of :data:`ORDER_TYPES`.
        quantity: Order size in shares.
        tif: Time in force.
        price: ``price`` field: limit price, or the stop price of a ``STP`` order.
        aux_price: ``auxPrice`` field: the stop trigger of a ``STOP_LIMIT`` order.
        trailing_amount: Trail offset of trailing types.
        trailing_percent: Whether the trail offset is a percentage.
        client_order_id: ``cOID``.
        parent_client_id: ``parentId``: the parent's ``cOID`` for bracket children.
        single_group: ``isSingleGroup``: member of an OCA group.
        outside_rth: ``outsideRTH``.
        use_adaptive: ``useAdaptive``: use IBKR's Price Management Algo (no ``p12`` question).
        account: ``acctId`` if given.
        raw: The ticket as received.
    """

    conid: int
    side: str
    order_type: str
    quantity: Decimal
    tif: str
    price: Decimal | None = None
    aux_price: Decimal | None = None
    trailing_amount: Decimal | None = None
    trailing_percent: bool = False
    client_order_id: str | None = None
    parent_client_id: str | None = None
    single_group: bool = False
    outside_rth: bool = False
    use_adaptive: bool = False
    account: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def stop_trigger(self) -> Decimal | None:
        """The stop trigger price of stop types (``price`` for STP, ``auxPrice`` for STOP_LIMIT)."""
        if self.order_type == "STP":
            return self.price
        if self.order_type == "STOP_LIMIT":
            return self.aux_price
        return None


def _decimal(ticket: dict[str, Any], key: str) -> Decimal | None:
    value = ticket.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TicketError(f"invalid value for {key}")
    try:
        result = Decimal(str(value))
    except InvalidOperation as e:
        raise TicketError(f"invalid value for {key}") from e
    if not result.is_finite():
        raise TicketError(f"invalid value for {key}")
    return result


def flag(value: Any) -> bool:
    """A boolean as clients send it, in JSON or a query string: ``true``, ``"true"``, ``1``, ``"1"``.

    ``"false"``, ``"0"``, ``""`` and a missing value (None) are false, where ``bool("false")`` would be true.
    """
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def _conid(ticket: dict[str, Any]) -> int:
    raw = ticket.get("conid")
    if raw is None and isinstance(ticket.get("conidex"), str):
        raw = ticket["conidex"].split("@", 1)[0]
    if isinstance(raw, bool):
        raise TicketError("invalid conid")
    try:
        return int(str(raw))
    except ValueError as e:
        raise TicketError("conid or conidex is required") from e


def _check_prices(order_type: str, price: Decimal | None, aux: Decimal | None, trail: Decimal | None) -> None:
    if order_type in ("LMT", "STP", "STOP_LIMIT") and (price is None or price <= 0):
        raise TicketError("invalid order price fields: price is required")
    if order_type == "STOP_LIMIT" and (aux is None or aux <= 0):
        raise TicketError("invalid order price fields: auxPrice is required")
    if order_type in ("TRAIL", "TRAILLMT") and (trail is None or trail <= 0):
        raise TicketError("invalid order price fields: trailingAmt is required")


def parse_ticket(ticket: Any) -> Ticket:
    """Validate one order ticket.

    Raises:
        TicketError: With the error text the gateway answers.
    """
    if not isinstance(ticket, dict):
        raise TicketError("order ticket must be a JSON object")
    order_type = str(ticket.get("orderType", "")).upper()
    if order_type not in ORDER_TYPES:
        raise TicketError(f"invalid order type: {ticket.get('orderType')!r}")
    side = str(ticket.get("side", "")).upper()
    if side not in ("BUY", "SELL"):
        raise TicketError(f"invalid side: {ticket.get('side')!r}")
    tif = str(ticket.get("tif", "")).upper()
    if tif not in TIFS:
        raise TicketError(f"invalid tif: {ticket.get('tif')!r}")
    quantity = _decimal(ticket, "quantity")
    if quantity is None or quantity <= 0:
        raise TicketError("invalid quantity: must be positive")
    price, aux, trail = _decimal(ticket, "price"), _decimal(ticket, "auxPrice"), _decimal(ticket, "trailingAmt")
    _check_prices(order_type, price, aux, trail)
    coid, parent = ticket.get("cOID"), ticket.get("parentId")
    return Ticket(
        conid=_conid(ticket), side=side, order_type=order_type, quantity=quantity, tif=tif, price=price,
        aux_price=aux, trailing_amount=trail, trailing_percent=str(ticket.get("trailingType", "amt")) == "%",
        client_order_id=str(coid) if coid is not None else None,
        parent_client_id=str(parent) if parent is not None else None,
        single_group=flag(ticket.get("isSingleGroup", False)), outside_rth=flag(ticket.get("outsideRTH", False)),
        use_adaptive=flag(ticket.get("useAdaptive", False)),
        account=str(ticket["acctId"]) if ticket.get("acctId") is not None else None, raw=dict(ticket),
    )


@dataclass
class Order:
    """One order at the simulated broker.

    Attributes:
        order_id: IBKR order id.
        account: Account id.
        ticket: The (latest) validated ticket.
        epoch: Brokerage session in which the order was placed.
        created_ms: Placement time, epoch ms.
        status: Current status.
        filled: Shares filled so far.
        avg_price: Average fill price, once filled.
        commission_charged: Commission charged so far.
        stop_price: Current stop trigger (moves for trailing stops).
        triggered: Whether a stop-type order has been elected.
        parent_id: Order id of the bracket parent.
        oca_group: OCA group id shared by siblings.
        last_change_ms: Time of the last status change, epoch ms.
        active: Whether the order has reached the (simulated) exchange and may fill.
        held: Whether a bracket child waits for its parent to fill.
        expires_at: When the broker cancels a ``DAY`` order (its session's end), with exchange hours.
        status_description: Why the order is ``Inactive`` (``order_status_description``), if it is.
    """

    order_id: int
    account: str
    ticket: Ticket
    epoch: int
    created_ms: int
    status: OrderStatus = OrderStatus.PENDING_SUBMIT
    filled: Decimal = Decimal(0)
    avg_price: Decimal | None = None
    commission_charged: Decimal = Decimal(0)
    stop_price: Decimal | None = None
    triggered: bool = False
    parent_id: int | None = None
    oca_group: str | None = None
    last_change_ms: int = 0
    active: bool = False
    held: bool = False
    expires_at: datetime | None = None
    status_description: str | None = None

    @property
    def remaining(self) -> Decimal:
        """Shares still to fill."""
        return self.ticket.quantity - self.filled

    @property
    def working(self) -> bool:
        """Whether the order can still fill or be cancelled."""
        return self.status in WORKING
