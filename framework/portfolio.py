"""Positions, cash and profit derived from fills.

The engine applies every fill here *before* strategies see the fill event, and marks positions to
market on every quote or bar of a held instrument. Average price follows the usual convention: it
moves only when a position grows; reducing realises profit against it; crossing through zero
realises the closed part and opens the rest at the fill price. Commissions reduce cash and count
against realised profit. All amounts are ``Decimal``.

Not thread-safe: only the engine's dispatcher thread updates it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from framework.models import Account
from framework.models import Fill
from framework.models import Position
from framework.models import Side
from framework.models import to_decimal

ZERO = Decimal(0)


class _Holding:
    __slots__ = ("average_price", "mark", "multiplier", "quantity", "realized_pnl")

    def __init__(self, multiplier: Decimal) -> None:
        self.quantity = ZERO
        self.average_price = ZERO
        self.realized_pnl = ZERO
        # The latest price as given: marking happens on every bar of a held instrument, so the
        # float -> Decimal conversion (~0.6 us) is deferred until the price is read.
        self.mark: float | Decimal | None = None
        self.multiplier = multiplier

    @property
    def last_price(self) -> Decimal | None:
        mark = self.mark
        if mark is None or isinstance(mark, Decimal):
            return mark
        self.mark = converted = to_decimal(mark)
        return converted

    def unrealized(self) -> Decimal:
        if self.last_price is None or not self.quantity:
            return ZERO
        return (self.last_price - self.average_price) * self.quantity * self.multiplier

    def apply(self, signed_qty: Decimal, price: Decimal) -> Decimal:
        """Apply a fill; return the profit it realised (before commission)."""
        qty = self.quantity
        realized = ZERO
        if not qty:
            self.average_price = price  # opening from flat (the common case: no arithmetic)
        elif (qty > 0) == (signed_qty > 0):
            # growing (or opening): weighted average entry price
            self.average_price = (self.average_price * qty + price * signed_qty) / (qty + signed_qty)
        else:
            closing = min(abs(signed_qty), abs(qty))
            direction = 1 if qty > 0 else -1
            realized = (price - self.average_price) * closing * direction * self.multiplier
            if abs(signed_qty) > abs(qty):
                self.average_price = price  # crossed through zero: remainder opens at the fill price
            elif abs(signed_qty) == abs(qty):
                self.average_price = ZERO
        self.quantity = qty + signed_qty
        self.mark = price  # a fill is the freshest print of the price
        return realized


class PortfolioView(Protocol):
    """Read-only access to the portfolio (what strategies and pre-trade checks get)."""

    @property
    def cash(self) -> Decimal:
        """Cash now."""
        ...

    @property
    def account_id(self) -> str:
        """The account's id."""
        ...

    @property
    def equity(self) -> Decimal:
        """Cash plus the market value of positions."""
        ...

    @property
    def gross_exposure(self) -> Decimal:
        """Sum of absolute position values at the latest marks."""
        ...

    @property
    def realized_pnl(self) -> Decimal:
        """Total realised profit, net of commissions."""
        ...

    @property
    def unrealized_pnl(self) -> Decimal:
        """Total open profit at the latest marks."""
        ...

    def holds(self, symbol: str) -> bool:
        """Whether there is a non-zero position in ``symbol``."""
        ...

    def quantity(self, symbol: str) -> Decimal:
        """Signed quantity held in ``symbol`` (zero if none)."""
        ...

    def position(self, symbol: str, ts: datetime) -> Position:
        """Snapshot of the position in ``symbol`` (flat if none)."""
        ...

    def positions(self, ts: datetime) -> list[Position]:
        """Snapshots of every non-flat position, by symbol."""
        ...

    def account(self, ts: datetime) -> Account:
        """Snapshot of balances."""
        ...


