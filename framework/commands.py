"""Order commands: what the framework asks a broker to do.

Commands are imperative nouns (``SubmitOrder``), events are past tense (``OrderSubmitted``). The order
gateway builds a command only after the pre-trade checks passed and the journal holds the intent,
and hands it to :meth:`~framework.broker.Execution.execute`, which never waits on the network: an
adapter queues it for its own worker, an in-memory venue may run it inline. What happened comes back
as events.

Commands are small slotted records: the request inside was validated once, where the strategy made
it, and is not validated again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from framework.models import OrderRequest


@dataclass(frozen=True, slots=True)
class SubmitOrder:
    """Place a new order.

    Attributes:
        request: The validated ticket.
    """

    request: OrderRequest

    @property
    def client_order_id(self) -> str:
        """The order this command is about."""
        return self.request.client_order_id


@dataclass(frozen=True, slots=True)
class ModifyOrder:
    """Replace a working order's ticket with ``request`` (same client order id).

    Attributes:
        request: The full replacement ticket.
    """

    request: OrderRequest

    @property
    def client_order_id(self) -> str:
        """The order this command is about."""
        return self.request.client_order_id


@dataclass(frozen=True, slots=True)
class CancelOrder:
    """Cancel one working order.

    Attributes:
        client_order_id: The order to cancel.
    """

    client_order_id: str


@dataclass(frozen=True, slots=True)
class CancelAllOrders:
    """Cancel every open order the broker reports for the account, known to this run or not.

    Attributes:
        reason: Why (logged by the adapter; the kill switch passes its halt reason).
    """

    reason: str

    @property
    def client_order_id(self) -> None:
        """Not about one order."""
        return None


OrderCommand: TypeAlias = SubmitOrder | ModifyOrder | CancelOrder | CancelAllOrders
"""Any order command."""

PLACEMENTS = (SubmitOrder, ModifyOrder)
"""Commands that put or change an order at the venue (the kill switch drops unsent ones)."""
