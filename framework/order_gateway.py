"""The order gateway: a strategy's order calls become broker commands, or denials, at once.

On the dispatcher thread, :meth:`OrderGateway.submit`:

1. tracks the order (``INITIALIZED``) and writes its intent to the journal (an order whose intent
   cannot be written is denied and never sent);
2. refuses it while trading is halted (:meth:`OrderGateway.halt`), while the broker is not
   connected or not trusted (:class:`~framework.lifecycle.BrokerHealth`), or when a pre-trade check
   (:mod:`framework.checks`) says no: ``OrderDenied`` with the reason, and nothing leaves;
3. otherwise marks it ``SUBMITTED`` (queuing ``OrderSubmitted`` for the journal and the owning
   strategy; when there is neither, no event is built at all) and hands ``SubmitOrder`` to the
   broker, which returns at once (its own worker sends it, see :mod:`framework.commands`).

Modifications pass the same gates (a refusal is ``OrderCancelRejected``); cancels always go out.

**Halting** (the kill switch) may come from any thread and does not wait for the dispatcher: new
commands are refused from that instant, placements the broker had queued but not sent are dropped
and reported ``OrderDenied`` ("never sent"), and the broker is told to cancel every open order of
the account.

Events:
    Queues ``OrderSubmitted``, ``OrderDenied``, ``OrderPendingCancel`` and ``OrderCancelRejected``
    (for a modification that was refused or dropped).
"""

from __future__ import annotations

import itertools
import logging
import sqlite3

from framework.broker import Broker
from framework.broker import ConnectionState
from framework.broker import EventSink
from framework.bus import EventBus
from framework.checks import PreTradeCheck
from framework.checks import TradingState
from framework.clock import Clock
from framework.commands import CancelAllOrders
from framework.commands import CancelOrder
from framework.commands import ModifyOrder
from framework.commands import OrderCommand
from framework.commands import SubmitOrder
from framework.config import DegradedPolicy
from framework.errors import OrderError
from framework.events import CommandNotSent
from framework.events import OrderCancelRejected
from framework.events import OrderDenied
from framework.events import OrderPendingCancel
from framework.events import OrderSubmitted
from framework.holding import CommandHold
from framework.holding import HeldCommand
from framework.holding import kind_of
from framework.holding import reduces_exposure
from framework.journal import Journal
from framework.lifecycle import BrokerHealth
from framework.models import Order
from framework.models import OrderRequest
from framework.models import OrderStatus
from framework.orders import OrderBook
from framework.orders import new_order
from framework.timers import Timers

log = logging.getLogger(__name__)


