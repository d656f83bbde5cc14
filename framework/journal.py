"""The order journal interface: a durable record of every order intent, broker answer and fill.

The engine writes an order's intent *before* the request goes to the broker, then appends every
order event it applies; fills are keyed by execution id, so a fill seen twice (stream and REST, or
before and after a restart) is stored once. :class:`Journal` is the small interface the engine
and recovery use; the application provides an implementation (``tradebus.journal.SqliteJournal``
keeps it in a SQLite file). Implementations must be safe to call from more than one thread: the
dispatcher writes order events, and the kill switch records commands it dropped before they were
sent.
"""

from __future__ import annotations

from typing import Protocol

from framework.events import OrderEvent
from framework.models import Fill
from framework.models import Order


class Journal(Protocol):
    """What the engine needs from a journal."""

    def record_intent(self, order: Order, run_id: str) -> None:
        """Store a new order before it is sent (status INITIALIZED)."""
        ...

    def record_event(self, event: OrderEvent, order: Order) -> bool:
        """Append an applied order event and the order's new state; False if it was a duplicate fill."""
        ...

    def orders(self) -> list[Order]:
        """Every order, oldest first."""
        ...

    def open_orders(self) -> list[Order]:
        """Orders whose outcome is not final (including intents never acknowledged), oldest first."""
        ...

    def fills(self, *, client_order_id: str | None = None) -> list[Fill]:
        """Every fill (of one order, if given), in the order recorded."""
        ...

    def run_ids(self) -> list[str]:
        """The ids of the runs that recorded orders."""
        ...

    def close(self) -> None:
        """Flush and close."""
        ...