class Portfolio:
    """The account as the framework sees it: cash plus positions.

    Args:
        starting_cash: Cash before the first fill (a broker's ``AccountUpdated`` can reset it).
        account_id: Id reported in :meth:`account`.
        currency: Account currency.
    """

    def __init__(self, starting_cash: Decimal = ZERO, account_id: str = "", currency: str = "USD") -> None:
        self.cash = Decimal(starting_cash)
        self.account_id = account_id
        self.currency = currency
        self.commissions = ZERO
        self._holdings: dict[str, _Holding] = {}
        self._realized = ZERO

    def holds(self, symbol: str) -> bool:
        """Whether there is a non-zero position in ``symbol``."""
        holding = self._holdings.get(symbol)
        return holding is not None and holding.quantity != 0

    def quantity(self, symbol: str) -> Decimal:
        """Signed quantity held in ``symbol`` (zero if none)."""
        holding = self._holdings.get(symbol)
        return holding.quantity if holding is not None else ZERO

    def apply_fill(self, fill: Fill, multiplier: Decimal = Decimal(1)) -> Position:
        """Book ``fill`` and return the new position snapshot."""
        self.book_fill(fill, multiplier)
        return self.position(fill.symbol, fill.ts)

    def book_fill(self, fill: Fill, multiplier: Decimal = Decimal(1)) -> None:
        """Book ``fill`` without building a snapshot (for callers that do not publish one)."""
        holding = self._holdings.get(fill.symbol)
        if holding is None:
            holding = self._holdings[fill.symbol] = _Holding(multiplier)
        signed = fill.quantity if fill.side is Side.BUY else -fill.quantity
        commission = fill.commission
        realized = holding.apply(signed, fill.price)
        if commission:
            realized -= commission
            self.commissions += commission
        holding.realized_pnl += realized
        self._realized += realized
        value = signed * fill.price
        if holding.multiplier != 1:
            value *= holding.multiplier
        self.cash -= value + commission

    def mark(self, symbol: str, price: float | Decimal) -> None:
        """Record the latest market price of ``symbol`` (ignored if nothing is held)."""
        holding = self._holdings.get(symbol)
        if holding is not None and holding.quantity:
            holding.mark = price

    def set_cash(self, cash: Decimal) -> None:
        """Replace cash with the broker's authoritative figure."""
        self.cash = cash

    def load_positions(self, positions: Iterable[Position]) -> None:
        """Replace quantities and entry prices with the broker's positions (at start and after a restart).

        Symbols the broker does not list are flat afterwards; realised profit so far is kept.
        """
        reported = {p.symbol: p for p in positions}
        for symbol in self._holdings.keys() | reported.keys():
            holding = self._holdings.get(symbol)
            if holding is None:
                holding = self._holdings[symbol] = _Holding(Decimal(1))
            position = reported.get(symbol)
            holding.quantity = position.quantity if position is not None else ZERO
            holding.average_price = position.average_price if position is not None and position.quantity else ZERO
            if position is not None and position.last_price is not None:
                holding.mark = position.last_price

    def position(self, symbol: str, ts: datetime) -> Position:
        """Snapshot of the position in ``symbol`` (flat if none)."""
        holding = self._holdings.get(symbol)
        if holding is None:
            return Position(symbol=symbol, ts=ts)
        return Position(
            symbol=symbol,
            quantity=holding.quantity,
            average_price=holding.average_price,
            realized_pnl=holding.realized_pnl,
            unrealized_pnl=holding.unrealized(),
            last_price=holding.last_price,
            ts=ts,
        )

    def positions(self, ts: datetime) -> list[Position]:
        """Snapshots of every non-flat position, by symbol."""
        return [self.position(s, ts) for s in sorted(self._holdings) if self._holdings[s].quantity]

    @property
    def realized_pnl(self) -> Decimal:
        """Total realised profit, net of commissions."""
        return self._realized

    @property
    def unrealized_pnl(self) -> Decimal:
        """Total open profit at the latest marks."""
        return sum((h.unrealized() for h in self._holdings.values()), ZERO)

    @property
    def market_value(self) -> Decimal:
        """Signed value of all positions at the latest marks (entry price where unmarked)."""
        total = ZERO
        for h in self._holdings.values():
            if h.quantity:
                price = h.last_price if h.last_price is not None else h.average_price
                total += price * h.quantity * h.multiplier
        return total

    @property
    def equity(self) -> Decimal:
        """Cash plus the market value of positions."""
        return self.cash + self.market_value

    @property
    def gross_exposure(self) -> Decimal:
        """Sum of absolute position values at the latest marks."""
        total = ZERO
        for h in self._holdings.values():
            if h.quantity:
                price = h.last_price if h.last_price is not None else h.average_price
                total += abs(price * h.quantity * h.multiplier)
        return total

    def account(self, ts: datetime) -> Account:
        """Snapshot of balances as an :class:`Account`."""
        return Account(
            account_id=self.account_id,
            currency=self.currency,
            cash=self.cash,
            equity=self.equity,
            buying_power=max(self.cash, ZERO),
            realized_pnl=self.realized_pnl,
            unrealized_pnl=self.unrealized_pnl,
            ts=ts,
        )
