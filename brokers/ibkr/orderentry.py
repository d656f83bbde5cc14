"""Order entry: place, modify and cancel through the reply dialogue, with grouped orders held back.

Runs on the adapter's command worker (see :class:`~framework.worker.CommandWorker`), never on the
engine's dispatcher, and returns the events each call implies; the facade delivers them.

One reply chain at a time per account: placement, modify and their confirmations run under one
lock (IBKR rejects reply ids when several orders are in flight). Cancels do not take that lock, so a
cancel never waits behind a placement stuck in I/O. A placement POST is never retried; what an
exception means is decided by :func:`~brokers.ibkr.replies.classify_failure`:

* not placed (session down, not reachable, a rate limit: ours, or the gateway's 429, which answers
  before the request is processed): ``CommandNotSent``, the command given back to the engine, which
  holds it or denies it under the degraded-order policy (:mod:`framework.holding`);
* refused by IBKR: ``OrderRejected`` with IBKR's text (``invalid order attribute : Outside Regular
  Trading Hours`` ...); an acknowledgement with status ``Inactive`` (IBKR: not working), or one whose
  ``sor`` report said ``Inactive`` before the answer came, is a refusal too, with IBKR's status
  description (``order_status_description``) when the order-status lookup gives one;
* ambiguous (timeout or reset after sending, 5xx): the order is marked unresolved and looked up by
  its client order id (``order_ref``) until found or declared lost.

A cancel that was not sent is given back the same way; a modification too.

Cancel pacing (IBKR's, so it lives here): at most one DELETE per order per
:data:`CANCEL_RETRY_SECONDS`; a cancel asked again after that goes out again (a lost DELETE is asked
again, a slow one is not duplicated).

Grouped orders: IBKR links bracket children and OCA members only inside one placement request, but
the framework submits them one by one. Children (``parent_id``) and OCA members (``oca_group``) are
therefore held here and released together by :meth:`OrderEntry.release_groups`: OCA members once the
group has been quiet for a moment, bracket children once their parent has completely filled (then
as one OCA group). Held orders live only in this process until released (a documented gap).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from typing import Protocol

from brokers.ibkr import parsing
from brokers.ibkr.config import IbkrConfig
from brokers.ibkr.errors import IbkrError
from brokers.ibkr.instruments import InstrumentCache
from brokers.ibkr.parsing import order_ticket
from brokers.ibkr.replies import Declined
from brokers.ibkr.replies import Failure
from brokers.ibkr.replies import classify_failure
from brokers.ibkr.replies import run_dialogue
from brokers.ibkr.rest import IbkrRestClient
from brokers.ibkr.rest import OrderAnswer
from brokers.ibkr.tracking import NOT_WORKING
from brokers.ibkr.tracking import OrderTracker
from brokers.ibkr.wire import OrderAck
from framework.clock import Clock
from framework.errors import BrokerConnectionError
from framework.events import AnyEvent
from framework.events import CommandNotSent
from framework.events import OrderCancelled
from framework.events import OrderCancelRejected
from framework.events import OrderRejected
from framework.events import OrderUpdated
from framework.models import OrderRequest

log = logging.getLogger(__name__)

INACTIVE = "Inactive"  # IBKR's status of an order it does not work (rejected)
GROUP_QUIET_SECONDS = 0.05  # members of one group arrive within one strategy handler
CANCEL_RETRY_SECONDS = 5.0  # IBKR: at most one DELETE per order per 5 s


class AccountSource(Protocol):
    """Where the account id comes from (the session manager, once the session started)."""

    @property
    def account_id(self) -> str | None:
        """The account orders go to, or None before the session started."""
        ...


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
        instruments: Conids for tickets.
        accounts: The account id.
        clock: Event stamps and monotonic time.
    """

    def __init__(self, config: IbkrConfig, rest: IbkrRestClient, tracker: OrderTracker, *,
                 instruments: InstrumentCache, accounts: AccountSource, clock: Clock) -> None:
        self._config = config
        self._rest = rest
        self._tracker = tracker
        self._instruments = instruments
        self._accounts = accounts
        self._clock = clock
        self._dialogue = threading.Lock()  # one reply chain at a time: placements and modifications
        self._groups_lock = threading.Lock()
        self._groups: dict[str, _Group] = {}
        self._cancels_sent: dict[str, float] = {}  # client order id -> monotonic time of the last DELETE
        self.reconcile_requested = False

    def _account(self) -> str:
        account = self._accounts.account_id
        if account is None:
            raise BrokerConnectionError("IBKR session not started")
        return account

    # ----------------------------------------------------------------- submit

    def submit(self, request: OrderRequest) -> list[AnyEvent]:
        """Place ``request`` (or hold it for its group); return the events it implies."""
        try:
            conid = self._instruments.conid(request.instrument)
        except IbkrError as e:  # the lookup could not be made: nothing is wrong with the order
            return self._not_placed([request], e)
        except (LookupError, ValueError) as e:
            return [OrderRejected(ts=self._clock.now(), client_order_id=request.client_order_id,
                                  reason=f"order not sent to IBKR: {e}")]
        if request.parent_id is not None or request.oca_group is not None:
            key = request.oca_group or f"parent:{request.parent_id}"
            with self._groups_lock:
                group = self._groups.setdefault(key, _Group())
                group.members[request.client_order_id] = request
                group.touched = self._clock.monotonic()
            return []
        return self._place([request], [conid])

    def _place(self, requests: list[OrderRequest], conids: list[str]) -> list[AnyEvent]:
        try:
            account = self._account()
        except BrokerConnectionError as e:
            return self._not_placed(requests, e)
        tickets = [order_ticket(r, account, c) | {"cOID": r.client_order_id} for r, c in zip(requests, conids,
                                                                                            strict=True)]
        if len(requests) > 1:
            for ticket in tickets:
                ticket["isSingleGroup"] = True
        with self._dialogue:
            for request in requests:
                self._tracker.register(request)
            try:
                answer = self._rest.place_orders(account, tickets)
                outcome = run_dialogue(answer, self._reply, self._config.auto_confirm_message_ids,
                                       self._config.max_reply_rounds)
            except IbkrError as e:
                return self._failed(requests, e)
        ts = self._clock.now()
        if isinstance(outcome, Declined):
            log.warning("order(s) %s not transmitted: %s", [r.client_order_id for r in requests], outcome.reason)
            return [e for r in requests for e in self._tracker.rejected(r.client_order_id, outcome.reason, ts)]
        return self._acknowledged(requests, outcome.acks, ts)

    def _acknowledged(self, requests: list[OrderRequest], acks: list[OrderAck], ts: datetime) -> list[AnyEvent]:
        # one acknowledgement per order, in request order; a short answer leaves the rest to lookup
        events: list[AnyEvent] = []
        for request, ack in zip(requests, acks, strict=False):
            assert ack.order_id is not None  # rest guarantees order ids on acknowledgements
            cid = request.client_order_id
            if ack.order_status == INACTIVE or self._tracker.inactive_while_placing(cid):
                reason = self._inactive_reason(ack.order_id)
                log.warning("order %s acknowledged Inactive by IBKR: %s", cid, reason)
                events += self._tracker.refused_on_ack(cid, ack.order_id, reason, ts)
            else:
                events += self._tracker.placed(cid, ack.order_id, ts)
        for request in requests[len(acks):]:
            self._tracker.mark_unresolved(request.client_order_id, self._clock.monotonic())
        return events

    def _inactive_reason(self, order_id: str) -> str:
        # IBKR says why in the order's status description; the order is refused either way
        try:
            described = self._rest.order_status(order_id).order_status_description
        except IbkrError as e:
            log.info("status of Inactive order %s not available: %s", order_id, e)
            described = None
        return f"IBKR status {INACTIVE}: {described or NOT_WORKING}"

    def _reply(self, reply_id: str, confirmed: bool) -> OrderAnswer:
        return self._rest.reply(reply_id, confirmed=confirmed)

    def _failed(self, requests: list[OrderRequest], error: IbkrError) -> list[AnyEvent]:
        kind = classify_failure(error)
        if kind is Failure.AMBIGUOUS:
            log.warning("placement of %s is ambiguous (%s): looking it up by client order id",
                        [r.client_order_id for r in requests], error)
            for request in requests:
                self._tracker.mark_unresolved(request.client_order_id, self._clock.monotonic())
            return []
        if kind is Failure.NOT_PLACED:
            return self._not_placed(requests, error)
        reason = getattr(error, "error_text", "") or str(error)
        ts = self._clock.now()
        return [e for r in requests for e in self._tracker.rejected(r.client_order_id, reason, ts)]

    def _not_placed(self, requests: list[OrderRequest], error: Exception) -> list[AnyEvent]:
        # IBKR did not act on them: give them back to the engine (it holds or denies them)
        ts = self._clock.now()
        for request in requests:
            self._tracker.forget(request.client_order_id)
        log.warning("order(s) %s not sent to IBKR: %s", [r.client_order_id for r in requests], error)
        return [CommandNotSent(ts=ts, client_order_id=r.client_order_id, command="submit", reason=str(error))
                for r in requests]

    # ----------------------------------------------------------------- groups

    def release_groups(self) -> tuple[list[AnyEvent], list[list[OrderRequest]]]:
        """Take the held groups that are complete: quiet, and (for bracket children) parent filled.

        Returns:
            The events for groups dropped (their parent did not fill) and the groups to place
            now (with :meth:`place_group`, on the placement lane).
        """
        now = self._clock.monotonic()
        ready: list[list[OrderRequest]] = []
        events: list[AnyEvent] = []
        with self._groups_lock:
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
        return events, ready

    def place_group(self, requests: list[OrderRequest]) -> list[AnyEvent]:
        """Place a released group as one request (bracket children as one OCA group)."""
        try:
            conids = [self._instruments.conid(r.instrument) for r in requests]
        except (LookupError, ValueError, IbkrError) as e:
            return self._not_placed(requests, e)
        return self._place(requests, conids)

    def drop_held(self) -> list[OrderRequest]:
        """Drop every held group member (the kill switch: they were never sent) and return them."""
        with self._groups_lock:
            groups, self._groups = list(self._groups.values()), {}
        return [request for group in groups for request in group.members.values()]

    def _drop_group(self, group: _Group, reason: str) -> list[AnyEvent]:
        ts = self._clock.now()
        return [OrderCancelled(ts=ts, client_order_id=cid, reason=reason) for cid in group.members]

    def _take_held(self, client_order_id: str) -> OrderRequest | None:
        with self._groups_lock:
            for key, group in list(self._groups.items()):
                request = group.members.pop(client_order_id, None)
                if request is not None:
                    if not group.members:
                        del self._groups[key]
                    return request
        return None

    # ----------------------------------------------------------------- modify and cancel

    def modify(self, request: OrderRequest) -> list[AnyEvent]:
        """Replace a working order's ticket; ``OrderUpdated`` or ``OrderCancelRejected`` follows."""
        cid = request.client_order_id
        if self._take_held(cid) is not None:
            return [*self.submit(request), OrderUpdated(ts=self._clock.now(), client_order_id=cid, request=request)]
        tracked = self._tracker.get(cid)
        if tracked is None or tracked.broker_order_id is None:
            return self._cancel_rejected(cid, "order not acknowledged by IBKR yet")
        try:
            ticket = order_ticket(request, self._account(), self._instruments.conid(request.instrument))
            with self._dialogue:
                answer = self._rest.modify_order(self._account(), tracked.broker_order_id, ticket)
                outcome = run_dialogue(answer, self._reply, self._config.auto_confirm_message_ids,
                                       self._config.max_reply_rounds)
        except (IbkrError, BrokerConnectionError, LookupError, ValueError) as e:
            return self._modify_failed(request, e)
        if isinstance(outcome, Declined):
            return self._cancel_rejected(cid, outcome.reason)
        self._tracker.replace_request(request)
        return [OrderUpdated(ts=self._clock.now(), client_order_id=cid, request=request)]

    def _modify_failed(self, request: OrderRequest, error: Exception) -> list[AnyEvent]:
        cid = request.client_order_id
        kind = classify_failure(error) if isinstance(error, IbkrError) else None
        if kind is Failure.AMBIGUOUS:
            log.warning("modify of %s is ambiguous (%s): reconciling", cid, error)
            self._tracker.modify_unresolved(request, self._clock.monotonic())
            self.reconcile_requested = True
            return []
        if kind is Failure.NOT_PLACED or isinstance(error, BrokerConnectionError):
            log.warning("modify of %s not sent to IBKR: %s", cid, error)
            return [CommandNotSent(ts=self._clock.now(), client_order_id=cid, command="modify", reason=str(error),
                                   request=request)]
        return self._cancel_rejected(cid, getattr(error, "error_text", "") or str(error))

    def cancel(self, client_order_id: str) -> list[AnyEvent]:
        """Ask IBKR to cancel (paced); the outcome arrives as order updates (or ``OrderCancelRejected``)."""
        held = self._take_held(client_order_id)
        if held is not None:
            return [OrderCancelled(ts=self._clock.now(), client_order_id=client_order_id, reason="cancelled")]
        tracked = self._tracker.get(client_order_id)
        if tracked is None or tracked.broker_order_id is None:
            return self._cancel_rejected(client_order_id, "order not acknowledged by IBKR yet")
        now = self._clock.monotonic()
        sent = self._cancels_sent.get(client_order_id)
        if sent is not None and now - sent < CANCEL_RETRY_SECONDS:
            return []  # a DELETE for this order is on its way: IBKR paces one per order per 5 s
        self._tracker.cancel_requested(client_order_id)
        if sent is not None:
            log.warning("order %s still open %.0fs after its cancel; asking again", client_order_id, now - sent)
        self._cancels_sent[client_order_id] = now
        try:
            self._rest.cancel_order(self._account(), tracked.broker_order_id)
        except (IbkrError, BrokerConnectionError) as e:
            return self._cancel_failed(client_order_id, e)
        return []

    def _cancel_failed(self, client_order_id: str, error: IbkrError | BrokerConnectionError) -> list[AnyEvent]:
        kind = classify_failure(error) if isinstance(error, IbkrError) else Failure.NOT_PLACED
        if kind is Failure.AMBIGUOUS:
            self.reconcile_requested = True
            return []
        self._cancels_sent.pop(client_order_id, None)
        if kind is Failure.NOT_PLACED:  # not processed (a rate limit, the session down): given back
            log.warning("cancel of %s not sent to IBKR: %s", client_order_id, error)
            return [CommandNotSent(ts=self._clock.now(), client_order_id=client_order_id, command="cancel",
                                   reason=str(error))]
        return self._cancel_rejected(client_order_id, getattr(error, "error_text", "") or str(error))

    def cancel_all(self, reason: str) -> list[AnyEvent]:
        """Cancel every order of the account: held ones here, then every working one IBKR reports.

        The orders this adapter knows go first (no lookup needed), then the live-orders list
        catches the ones it does not (placed by another run, or by hand).
        """
        log.error("cancelling every open order of the account: %s", reason)
        ts, why = self._clock.now(), f"cancelled: {reason}"
        events: list[AnyEvent] = [OrderCancelled(ts=ts, client_order_id=r.client_order_id, reason=why)
                                  for r in self.drop_held()]
        for tracked in self._tracker.open_orders():
            if tracked.broker_order_id is not None:
                events += self._delete(tracked.broker_order_id, tracked.request.client_order_id)
        try:
            rows = self._rest.live_orders().orders
        except IbkrError as e:
            log.error("cancel-all could not list IBKR's live orders (%s): orders unknown to this run stay open", e)
            return events
        known = {t.broker_order_id for t in self._tracker.open_orders()}
        for row in rows:
            phase = parsing.ORDER_STATUS_FROM_WIRE.get(row.status or "")
            if row.order_id is not None and row.order_id not in known and phase in parsing.OPEN_PHASES:
                log.error("cancelling order %s at IBKR (%s), unknown to this run", row.order_id, row.order_ref)
                events += self._delete(row.order_id, row.order_ref)
        return events

    def _delete(self, broker_order_id: str, client_order_id: str | None) -> list[AnyEvent]:
        if client_order_id is not None:
            self._tracker.cancel_requested(client_order_id)
        try:
            self._rest.cancel_order(self._account(), broker_order_id)
        except (IbkrError, BrokerConnectionError) as e:
            log.error("cancel of IBKR order %s (%s) failed: %s", broker_order_id, client_order_id, e)
        if client_order_id is not None:
            self._cancels_sent[client_order_id] = self._clock.monotonic()
        return []

    def cancel_orphan(self, client_order_id: str, broker_order_id: str) -> None:
        """Cancel at IBKR an order the framework has already closed (declared lost); no events."""
        try:
            self._rest.cancel_order(self._account(), broker_order_id)
        except (IbkrError, BrokerConnectionError) as e:
            log.error("cancel of orphaned order %s (IBKR %s) failed: %s; cancel it by hand",
                      client_order_id, broker_order_id, e)

    def _cancel_rejected(self, cid: str, reason: str) -> list[AnyEvent]:
        return [OrderCancelRejected(ts=self._clock.now(), client_order_id=cid, reason=reason)]