class OrderGateway:
    """Checks, journals and sends a run's order commands.

    Args:
        broker: Executes the commands.
        book: Order state (read, and new orders added).
        state: What the pre-trade checks see.
        enqueue: The dispatcher's queue, for the events the gateway makes.
        clock: The engine clock.
        health: Whether the broker's reports are trusted.
        bus: Asked whether anyone listens to ``OrderSubmitted``.
        journal: Where intents are written before anything is sent.
        require_connected: Deny new orders while the broker is not connected.
    """

    def __init__(self, broker: Broker, book: OrderBook, state: TradingState, enqueue: EventSink, *,
                 clock: Clock, health: BrokerHealth, bus: EventBus, timers: Timers,
                 policy: DegradedPolicy | None = None, journal: Journal | None = None,
                 require_connected: bool = True) -> None:
        self._broker = broker
        self._bus = bus
        self._book = book
        self._state = state
        self._enqueue = enqueue
        self._clock = clock
        self._health = health
        self.journal = journal
        self._require_connected = require_connected
        self.checks: list[PreTradeCheck] = []
        self.run_id = ""
        self._ids = itertools.count(1)
        self._denied: set[str] = set()  # denied orders whose OrderDenied is still queued
        self._halt_reason: str | None = None
        self.hold = CommandHold(enqueue, clock, timers, bus, policy=policy or DegradedPolicy(),
                                on_check=self.check_held)

    # ----------------------------------------------------------------- ids

    def begin(self, run_id: str) -> None:
        """Start numbering client order ids ``<run_id>.1``, ``<run_id>.2`` ..."""
        self.run_id = run_id

    def next_client_order_id(self) -> str:
        """A new client order id, unique within this run and across restarts."""
        return f"{self.run_id}.{next(self._ids)}"

    # ----------------------------------------------------------------- commands

    def submit(self, request: OrderRequest) -> Order:
        """Check ``request``, track it, and hand it to the broker (or deny it).

        The order's events (``OrderSubmitted`` or ``OrderDenied``, then the broker's) are queued and
        reach the owning strategy after the current handler returns.

        Raises:
            ValueError: If the client order id is already in use.
        """
        now = self._clock.now()
        cid = request.client_order_id
        blocked = self.blocked()
        if self.journal is None:
            reason = self.deny_reason(request)
            if reason is None and blocked is None and not self._bus.wants(OrderSubmitted, request.strategy_id):
                # no journal and nobody listening: straight to SUBMITTED, no event built (a backtest's case)
                order = Order(request, now, OrderStatus.SUBMITTED)
                self._book.add(order)
                self._send(request)
                return order
            order = new_order(request, now)
            self._book.add(order)
        else:
            order = new_order(request, now)
            self._book.add(order)
            # The intent goes on disk first, denied or not: the journal shows every order ever asked for.
            reason = self._journal_intent(order) or self.deny_reason(request)
        command = SubmitOrder(request)
        if reason is None and blocked is not None and not self.hold.admits(command, request.strategy_id, self._state):
            reason = f"{blocked}; {self.hold.refusal(command, request.strategy_id, self._state)}"
        if reason is not None:
            log.warning("order %s denied: %s", cid, reason)
            self._mark_denied(cid)
            self._enqueue(OrderDenied(ts=now, client_order_id=cid, reason=reason))
            return order
        self._enqueue(OrderSubmitted(ts=now, client_order_id=cid, order=order))
        if blocked is None:
            self._send(request)
        else:
            self.hold.hold(command, request.strategy_id, blocked)
        return order

    def _send(self, request: OrderRequest) -> None:
        self._broker.execute(SubmitOrder(request))
        if self._halt_reason is not None:
            self._drop_unsent(self._halt_reason)  # a halt began between the check and the hand-over

    def modify(self, request: OrderRequest) -> None:
        """Send a full replacement ticket for a working order, through the same gates as a new order.

        Raises:
            OrderError: If the order is unknown or no longer open.
        """
        cid = request.client_order_id
        self._require_open(cid)
        reason = self.deny_reason(request)
        command = ModifyOrder(request)
        blocked = self.blocked()
        if reason is None and cid not in self.hold and blocked is not None \
                and not self.hold.admits(command, request.strategy_id, self._state):
            reason = f"{blocked}; {self.hold.refusal(command, request.strategy_id, self._state)}"
        if reason is not None:
            log.warning("modification of %s denied: %s", cid, reason)
            self._enqueue(OrderCancelRejected(ts=self._clock.now(), client_order_id=cid,
                                              reason=f"modification denied: {reason}"))
        elif cid in self.hold or blocked is not None:
            self.hold.hold(command, request.strategy_id, blocked or "an earlier command of this order is waiting")
        else:
            self._broker.execute(command)

    def cancel(self, client_order_id: str) -> None:
        """Ask the broker to cancel a working order (a no-op for one already final).

        Every call reaches the broker (which paces repeats its venue would refuse); the first one
        for an order queues ``OrderPendingCancel``.

        Raises:
            OrderError: If the order is unknown.
        """
        order = self._require_known(client_order_id)
        # INITIALIZED: submitted in this handler, its OrderSubmitted still queued (unless it was denied)
        fresh = order.status is OrderStatus.INITIALIZED and client_order_id not in self._denied
        if not (order.status.is_open or fresh):
            return
        command = CancelOrder(client_order_id)
        owner = order.request.strategy_id
        held = client_order_id in self.hold
        blocked = self.blocked()
        if not held and blocked is not None and not self.hold.admits(command, owner, self._state):
            reason = f"cancel not sent: {blocked}; {self.hold.refusal(command, owner, self._state)}"
            log.warning("order %s: %s", client_order_id, reason)
            self._enqueue(OrderCancelRejected(ts=self._clock.now(), client_order_id=client_order_id, reason=reason))
            return
        if order.status is not OrderStatus.PENDING_CANCEL:
            self._enqueue(OrderPendingCancel(ts=self._clock.now(), client_order_id=client_order_id))
        if held or blocked is not None:
            self.hold.hold(command, owner, blocked or "an earlier command of this order is waiting")
        else:
            self._broker.execute(command)

    def is_cancellable(self, client_order_id: str) -> bool:
        """Whether :meth:`cancel` would send a cancel for this order now (it may still fill, no cancel pending)."""
        order = self._book.get(client_order_id)
        if order is None or order.status is OrderStatus.PENDING_CANCEL:
            return False
        fresh = order.status is OrderStatus.INITIALIZED and client_order_id not in self._denied
        return order.status.is_open or fresh

    def deny_reason(self, request: OrderRequest) -> str | None:
        """Why ``request`` may not be sent at all (a halt, a pre-trade check), or None (see also :meth:`blocked`)."""
        if self._halt_reason is not None:
            return f"trading halted: {self._halt_reason}"
        for check in self.checks:
            reason = check(request, self._state)
            if reason is not None:
                return reason
        return None

    def blocked(self) -> str | None:
        """Why the broker cannot take order commands now (not connected, or not trusted), or None."""
        if not self._require_connected:
            return None
        state = self._broker.connection_state
        if state is not ConnectionState.CONNECTED:
            return f"broker {self._broker.name} is {state}"
        if self._health.reason is not None:
            return f"broker {self._broker.name} is degraded: {self._health.reason}"
        return None

    # ----------------------------------------------------------------- held commands (dispatcher)

    def on_not_sent(self, event: CommandNotSent) -> None:
        """A broker gave a command back unsent: hold it or refuse it under the owner's policy."""
        cid = event.client_order_id
        order = self._book.get(cid)
        if order is None or order.status.is_terminal:
            log.info("order %s: %s not sent (%s); the order has ended, nothing to do", cid, event.command,
                     event.reason)
            return
        command: HeldCommand
        if event.command == "submit":
            command = SubmitOrder(order.request)
        elif event.command == "modify":
            command = ModifyOrder(event.request or order.request)
        else:
            command = CancelOrder(cid)
        owner = order.request.strategy_id
        reason = f"not sent: {event.reason}"
        if self._halt_reason is not None and not isinstance(command, CancelOrder):
            self._refuse(command, f"never sent: trading halted ({self._halt_reason})")
        elif cid in self.hold or self.hold.admits(command, owner, self._state):
            self.hold.hold(command, owner, event.reason)
        else:
            self._refuse(command, f"{reason}; {self.hold.refusal(command, owner, self._state)}")

    def check_held(self) -> None:
        """Refuse held commands whose time is up; send the rest once the broker can take them."""
        now = self._clock.now()
        for held in self.hold.take_due(now):
            waited = int((now - held.since).total_seconds())
            self._refuse(held.command, f"not sent: {held.reason} (held {waited} s, the most the policy allows)")
        if self.hold and self.blocked() is None:
            self._release()

    def _release(self) -> None:
        for held in self.hold.take_all():
            command = held.command
            order = self._book.get(command.client_order_id)
            if order is None or order.status.is_terminal:
                continue  # it ended while held (a cancel's order filled, say)
            if isinstance(command, SubmitOrder | ModifyOrder):
                reason = self.deny_reason(command.request)
                policy = self.hold.policy(held.strategy_id)
                if reason is None and policy.new_exposure == "deny" and not reduces_exposure(command.request,
                                                                                               self._state):
                    reason = "no longer only reduces the position (degraded-order policy)"
                if reason is not None:
                    self._refuse(command, f"not sent after the broker recovered: {reason}")
                    continue
            log.info("order %s: %s released, the broker can take it again", command.client_order_id,
                     kind_of(command))
            if isinstance(command, SubmitOrder):
                self._send(command.request)
            else:
                self._broker.execute(command)

    def _mark_denied(self, cid: str) -> None:
        # an entry matters only until its OrderDenied is applied: forget those whose order has moved on,
        # so a long run's denials do not pile up here
        book, waiting = self._book, OrderStatus.INITIALIZED
        self._denied = {c for c in self._denied if (o := book.get(c)) is not None and o.status is waiting}
        self._denied.add(cid)

    def _refuse(self, command: HeldCommand, reason: str) -> None:
        cid = command.client_order_id
        log.warning("order %s: %s refused: %s", cid, kind_of(command), reason)
        now = self._clock.now()
        if isinstance(command, SubmitOrder):
            self._mark_denied(cid)
            self._enqueue(OrderDenied(ts=now, client_order_id=cid, reason=reason))
        elif isinstance(command, ModifyOrder):
            self._enqueue(OrderCancelRejected(ts=now, client_order_id=cid, reason=f"modification {reason}"))
        else:
            self._enqueue(OrderCancelRejected(ts=now, client_order_id=cid, reason=f"cancel {reason}"))

    # ----------------------------------------------------------------- halting (any thread)

    @property
    def halt_reason(self) -> str | None:
        """Why trading is halted, or None."""
        return self._halt_reason

    def halt(self, reason: str) -> None:
        """Refuse new commands now, drop the broker's unsent placements, and cancel every open order.

        Safe from any thread; returns without waiting on the network or the dispatcher.
        """
        first = self._halt_reason is None
        self._halt_reason = reason  # from here on the dispatcher refuses every new order
        if not first:
            return
        log.error("KILL SWITCH: trading halted (%s); dropping unsent orders and cancelling open ones", reason)
        self._drop_unsent(reason)
        self._broker.execute(CancelAllOrders(reason))

    def resume(self) -> None:
        """Allow new orders again."""
        if self._halt_reason is not None:
            log.warning("kill switch cleared: new orders allowed again")
        self._halt_reason = None

    def _drop_unsent(self, reason: str) -> None:
        never_sent = f"never sent: trading halted ({reason})"
        unsent: list[OrderCommand] = [h.command for h in self.hold.take_placements()]  # held cancels stay
        for command in unsent + self._broker.drop_unsent():
            if isinstance(command, SubmitOrder | ModifyOrder):
                self._refuse(command, never_sent)

    # ----------------------------------------------------------------- helpers

    def _journal_intent(self, order: Order) -> str | None:
        assert self.journal is not None
        try:
            self.journal.record_intent(order, self.run_id)
        except (OSError, sqlite3.Error) as e:
            log.error("journal write failed for %s: %s", order.client_order_id, e)
            return f"journal write failed: {e}"
        return None

    def _require_known(self, client_order_id: str) -> Order:
        order = self._book.get(client_order_id)
        if order is None:
            msg = f"unknown client_order_id {client_order_id!r}"
            raise OrderError(msg)
        return order

    def _require_open(self, client_order_id: str) -> Order:
        order = self._require_known(client_order_id)
        if not order.status.is_open:
            msg = f"order {client_order_id!r} is {order.status} and cannot be modified"
            raise OrderError(msg)
        return order
