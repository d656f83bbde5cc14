"""Pre-trade checks: what every new order (and every modification) must pass before it is sent.

A check is any callable ``check(request, state) -> reason | None`` registered with
``Engine.add_check``. It sees the run only through :class:`TradingState`: the clock, a read-only
view of the portfolio and of the orders, and the last price of each instrument. It cannot send,
cancel or change anything. A refusal becomes ``OrderDenied`` (or, for a modification,
``OrderCancelRejected``) carrying the reason, and the order never leaves the process.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from framework.clock import Clock
from framework.models import OrderRequest
from framework.orders import OrderView
from framework.portfolio import PortfolioView


class TradingState:
    """What a pre-trade check may read.

    Args:
        clock: The engine clock.
        portfolio: Positions, cash and exposure (read-only).
        orders: Every order of the run (read-only).
        reference_price: The last price seen for a symbol (trade, bar close or quote mid), if any.
    """

    def __init__(self, clock: Clock, portfolio: PortfolioView, orders: OrderView,
                 reference_price: Callable[[str], Decimal | None]) -> None:
        self.clock = clock
        self.portfolio = portfolio
        self.orders = orders
        self._reference_price = reference_price

    def now(self) -> datetime:
        """The engine clock's current time."""
        return self.clock.now()

    def reference_price(self, symbol: str) -> Decimal | None:
        """The last price seen for ``symbol``, if any."""
        return self._reference_price(symbol)


class PreTradeCheck(Protocol):
    """A check run on every new order and modification before it reaches the broker."""

    def __call__(self, request: OrderRequest, state: TradingState, /) -> str | None:
        """Return why ``request`` must be denied, or None to let it through."""
        ...
