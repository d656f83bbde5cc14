"""The account's books: cash, positions, executions and commissions, all in Decimal.

Commission follows IBKR's fixed US-stock schedule: a rate per share with a per-order minimum and a
cap as a fraction of trade value. With partial fills the per-order minimum is charged once: each
execution carries the difference between the order's total commission so far and what was charged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

CENT = Decimal("0.01")


@dataclass
class Position:
    """A signed position in one instrument.

    Attributes:
        conid: Contract id.
        quantity: Shares, negative when short.
        avg_cost: Average cost per share of the open quantity.
        realized: Realized P&L of closed shares, net of nothing (commissions are booked to cash).
    """

    conid: int
    quantity: Decimal = Decimal(0)
    avg_cost: Decimal = Decimal(0)
    realized: Decimal = Decimal(0)

    def apply(self, signed_quantity: Decimal, price: Decimal) -> Decimal:
        """Add a fill and return the P&L it realized."""
        held = self.quantity
        if held == 0 or (held > 0) == (signed_quantity > 0):
            total = held + signed_quantity
            self.avg_cost = (self.avg_cost * abs(held) + price * abs(signed_quantity)) / abs(total)
            self.quantity = total
            return Decimal(0)
        closed = min(abs(held), abs(signed_quantity))
        direction = Decimal(1) if held > 0 else Decimal(-1)
        realized = (price - self.avg_cost) * closed * direction
        self.realized += realized
        self.quantity = held + signed_quantity
        if self.quantity == 0:
            self.avg_cost = Decimal(0)
        elif (self.quantity > 0) != (held > 0):
            self.avg_cost = price
        return realized


@dataclass(frozen=True)
class Execution:
    """One fill, as reported by ``/iserver/account/trades`` and the ``str`` topic.

    Attributes:
        execution_id: Unique execution id (``0000e0d5.65a0dd6e.01.01`` style).
        order_id: The order that filled.
        conid: Contract id.
        side: ``BUY`` or ``SELL``.
        size: Shares.
        price: Fill price.
        commission: Commission of this execution.
        time: Fill time (aware UTC).
        order_ref: The order's ``cOID`` (or the order id when none was given).
        account: Account id.
    """

    execution_id: str
    order_id: int
    conid: int
    side: str
    size: Decimal
    price: Decimal
    commission: Decimal
    time: datetime
    order_ref: str
    account: str


def order_commission(shares: Decimal, value: Decimal, rate: Decimal, minimum: Decimal, cap: Decimal) -> Decimal:
    """Return the total commission of an order that has filled ``shares`` worth ``value``."""
    if shares <= 0:
        return Decimal(0)
    return min(max(shares * rate, minimum), value * cap).quantize(CENT)


class Ledger:
    """Cash, positions and executions of the single simulated account.

    Args:
        starting_cash: Initial cash in USD.
    """

    def __init__(self, starting_cash: Decimal) -> None:
        self.cash = starting_cash
        self.positions: dict[int, Position] = {}
        self.executions: list[Execution] = []
        self.commissions = Decimal(0)
        self.realized = Decimal(0)
        # called with each execution before it is applied (the state file saves it there)
        self.on_book: Callable[[Execution], None] | None = None

    def book(self, execution: Execution) -> None:
        """Apply an execution to cash and positions."""
        if self.on_book is not None:
            self.on_book(execution)
        signed = execution.size if execution.side == "BUY" else -execution.size
        position = self.positions.setdefault(execution.conid, Position(execution.conid))
        self.realized += position.apply(signed, execution.price)
        self.cash -= signed * execution.price + execution.commission
        self.commissions += execution.commission
        self.executions.append(execution)

    def market_value(self, marks: dict[int, Decimal]) -> Decimal:
        """Return the signed market value of all positions at ``marks``."""
        return sum((p.quantity * marks.get(p.conid, p.avg_cost) for p in self.positions.values()), Decimal(0))

    def gross_value(self, marks: dict[int, Decimal]) -> Decimal:
        """Return the gross (absolute) position value at ``marks``."""
        return sum((abs(p.quantity) * marks.get(p.conid, p.avg_cost) for p in self.positions.values()), Decimal(0))

    def unrealized(self, marks: dict[int, Decimal]) -> Decimal:
        """Return unrealized P&L at ``marks``."""
        return sum(
            ((marks.get(p.conid, p.avg_cost) - p.avg_cost) * p.quantity for p in self.positions.values()),
            Decimal(0),
        )
