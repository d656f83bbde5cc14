"""Order entry: place, modify and cancel through the reply dialogue, with grouped orders held back.

One reply chain at a time per account: placement, modify and their confirmations run under one
lock (IBKR rejects reply ids when several orders are in flight). A placement POST is never retried;
what an exception means is decided by :func:`~brokers.ibkr.replies.classify_failure`:

* not placed (session down, our limiter refused): ``submit_order`` raises ``BrokerConnectionError``,
  which the engine turns into ``OrderRejected``;
* refused by IBKR: ``OrderRejected`` with IBKR's text;
* ambiguous (timeout or reset after sending, 5xx, a 429 answer): the order is marked unresolved and
  looked up by its client order id (``order_ref``) until found or declared lost.

Grouped orders: IBKR links bracket children and OCA members only inside one placement request, but
the framework submits them one by one. Children (``parent_id``) and OCA members (``oca_group``) are
therefore held here and released together by :meth:`OrderEntry.release_groups`: OCA members once the
group has been quiet for a moment, bracket children once their parent has completely filled (then
as one OCA group). Held orders live only in this process until released (a documented gap).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field

from brokers.ibkr.config import IbkrConfig
from brokers.ibkr.errors import IbkrError
from brokers.ibkr.errors import IbkrRateLimitError
from brokers.ibkr.parsing import order_ticket
from brokers.ibkr.replies import Declined
from brokers.ibkr.replies import Failure
from brokers.ibkr.replies import classify_failure
from brokers.ibkr.replies import run_dialogue
from brokers.ibkr.rest import IbkrRestClient
from brokers.ibkr.rest import OrderAnswer
from brokers.ibkr.tracking import OrderTracker
from framework.clock import Clock
from framework.errors import BrokerConnectionError
from framework.events import Event
from framework.events import OrderCancelled
from framework.events import OrderCancelRejected
from framework.events import OrderUpdated
from framework.models import OrderRequest

log = logging.getLogger(__name__)

GROUP_QUIET_SECONDS = 0.05  # members of one group arrive within one strategy handler


@dataclass
class _Group:
    members: dict[str, OrderRequest] = field(default_factory=dict)
    touched: float = 0.0

    @property
    def parent_id(self) -> str | None:
        return next((r.parent_id for r in self.members.values() if r.parent_id), None)


class OrderEntry:
    """Submits, modifies and cancels orders for one account.

    Args:
        config: Adapter settings (allow-list, reply rounds).
        rest: REST client.
        tracker: Order state shared with the stream and reconciliation.
        clock: Event stamps and monotonic time.
        emit: Delivers events to the engine.
        account: Returns the account id (known once the session started).
        conid: Returns the instrument's conid for a request (resolving it if needed).
    """

    def __init__(
        self,
        config: IbkrConfig,
        rest: IbkrRestClient,
        tracker: OrderTracker,
        clock: Clock,
        *,
        emit: Callable[[list[Event]], None],
        account: Callable[[], str],
        conid: Callable[[OrderRequest], str],
    ) -> None:
        self._config = config
        self._rest = rest
        self._tracker = tracker
        self._clock = clock
        self._emit = emit
        self._account = account
        self._conid = conid
        self._lock = threading.Lock()
        self._groups: dict[str, _Group] = {}
        self.reconcile_requested = False

    # ----------------------------------------------------------------- submit

    def submit(self, request: OrderRequest) -> None:
        """Place ``request`` (or hold it for its group).

        Raises:
            BrokerConnectionError: The order definitely did not reach IBKR.
            ValueError: The request cannot be expressed for IBKR (no conid).
        """
        conid = self._conid(request)
        if request.parent_id is not None or request.oca_group is not None:
            key = request.oca_group or f"parent:{request.parent_id}"
            with self._lock:
                group = self._groups.setdefault(key, _Group())
                group.members[request.client_order_id] = request
                group.touched = self._clock.monotonic()
            return
        self._place([request], [conid], raise_not_placed=True)

    def _place(self, requests: list[OrderRequest], conids: list[str], *, raise_not_placed: bool) -> None:
        account = self._account()
        tickets = [
            order_ticket(r, account, c) | {"cOID": r.client_order_id} for r, c in zip(requests, conids, strict=True)
        ]
        if len(requests) > 1:
            for ticket in tickets:
                ticket["isSingleGroup"] = True
        with self._lock:
            for request in requests:
                self._tracker.register(request)
            try:
                answer = self._rest.place_orders(account, tickets)
                outcome = run_dialogue(answer, self._reply, self._config.auto_confirm_message_ids,
                                       self._config.max_reply_rounds)
            except IbkrError as e:
                self._failed(requests, e, raise_not_placed=raise_not_placed)
                return
        ts = self._clock.now()
        events: list[Event] = []
        if isinstance(outcome, Declined):
            log.warning("order(s) %s not transmitted: %s", [r.client_order_id for r in requests], outcome.reason)
            for request in requests:
                events += self._tracker.rejected(request.client_order_id, outcome.reason, ts)
        else:
            # one acknowledgement per order, in request order; a short answer leaves the rest to lookup
            for request, ack in zip(requests, outcome.acks, strict=False):
                assert ack.order_id is not None  # rest guarantees order ids on acknowledgements
                events += self._tracker.placed(request.client_order_id, ack.order_id, ts)
            for request in requests[len(outcome.acks):]:
                self._tracker.mark_unresolved(request.client_order_id, self._clock.monotonic())
        self._emit(events)

    def _reply(self, reply_id: str, confirmed: bool) -> OrderAnswer:
        return self._rest.reply(reply_id, confirmed=confirmed)

    def _failed(self, requests: list[OrderRequest], error: IbkrError, *, raise_not_placed: bool) -> None:
        kind = classify_failure(error)
        ids = [r.client_order_id for r in requests]
        ts = self._clock.now()
        if kind is Failure.AMBIGUOUS:
            log.warning("placement of %s is ambiguous (%s): looking it up by client order id", ids, error)
            for cid in ids:
                self._tracker.mark_unresolved(cid, self._clock.monotonic())
            return
        if kind is Failure.NOT_PLACED and raise_not_placed:
            for cid in ids:
                self._tracker.forget(cid)
            msg = f"order not sent to IBKR: {error}"
            raise BrokerConnectionError(msg) from error
        reason = getattr(error, "error_text", "") or str(error)
        self._emit([e for cid in ids for e in self._tracker.rejected(cid, reason, ts)])

    # ----------------------------------------------------------------- groups

    def release_groups(self) -> None:
        """Place held groups that are complete: quiet, and (for bracket children) parent filled."""
        now = self._clock.monotonic()
        ready: list[list[OrderRequest]] = []
        events: list[Event] = []
        with self._lock:
            for key, group in list(self._groups.items()):
                if now - group.touched < GROUP_QUIET_SECONDS:
                    continue
                parent = self._tracker.get(group.parent_id) if group.parent_id else None
                if parent is not None and not parent.terminal:
                    continue
                del self._groups[key]
                if parent is not None and parent.filled < parent.request.quantity:
                    events += self._drop_group(group, "parent order did not fill")
                else:
                    ready.append(list(group.members.values()))
        self._emit(events)
        for requests in ready:
            self._place(requests, [self._conid(r) for r in requests], raise_not_placed=False)

    def _drop_group(self, group: _Group, reason: str) -> list[Event]:
        ts = self._clock.now()
        return [OrderCancelled(ts=ts, client_order_id=cid, reason=reason) for cid in group.members]

    def _take_held(self, client_order_id: str) -> OrderRequest | None:
        with self._lock:
            for key, group in list(self._groups.items()):
                request = group.members.pop(client_order_id, None)
                if request is not None:
                    if not group.members:
                        del self._groups[key]
                    return request
        return None

    # ----------------------------------------------------------------- modify and cancel

    def modify(self, request: OrderRequest) -> None:
        """Replace a working order's ticket; ``OrderUpdated`` or ``OrderCancelRejected`` follows."""
        cid = request.client_order_id
        if self._take_held(cid) is not None:
            self.submit(request)
            self._emit([OrderUpdated(ts=self._clock.now(), client_order_id=cid, request=request)])
            return
        tracked = self._tracker.get(cid)
        if tracked is None or tracked.broker_order_id is None:
            self._cancel_rejected(cid, "order not acknowledged by IBKR yet")
            return
        ticket = order_ticket(request, self._account(), self._conid(request))
        with self._lock:
            try:
                answer = self._rest.modify_order(self._account(), tracked.broker_order_id, ticket)
                outcome = run_dialogue(answer, self._reply, self._config.auto_confirm_message_ids,
                                       self._config.max_reply_rounds)
            except IbkrError as e:
                self._modify_failed(cid, e)
                return
        if isinstance(outcome, Declined):
            self._cancel_rejected(cid, outcome.reason)
            return
        self._tracker.replace_request(request)
        self._emit([OrderUpdated(ts=self._clock.now(), client_order_id=cid, request=request)])

    def _modify_failed(self, cid: str, error: IbkrError) -> None:
        if classify_failure(error) is Failure.AMBIGUOUS:
            log.warning("modify of %s is ambiguous (%s): reconciling", cid, error)
            self.reconcile_requested = True
            return
        self._cancel_rejected(cid, getattr(error, "error_text", "") or str(error))

    def cancel(self, client_order_id: str) -> None:
        """Ask IBKR to cancel; the outcome arrives as order updates (or ``OrderCancelRejected``)."""
        held = self._take_held(client_order_id)
        if held is not None:
            self._emit([OrderCancelled(ts=self._clock.now(), client_order_id=client_order_id, reason="cancelled")])
            return
        tracked = self._tracker.get(client_order_id)
        if tracked is None or tracked.broker_order_id is None:
            self._cancel_rejected(client_order_id, "order not acknowledged by IBKR yet")
            return
        try:
            self._rest.cancel_order(self._account(), tracked.broker_order_id)
        except IbkrError as e:
            # a 429 means the cancel was not processed: say so, the strategy may try again
            if classify_failure(e) is Failure.AMBIGUOUS and not isinstance(e, IbkrRateLimitError):
                self.reconcile_requested = True
                return
            self._cancel_rejected(client_order_id, getattr(e, "error_text", "") or str(e))

    def cancel_orphan(self, client_order_id: str, broker_order_id: str) -> None:
        """Cancel at IBKR an order the framework has already closed (declared lost); no events."""
        try:
            self._rest.cancel_order(self._account(), broker_order_id)
        except IbkrError as e:
            log.error("cancel of orphaned order %s (IBKR %s) failed: %s; cancel it by hand",
                      client_order_id, broker_order_id, e)

    def _cancel_rejected(self, cid: str, reason: str) -> None:
        self._emit([OrderCancelRejected(ts=self._clock.now(), client_order_id=cid, reason=reason)])
