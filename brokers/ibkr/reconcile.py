"""Bring local order state in line with IBKR after a reconnect, a restart or an ambiguous placement.

Broker truth comes from ``GET /iserver/account/orders`` (orders of this brokerage session, joined on
``order_ref`` = our client order id), ``GET /iserver/account/order/status/{id}`` for orders still open
here that those do not list (finished in an earlier session), and ``GET /iserver/account/trades``
(executions, up to 7 days, since the last execution we saw). Everything is folded through the
:class:`~brokers.ibkr.tracking.OrderTracker`, which emits only what was missed and never the same
fill twice. Orders whose placement outcome is unknown are resolved here: found by client order id
(adopted), or, once ``order_lookup_window`` has passed without a trace, rejected as lost.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from brokers.ibkr.errors import IbkrError
from brokers.ibkr.errors import IbkrRateLimitError
from brokers.ibkr.parsing import execution_from_trade
from brokers.ibkr.parsing import order_update_from_live
from brokers.ibkr.parsing import order_update_from_status
from brokers.ibkr.rest import IbkrRestClient
from brokers.ibkr.tracking import OrderTracker
from brokers.ibkr.wire import LiveOrder
from brokers.ibkr.wire import Trade
from framework.clock import Clock
from framework.events import AnyEvent
from framework.models import OrderRequest

log = logging.getLogger(__name__)


class Reconciler:
    """Folds the broker's view of orders and executions into the tracker.

    Args:
        rest: REST client.
        tracker: Local order state.
        clock: Time for event stamps and the lookup window.
        lookup_window: Seconds before an unresolved order is declared lost.
    """

    def __init__(self, rest: IbkrRestClient, tracker: OrderTracker, clock: Clock, lookup_window: float) -> None:
        self._rest = rest
        self._tracker = tracker
        self._clock = clock
        self._window = lookup_window

    def fold(self, orders: Sequence[LiveOrder], trades: Sequence[Trade]) -> list[AnyEvent]:
        """Apply order rows, then executions; return the events that were missing."""
        ts = self._clock.now()
        events: list[AnyEvent] = []
        for row in orders:
            events += self._tracker.apply_update(order_update_from_live(row), ts, full=True)
        for trade in sorted(trades, key=lambda t: t.trade_time_ms or 0):
            execution = execution_from_trade(trade)
            if execution is not None:
                events += self._tracker.apply_execution(execution)
        return events

    def reconcile(self, *, new_session: bool, since: datetime | None = None) -> list[AnyEvent]:
        """Fetch open orders and recent executions and fold them in.

        Args:
            new_session: The brokerage session is new (start, restart): warm the orders cache first.
            since: Fetch executions back to at least this time (the oldest order being recovered);
                IBKR keeps at most 7 days.

        Raises:
            IbkrError: If the gateway cannot be read (the caller retries later).
        """
        if new_session:
            self._rest.live_orders(force=True)  # pre-flight: answers empty, fills the cache
        orders = self._rest.live_orders().orders
        trades = self._rest.trades(days=self._days(since))
        events = self.fold(orders, trades)
        events += self.look_up_unlisted(orders)
        log.info("reconciled %d orders and %d executions: %d missed events", len(orders), len(trades),
                 len(events))
        return events

    def look_up_unlisted(self, listed: Sequence[LiveOrder]) -> list[AnyEvent]:
        """Ask for the status of every order still open here that the live orders do not list.

        Live orders show the orders working now and those finished in the *current* brokerage session:
        an order that finished while the session was being replaced (a cancel confirmed, a fill, an
        expiry) is not there any more, and without this it would stay open here for ever.

        Raises:
            IbkrError: If a status could not be read (the caller retries later).
        """
        shown = {row.order_id for row in listed if row.order_id is not None}
        ts = self._clock.now()
        events: list[AnyEvent] = []
        for tracked in self._tracker.open_orders():
            order_id = tracked.broker_order_id
            if order_id is None or order_id in shown:
                continue
            update = order_update_from_status(self._rest.order_status(order_id))
            if update.broker_order_id is None:  # a reply without the id: it belongs to the order asked about
                update = replace(update, broker_order_id=order_id)
            events += self._tracker.apply_update(update, ts, full=True)
        return events

    def _days(self, since: datetime | None = None) -> int:
        last = self._tracker.last_execution_ts
        if since is not None and (last is None or since < last):
            last = since
        if last is None:
            return 1
        age = (self._clock.now() - last).total_seconds() / 86400
        return max(1, min(7, math.ceil(age) + 1))

    def resolve_unresolved(self) -> tuple[list[AnyEvent], list[OrderRequest]]:
        """Look up orders with an unknown placement outcome; reject those lost past the window.

        Returns:
            The events found, and the held group members of a previous run that never reached
            IBKR, to be placed again with their group (the caller submits them).
        """
        pending = self._tracker.unresolved()
        if not pending:
            return [], []
        events: list[AnyEvent] = []
        try:
            events += self.fold(self._rest.live_orders().orders, self._rest.trades(days=1))
        except IbkrRateLimitError:
            return events, []  # try again on a later tick
        except IbkrError as e:
            # an order is declared lost only on a lookup that worked and did not find it
            log.warning("order lookup failed, will retry: %s", e)
            return events, []
        now = self._clock.monotonic()
        requeue: list[OrderRequest] = []
        for cid, since in self._tracker.unresolved():
            if now - since < self._window:
                continue
            tracked = self._tracker.get(cid)
            if tracked is not None and tracked.requeue_if_lost:
                # a held bracket/OCA member of a previous run that never reached IBKR: place it now
                log.warning("order %s of a previous run never reached IBKR: placing it with its group", cid)
                self._tracker.forget(cid)
                requeue.append(tracked.request)
                continue
            log.error("order %s not found at IBKR %.0fs after an ambiguous placement", cid, now - since)
            reason = "lost: placement outcome unknown and not found at IBKR"
            events += self._tracker.rejected(cid, reason, self._clock.now(), lost=True)
        return events, requeue
