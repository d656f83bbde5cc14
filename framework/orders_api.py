"""Builds order tickets for a strategy's helpers (``buy``, ``sell``, ``bracket``, ``modify``).

Kept apart from :mod:`framework.strategy` so the base class stays a readable list of hooks. Every
ticket is a validated :class:`~framework.models.OrderRequest`: a bad quantity or an off-tick price
raises ``pydantic.ValidationError`` naming the field, before anything reaches a broker.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING
from typing import Any

from framework.models import OrderRequest
from framework.models import OrderType
from framework.models import Side
from framework.models import TimeInForce
from framework.models import to_decimal

if TYPE_CHECKING:
    from framework.context import StrategyContext

Price = Decimal | int | str | float
"""A price as a strategy may write it; floats are converted without binary noise."""


def as_decimal(value: Price | None) -> Decimal | None:
    """Convert a strategy-supplied number to Decimal (None stays None)."""
    if value is None or isinstance(value, Decimal):
        return value
    return to_decimal(value)


def order_type_for(limit_price: Price | None, stop_price: Price | None) -> OrderType:
    """Infer market/limit/stop/stop-limit from which prices are given."""
    if limit_price is not None and stop_price is not None:
        return OrderType.STOP_LIMIT
    if limit_price is not None:
        return OrderType.LIMIT
    if stop_price is not None:
        return OrderType.STOP
    return OrderType.MARKET


_PRICE_FIELDS = ("limit_price", "stop_price", "trail_amount", "trail_percent")


class OrderFactory:
    """Turns helper arguments into tickets and hands them to the strategy's context.

    Args:
        context: Returns the strategy's context (it is attached after the strategy is built).
    """

    def __init__(self, context: Callable[[], StrategyContext]) -> None:
        self._context = context

    def build(self, side: Side, symbol: str, quantity: Decimal | int | str, **ticket: Any) -> OrderRequest:
        """Build a validated request with a fresh client order id (the one validation of the ticket)."""
        return self._ticket(self._context(), side, symbol, quantity, ticket)

    @staticmethod
    def _ticket(context: StrategyContext, side: Side, symbol: str, quantity: Decimal | int | str,
                ticket: dict[str, Any]) -> OrderRequest:
        for key in _PRICE_FIELDS:
            value = ticket.get(key)
            if value is not None and not isinstance(value, Decimal):
                ticket[key] = to_decimal(value)
        return OrderRequest(
            client_order_id=ticket.pop("client_order_id", None) or context.next_client_order_id(),
            strategy_id=context.strategy_id,
            instrument=context.instrument(symbol),
            side=side,
            quantity=quantity if isinstance(quantity, Decimal) else to_decimal(quantity),
            **ticket,
        )

    def submit(self, side: Side, symbol: str, quantity: Decimal | int | str, **ticket: Any) -> str:
        """Build and submit; return the client order id."""
        context = self._context()
        request = self._ticket(context, side, symbol, quantity, ticket)
        context.submit(request)
        return request.client_order_id

    def place(  # noqa: PLR0917 - the helpers' arguments, passed straight through
        self,
        side: Side,
        symbol: str,
        quantity: Decimal | int | str,
        limit_price: Price | None,
        stop_price: Price | None,
        time_in_force: TimeInForce,
        outside_rth: bool,
    ) -> str:
        """Submit a market, limit, stop or stop-limit order depending on the prices given."""
        # The path of every buy() and sell(): the ticket is built here in one step, passing only
        # what differs from its defaults (every field passed is one more to validate).
        ticket: dict[str, Any] = {}
        if limit_price is not None or stop_price is not None:
            ticket["order_type"] = order_type_for(limit_price, stop_price)
            if limit_price is not None:
                ticket["limit_price"] = as_decimal(limit_price)
            if stop_price is not None:
                ticket["stop_price"] = as_decimal(stop_price)
        if time_in_force is not TimeInForce.DAY:
            ticket["time_in_force"] = time_in_force
        if outside_rth:
            ticket["outside_rth"] = True
        context = self._context()
        request = OrderRequest(
            client_order_id=context.next_client_order_id(),
            strategy_id=context.strategy_id,
            instrument=context.instrument(symbol),
            side=side,
            quantity=quantity if isinstance(quantity, Decimal) else to_decimal(quantity),
            **ticket,
        )
        context.submit(request)
        return request.client_order_id

    def bracket(
        self,
        side: Side,
        symbol: str,
        quantity: Decimal | int | str,
        *,
        take_profit: Price,
        stop_loss: Price,
        entry_limit: Price | None,
        time_in_force: TimeInForce,
    ) -> tuple[str, str, str]:
        """Submit entry, then take-profit and stop-loss children sharing an OCA group."""
        entry = self.build(
            side,
            symbol,
            quantity,
            order_type=order_type_for(entry_limit, None),
            limit_price=entry_limit,
            time_in_force=time_in_force,
        )
        exit_side = side.opposite
        oca = f"oca-{entry.client_order_id}"
        children = {"parent_id": entry.client_order_id, "oca_group": oca, "time_in_force": time_in_force}
        profit = self.build(
            exit_side, symbol, quantity, order_type=OrderType.LIMIT, limit_price=take_profit, **children
        )
        loss = self.build(exit_side, symbol, quantity, order_type=OrderType.STOP, stop_price=stop_loss, **children)
        context = self._context()
        for request in (entry, profit, loss):
            context.submit(request)
        return entry.client_order_id, profit.client_order_id, loss.client_order_id

    def modify(
        self,
        client_order_id: str,
        *,
        quantity: Decimal | int | str | None,
        limit_price: Price | None,
        stop_price: Price | None,
    ) -> None:
        """Send a full replacement ticket with the changed fields."""
        context = self._context()
        order = context.orders.get(client_order_id)
        if order is None:
            msg = f"unknown client_order_id {client_order_id!r}"
            raise ValueError(msg)
        changes: dict[str, Any] = {}
        if quantity is not None:
            changes["quantity"] = Decimal(str(quantity)) if not isinstance(quantity, Decimal) else quantity
        if limit_price is not None:
            changes["limit_price"] = as_decimal(limit_price)
        if stop_price is not None:
            changes["stop_price"] = as_decimal(stop_price)
        request = OrderRequest.model_validate({**order.request.model_dump(), **changes})
        context.modify(request)
