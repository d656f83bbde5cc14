"""Start-up recovery: take back what a previous run left, before any strategy trades.

One path serves a first start and a restart after a crash (``kill -9`` included), so the restart
path is exercised on every start:

0. Only the orders of this run's venue are taken back: a journal may hold runs of other venues (a
   paper run and a live run pointed at one file, another account of the same broker). Their
   unfinished orders are left alone, with one log line naming them; so are orders of a run that
   recorded no venue (a journal written before runs recorded theirs).
1. The journal's unfinished orders go back into the order book with the state it recorded. An
   intent journaled but never acknowledged may or may not have reached the broker, so it comes back
   as ``SUBMITTED``: its outcome is unknown, and it is never sent again. A bracket child whose
   parent ended without filling is cancelled here (children go out only after their parent fills).
2. A broker that implements :class:`~framework.broker.Recoverable` looks every one of them up at the
   venue and emits what the previous run missed (acceptance, fills, cancellation, or a rejection
   for an intent the venue never received). The engine applies those events, journaling each, before
   strategies start; fills the journal already holds are never applied twice.
3. The engine then loads cash and positions from the broker (the venue's truth, not a sum of fills).

A broker that cannot look orders up facing unfinished orders is an error: trading on a book whose
state is unknown is how positions get doubled. Clear the orders with ``tradebus journal`` or use a
fresh journal file.
"""

from __future__ import annotations

import logging

from framework.broker import Broker
from framework.broker import EventSink
from framework.broker import Recoverable
from framework.clock import Clock
from framework.errors import FrameworkError
from framework.events import OrderCancelled
from framework.journal import Journal
from framework.journal import Venue
from framework.models import Fill
from framework.models import Order
from framework.models import OrderStatus
from framework.orders import OrderBook
from framework.orders import evolve

log = logging.getLogger(__name__)


class RecoveryError(FrameworkError, RuntimeError):
    """The previous run's unfinished orders could not be reconciled; the engine did not start."""


def unfinished_orders(
    journal: Journal, book: OrderBook, sink: EventSink, clock: Clock, *, venue: Venue | None = None
) -> tuple[list[Order], list[Fill]]:
    """Load the journal's unfinished orders of ``venue`` into the order book.

    Args:
        journal: Where the previous runs' orders are.
        book: The order book they are restored into.
        sink: Where the cancellation of a bracket child whose parent did not fill goes.
        clock: Time of those events.
        venue: The venue this run trades; the unfinished orders of other venues are left alone
            (None: every unfinished order is this run's).

    Returns:
        The orders as loaded (never-acknowledged intents as ``SUBMITTED``) and the fills the
        journal recorded for them.
    """
    orders: list[Order] = []
    fills: list[Fill] = []
    unfinished = journal.open_orders() if venue is None else _of_venue(journal, venue)
    ended_parents = _parents_that_did_not_fill(journal.orders(), unfinished)
    for order in unfinished:
        if order.status is OrderStatus.INITIALIZED:
            order = evolve(order, {"status": OrderStatus.SUBMITTED})  # noqa: PLW2901 - outcome unknown
        recorded = journal.fills(client_order_id=order.client_order_id)
        book.restore(order, recorded)
        if order.request.parent_id in ended_parents:
            # a bracket child is sent only once its parent has filled completely: this one never was
            reason = f"parent order {order.request.parent_id} did not fill"
            sink(OrderCancelled(ts=clock.now(), client_order_id=order.client_order_id, reason=reason))
            continue
        orders.append(order)
        fills += recorded
    return orders, fills


def _of_venue(journal: Journal, venue: Venue) -> list[Order]:
    by_venue = journal.open_orders_by_venue()
    mine = by_venue.pop(venue, [])
    if by_venue:
        count = sum(len(orders) for orders in by_venue.values())
        groups = "; ".join(
            f"{', '.join(_ids(orders))}: {other if other is not None else 'an unrecorded venue'}"
            for other, orders in by_venue.items()
        )
        plural = "s" if count > 1 else ""
        others = "another venue" if len(by_venue) == 1 else "other venues"
        log.warning("%d unfinished order%s of %s left alone (%s); this run trades %s; inspect them with "
                    "`tradebus journal`", count, plural, others, groups, venue)
    return mine


def _ids(orders: list[Order]) -> list[str]:
    ids = [o.client_order_id for o in orders[:5]]
    return [*ids, "..."] if len(orders) > 5 else ids


def _parents_that_did_not_fill(every: list[Order], unfinished: list[Order]) -> set[str]:
    wanted = {o.request.parent_id for o in unfinished if o.request.parent_id is not None}
    return {
        o.client_order_id
        for o in every
        if o.client_order_id in wanted and o.status.is_terminal and o.status is not OrderStatus.FILLED
    }


def recover(journal: Journal, book: OrderBook, broker: Broker, sink: EventSink, clock: Clock, *,
            venue: Venue | None = None) -> int:
    """Reconcile the journal's unfinished orders of ``venue`` with the broker; return how many there were.

    Args:
        journal: Where the previous run's orders are.
        book: The order book they are restored into.
        broker: Looks them up at the venue (it must be :class:`~framework.broker.Recoverable`).
        sink: Where the events found missing go (the dispatcher's queue, applied before strategies start).
        clock: Time of the events made here.
        venue: The venue ``broker`` trades; other venues' orders are left alone (None: all are its own).

    Raises:
        RecoveryError: If there are unfinished orders and the broker cannot look them up, or the
            broker's reconciliation failed.
    """
    orders, fills = unfinished_orders(journal, book, sink, clock, venue=venue)
    if not orders:
        return 0
    if not isinstance(broker, Recoverable):
        ids = ", ".join(o.client_order_id for o in orders[:5])
        msg = (
            f"the journal holds {len(orders)} unfinished orders ({ids}{', ...' if len(orders) > 5 else ''}) "
            f"and broker {broker.name!r} cannot look them up; inspect them with `tradebus journal`"
        )
        raise RecoveryError(msg)
    log.info("recovering %d unfinished orders (%d fills already journaled)", len(orders), len(fills))
    try:
        broker.recover(orders, fills)
    except ConnectionError as e:
        msg = f"reconciliation with {broker.name} failed: {e}"
        raise RecoveryError(msg) from e
    return len(orders)
