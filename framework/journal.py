"""The order journal interface: a durable record of every order intent, broker answer and fill.

The engine writes an order's intent *before* the request goes to the broker, then appends every
order event it applies; fills are keyed by execution id, so a fill seen twice (stream and REST, or
before and after a restart) is stored once. A journal may hold many runs: each run records the
:class:`Venue` it trades (broker and account) before it recovers or places anything, so recovery
adopts only the unfinished orders of its own venue, and an execution id one run journaled is
checked against the fill it names when a later run hears it again (the same fill is a duplicate,
another fill under that id is refused, never dropped).

:class:`Journal` is the small interface the engine and recovery use; the application provides an
implementation (``tradebus.journal.SqliteJournal`` keeps it in a SQLite file). Implementations must
be safe to call from more than one thread: the dispatcher writes order events, and the kill switch
records commands it dropped before they were sent.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import NamedTuple
from typing import Protocol

from framework.events import OrderEvent
from framework.models import Fill
from framework.models import Order
from framework.redaction import mask_account


class Venue(NamedTuple):
    """Where a run trades: the broker plug-in and the account.

    Attributes:
        broker: The broker's name (``ibkr``, ``paper``).
        account_id: The account the broker trades.
    """

    broker: str
    account_id: str

    def __str__(self) -> str:
        return f"{self.broker} account {self.account_id}"

    def journaled(self) -> Venue:
        """This venue as a journal stores it: the account masked, with a digest to tell accounts apart.

        A journal file outlives the run and travels (backups, bug reports), so it never holds an
        account id in the clear: ``DU****567#1f2e3d4c5b6a`` is recognisable to its owner, equal for
        equal accounts and different for different ones (the digest is not a secret: it only keeps
        the id out of plain sight).
        """
        if "#" in self.account_id:
            return self  # already in the journal's form
        digest = hashlib.sha256(f"{self.broker}|{self.account_id}".encode()).hexdigest()[:12]
        return Venue(self.broker, f"{mask_account(self.account_id)}#{digest}")


class Journal(Protocol):
    """What the engine needs from a journal."""

    def record_run(self, run_id: str, venue: Venue, started: datetime) -> None:
        """Record that run ``run_id`` trades ``venue`` (before it recovers or places anything)."""
        ...

    def venue(self, run_id: str) -> Venue | None:
        """The venue run ``run_id`` traded, or None if it was not recorded."""
        ...

    def record_intent(self, order: Order, run_id: str) -> None:
        """Store a new order before it is sent (status INITIALIZED)."""
        ...

    def record_event(self, event: OrderEvent, order: Order) -> bool:
        """Append an applied order event and the order's new state; False if it was a duplicate fill.

        A fill whose execution id is journaled with other content is an error (the implementation
        raises, naming the field), never a silent duplicate.
        """
        ...

    def orders(self) -> list[Order]:
        """Every order, oldest first."""
        ...

    def open_orders(self) -> list[Order]:
        """Orders whose outcome is not final (including intents never acknowledged), oldest first."""
        ...

    def open_orders_by_venue(self) -> dict[Venue | None, list[Order]]:
        """:meth:`open_orders` by the venue their run recorded (None: a run that recorded none)."""
        ...

    def fills(self, *, client_order_id: str | None = None) -> list[Fill]:
        """Every fill (of one order, if given), in the order recorded."""
        ...

    def fill(self, execution_id: str) -> Fill | None:
        """The fill journaled under ``execution_id`` (by any run), or None."""
        ...

    def run_ids(self) -> list[str]:
        """The ids of the runs that recorded orders."""
        ...

    def close(self) -> None:
        """Flush and close."""
        ...
