"""Closed round-trip trades and open positions: what a run's fills add up to, per symbol.

:func:`round_trips` groups fills into flat-to-flat trades; :class:`OpenPosition` is a position still
held when the run ended, valued at the last price the run saw. Money stays Decimal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from decimal import Decimal

from framework.models import Fill
from framework.models import FrozenModel
from framework.models import Position
from framework.models import Side

ZERO = Decimal(0)


class RoundTrip(FrozenModel):
    """A trade from flat to flat in one symbol.

    Attributes:
        symbol: Instrument symbol.
        side: BUY for a long trade, SELL for a short one.
        quantity: Largest absolute position held during the trade.
        entry_time: First fill that opened it.
        exit_time: Fill that brought the position back to flat.
        entry_price: Average price of the opening fills.
        exit_price: Average price of the closing fills.
        commission: Commissions of its fills (pro rata for a fill that also opened the next trade).
        pnl: Net profit: closing minus opening value (times the multiplier) minus commission.
    """

    symbol: str
    side: Side
    quantity: Decimal
    entry_time: datetime
    exit_time: datetime
    entry_price: Decimal
    exit_price: Decimal
    commission: Decimal
    pnl: Decimal

    @property
    def holding_time(self) -> timedelta:
        """How long the trade was open: exit time minus entry time."""
        return self.exit_time - self.entry_time


@dataclass(slots=True)
class _OpenTrade:
    side: Side
    entry_time: datetime
    position: Decimal = ZERO  # signed
    peak: Decimal = ZERO
    bought: Decimal = ZERO  # value of opening fills
    opened: Decimal = ZERO  # quantity of opening fills
    sold: Decimal = ZERO  # value of closing fills
    closed: Decimal = ZERO  # quantity of closing fills
    commission: Decimal = ZERO


def _book(trade: _OpenTrade, fill: Fill, quantity: Decimal) -> None:
    # book ``quantity`` of ``fill`` into ``trade`` (opening if in the trade's direction)
    share = fill.commission * quantity / fill.quantity
    trade.commission += share
    if fill.side is trade.side:
        trade.opened += quantity
        trade.bought += quantity * fill.price
    else:
        trade.closed += quantity
        trade.sold += quantity * fill.price
    trade.position += quantity * fill.side.sign
    trade.peak = max(trade.peak, abs(trade.position))


def _closed(symbol: str, trade: _OpenTrade, exit_time: datetime, multiplier: Decimal) -> RoundTrip:
    entry_price = trade.bought / trade.opened
    exit_price = trade.sold / trade.closed
    gross = (exit_price - entry_price) * trade.closed * multiplier * trade.side.sign
    return RoundTrip(
        symbol=symbol,
        side=trade.side,
        quantity=trade.peak,
        entry_time=trade.entry_time,
        exit_time=exit_time,
        entry_price=entry_price,
        exit_price=exit_price,
        commission=trade.commission,
        pnl=gross - trade.commission,
    )


def round_trips(fills: Iterable[Fill], multipliers: dict[str, Decimal] | None = None) -> list[RoundTrip]:
    """Group fills into flat-to-flat trades per symbol, in the order they closed.

    A fill that crosses through zero closes one trade and opens the next with the remainder. A
    position still open after the last fill is not a trade.
    """
    multipliers = multipliers or {}
    open_trades: dict[str, _OpenTrade] = {}
    trades: list[RoundTrip] = []
    for fill in fills:
        remaining = fill.quantity
        while remaining > 0:
            trade = open_trades.get(fill.symbol)
            if trade is None:
                trade = open_trades[fill.symbol] = _OpenTrade(fill.side, fill.ts)
            closing = fill.side is not trade.side
            quantity = min(remaining, abs(trade.position)) if closing else remaining
            _book(trade, fill, quantity)
            remaining -= quantity
            if trade.position == 0:
                trades.append(_closed(fill.symbol, trade, fill.ts, multipliers.get(fill.symbol, Decimal(1))))
                del open_trades[fill.symbol]
    return trades


class OpenPosition(FrozenModel):
    """A position still held when a run ended.

    Attributes:
        symbol: Instrument symbol.
        quantity: Signed quantity (negative when short).
        average_price: Average entry price of the open quantity.
        last_price: The last price the run saw (None if it saw none).
        market_value: Quantity times last price times the multiplier (zero without a price).
        unrealized_pnl: Mark-to-market profit of the open quantity at ``last_price``.
    """

    symbol: str
    quantity: Decimal
    average_price: Decimal
    last_price: Decimal | None
    market_value: Decimal
    unrealized_pnl: Decimal

    @classmethod
    def of(cls, position: Position, multiplier: Decimal = Decimal(1)) -> OpenPosition:
        """The open part of a portfolio position snapshot."""
        last = position.last_price
        value = ZERO if last is None else position.quantity * last * multiplier
        return cls(
            symbol=position.symbol,
            quantity=position.quantity,
            average_price=position.average_price,
            last_price=last,
            market_value=value,
            unrealized_pnl=position.unrealized_pnl,
        )


def open_positions(positions: Iterable[Position], multipliers: dict[str, Decimal] | None = None) -> list[OpenPosition]:
    """The positions that are not flat, by symbol."""
    multipliers = multipliers or {}
    held = (p for p in positions if p.quantity)
    return [OpenPosition.of(p, multipliers.get(p.symbol, Decimal(1))) for p in sorted(held, key=lambda p: p.symbol)]
