"""The simulated broker's order handling: submit, modify, cancel, match, fill.

Status timing (all in clock seconds, so tests drive it with a simulated clock):

* placement: ``PendingSubmit`` then ``PreSubmitted`` at once (the placement response shows the latter);
* after ``submit_latency``: ``Submitted`` and the first match attempt; stop types and held bracket
  children stay ``PreSubmitted`` until elected / until the parent fills;
* every market step: match attempts for working orders on the instruments that moved;
* cancel: ``PendingCancel`` at once, ``Cancelled`` after ``cancel_latency`` unless it filled first;
* trading hours (:mod:`simulators.ibkr.sessions`, with ``market_hours = "exchange"``): an order that
  may not trade in the current session is held ``PreSubmitted`` and neither fills nor moves its stop;
  at every session change held orders that may now trade become ``Submitted`` (and match), working
  ones that may not go back to ``PreSubmitted``, and ``DAY`` orders past their session's end are
  ``Cancelled`` by the broker. With ``outside_rth_orders = "inactive"`` an order placed when it may not
  trade is created ``Inactive`` instead.

Every change is reported to :class:`OrderEvents` as the changed live-order fields only, which is
exactly what the ``sor`` topic relays.

Execution ids have IBKR's shape (``0000e0d5.60cf1bd1.01.01``, opaque to clients) and, like IBKR's,
are never issued twice: the first part is drawn afresh for every boot of the books (a new process, a
``reset``), the second counts the boot's executions. A gateway restarted on the same seed therefore
never repeats an id a client has already booked.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from decimal import Decimal
from functools import partial
from typing import Any
from typing import Protocol

from framework.clock import Clock
from simulators.ibkr.account import Execution
from simulators.ibkr.account import Ledger
from simulators.ibkr.account import order_commission
from simulators.ibkr.config import OutsideRthOrders
from simulators.ibkr.config import SimulatorConfig
from simulators.ibkr.instruments import Universe
from simulators.ibkr.market import MarketModel
from simulators.ibkr.market import Quote
from simulators.ibkr.matching import fill_price
from simulators.ibkr.matching import fill_size
from simulators.ibkr.matching import initial_stop
from simulators.ibkr.matching import is_elected
from simulators.ibkr.matching import update_trail
from simulators.ibkr.orders import STOP_TYPES
from simulators.ibkr.orders import Order
from simulators.ibkr.orders import OrderStatus
from simulators.ibkr.orders import Ticket
from simulators.ibkr.render_orders import live_order
from simulators.ibkr.scheduler import Scheduler
from simulators.ibkr.sessions import OUTSIDE_RTH_ERROR
from simulators.ibkr.sessions import MarketSessions

COID_LIFETIME = 86400.0
_BOOTS: set[int] = set()  # boot parts already used by this process


def new_boot_id() -> int:
    """A 32-bit part of execution ids unused by this process; random, so other processes differ too."""
    while True:
        boot = secrets.randbits(32)
        if boot not in _BOOTS:
            _BOOTS.add(boot)
            return boot


class OrderEvents(Protocol):
    """Receiver of order-book changes (the websocket hub)."""

    def order_changed(self, order: Order, fields: dict[str, Any]) -> None:
        """An order was created (all fields) or changed (changed fields only)."""

    def executed(self, execution: Execution) -> None:
        """An execution happened."""


class Trading:
    """Orders of the simulated account and the rules that move them.

    Args:
        config: Returns the current configuration.
        clock: Time source.
        scheduler: Runs delayed status transitions.
        universe: Instruments.
        market: Live quotes.
        ledger: The account's books, updated on every fill.
        events: Receiver of order changes and executions.
        sessions: Trading hours (which orders may trade now, when ``DAY`` orders end).
    """

    def __init__(
        self,
        config: Callable[[], SimulatorConfig],
        *,
        clock: Clock,
        scheduler: Scheduler,
        universe: Universe,
        market: MarketModel,
        ledger: Ledger,
        events: OrderEvents,
        sessions: MarketSessions,
    ) -> None:
        self._config = config
        self._clock = clock
        self._scheduler = scheduler
        self._universe = universe
        self._market = market
        self.ledger = ledger
        self._events = events
        self.sessions = sessions
        self.orders: dict[int, Order] = {}
        # orders that may still be working, in id order: matching visits these, not every order ever
        # placed (finished ones are dropped from here lazily, as they are met)
        self._open: dict[int, Order] = {}
        # cOID -> (clock-monotonic registration time, order id that registered it)
        self._coids: dict[str, tuple[float, int]] = {}
        self._next_id = 1_210_386_760
        self._exec_seq = 0
        self._boot = new_boot_id()  # never seeded: a restart on the same seed must not repeat ids
        self._oca_seq = 0

    def _now_ms(self) -> int:
        return int(self._clock.now().timestamp() * 1000)

    def _quote(self, order: Order) -> Quote:
        quote = self._market.quote(order.ticket.conid)
        if quote is None:
            raise KeyError(order.ticket.conid)
        return quote

    # -- changes and notifications ---------------------------------------------------------------

    def _render(self, order: Order) -> dict[str, Any]:
        inst = self._universe.get(order.ticket.conid)
        assert inst is not None  # tickets are validated against the universe before submission
        return live_order(order, inst)

    def _change(self, order: Order, mutate: Callable[[], object]) -> None:
        before = self._render(order)
        mutate()
        after = self._render(order)
        delta = {k: v for k, v in after.items() if before.get(k) != v}
        if delta:
            self._events.order_changed(order, delta)

    def _set_status(self, order: Order, status: OrderStatus) -> None:
        def mutate() -> None:
            order.status = status
            order.last_change_ms = self._now_ms()

        self._change(order, mutate)

    # -- a restarted process -----------------------------------------------------------------------

    def restore(self, orders: dict[int, Order], coids: dict[int, set[str]], executions: list[Execution]) -> None:
        """Take over the books an earlier process saved (see :mod:`simulators.ibkr.persistence`).

        Executions are booked again (cash, positions, commissions), ``cOID`` registrations start
        afresh, ids continue after the highest saved, and working orders resume: they reach the
        (simulated) exchange again after ``submit_latency`` and a pending cancel completes.
        """
        for execution in executions:
            self.ledger.book(execution)
            self._exec_seq = max(self._exec_seq, int(execution.execution_id.split(".", 1)[0], 16))
        self.orders.update(orders)
        self._open.update((i, o) for i, o in sorted(orders.items()) if o.working)
        now = self._clock.monotonic()
        for order_id, names in coids.items():
            for coid in names:
                self._coids[coid] = (now, order_id)
        for order in orders.values():
            self._next_id = max(self._next_id, order.order_id + 1)
            if order.oca_group is not None and order.oca_group.startswith("oca-"):
                self._oca_seq = max(self._oca_seq, int(order.oca_group.removeprefix("oca-")))
            if order.working:
                self._resume(order)

    def _resume(self, order: Order) -> None:
        parent = self.orders.get(order.parent_id) if order.parent_id is not None else None
        if order.held and parent is not None and parent.status is OrderStatus.FILLED:
            order.held = False  # the parent filled just before the process died
        order.active = False
        self._after(self._config().submit_latency, partial(self._activate, order))
        if order.status is OrderStatus.PENDING_CANCEL:
            self._after(self._config().cancel_latency, lambda: self._finish_cancel(order))

    # -- client order ids ------------------------------------------------------------------------

    def duplicate_coid(self, tickets: list[Ticket], owner: int | None = None) -> str | None:
        """Return the first ``cOID`` of ``tickets`` already used within 24 hours, if any.

        Args:
            tickets: The tickets of one request.
            owner: Order id whose own registrations do not count (a modify keeping or reusing its ``cOID``).
        """
        now = self._clock.monotonic()
        seen: set[str] = set()
        for ticket in tickets:
            coid = ticket.client_order_id
            if coid is None:
                continue
            registered = self._coids.get(coid)
            taken = registered is not None and now - registered[0] < COID_LIFETIME and registered[1] != owner
            if coid in seen or taken:
                return coid
            seen.add(coid)
        return None

    # -- submit ----------------------------------------------------------------------------------

    def submit(self, account: str, tickets: list[Ticket], epoch: int) -> list[dict[str, Any]]:
        """Create orders for an accepted request (single, bracket or OCA) and return the ack body."""
        group = self._oca_group(tickets)
        created: list[Order] = []
        parents: dict[str, Order] = {}
        for ticket in tickets:
            order = self._create(account, ticket, epoch)
            parent = parents.get(ticket.parent_client_id or "")
            if parent is not None:
                order.parent_id, order.held = parent.order_id, True
                order.oca_group = f"bracket-{parent.order_id}"
            elif group is not None and ticket.single_group:
                # Only the tickets that carry isSingleGroup form the OCA group, not the whole request.
                order.oca_group = group
            if ticket.client_order_id is not None:
                parents[ticket.client_order_id] = order
                self._coids[ticket.client_order_id] = (self._clock.monotonic(), order.order_id)
            created.append(order)
        # "inactive": a request with an order that may not trade now is accepted, but not working
        inactive = self._config().outside_rth_orders is OutsideRthOrders.INACTIVE and not all(
            o.held or self.sessions.may_trade(o.ticket) for o in created)
        for order in created:
            self._events.order_changed(order, self._render(order))
            if inactive:
                order.status_description = OUTSIDE_RTH_ERROR
                self._set_status(order, OrderStatus.INACTIVE)
                continue
            order.expires_at = self.sessions.day_end(order.ticket)
            self._set_status(order, OrderStatus.PRE_SUBMITTED)
            self._after(self._config().submit_latency, partial(self._activate, order))
        return [
            {"order_id": str(o.order_id), "order_status": str(o.status), "encrypt_message": "1"} for o in created
        ]

    def _oca_group(self, tickets: list[Ticket]) -> str | None:
        if not any(t.single_group for t in tickets):
            return None
        self._oca_seq += 1
        return f"oca-{self._oca_seq}"

    def _create(self, account: str, ticket: Ticket, epoch: int) -> Order:
        now = self._now_ms()
        order = Order(self._next_id, account, ticket, epoch, now, last_change_ms=now)
        self._next_id += 1
        self.orders[order.order_id] = order
        self._open[order.order_id] = order
        return order

    def _after(self, delay: float, job: Callable[[], None]) -> None:
        if delay <= 0:
            job()
        else:
            self._scheduler.call_later(delay, job)

    def _activate(self, order: Order) -> None:
        if not order.working or order.active:
            return
        order.active = True
        if order.stop_price is None:
            order.stop_price = initial_stop(order, self._quote(order))
        cancelling = order.status is OrderStatus.PENDING_CANCEL
        if order.ticket.order_type not in STOP_TYPES and not order.held and not cancelling \
                and self.sessions.may_trade(order.ticket):
            self._set_status(order, OrderStatus.SUBMITTED)
        self._try_fill(order)
        if order.ticket.tif == "IOC" and order.working and not order.held:
            self._set_status(order, OrderStatus.CANCELLED)

    # -- matching --------------------------------------------------------------------------------

    def on_market(self, conids: list[int]) -> None:
        """Try to fill working orders on instruments whose quote changed."""
        moved = set(conids)
        for order in self.working_orders():
            if order.active and order.ticket.conid in moved:
                self._try_fill(order)

    def on_session_change(self) -> None:
        """Apply the session now: expire ``DAY`` orders past their end, hold or release the others."""
        now = self._clock.now()
        for order in list(self.orders.values()):
            if not order.working:
                continue
            if order.expires_at is not None and now >= order.expires_at:
                self._expire(order)
            elif order.active and not order.held:
                self._follow_session(order)

    def _expire(self, order: Order) -> None:
        # the broker cancels a DAY order at its session's end (an unsolicited cancel)
        self._set_status(order, OrderStatus.CANCELLED)
        for child in self.orders.values():
            if child.parent_id == order.order_id and child.working:
                self._set_status(child, OrderStatus.CANCELLED)
        self._cancel_siblings(order)

    def _follow_session(self, order: Order) -> None:
        may_trade = self.sessions.may_trade(order.ticket)
        if order.status is OrderStatus.SUBMITTED and not may_trade:
            self._set_status(order, OrderStatus.PRE_SUBMITTED)  # held until a session it may trade in
        elif order.status is OrderStatus.PRE_SUBMITTED and may_trade:
            if order.ticket.order_type not in STOP_TYPES or order.triggered:
                self._set_status(order, OrderStatus.SUBMITTED)
            self._try_fill(order)

    def working_orders(self) -> list[Order]:
        """Return the orders that can still fill or be cancelled, in id order."""
        finished = [i for i, o in self._open.items() if not o.working]
        for order_id in finished:
            del self._open[order_id]
        return list(self._open.values())

    def _try_fill(self, order: Order) -> None:
        if order.held or not order.working or not order.active or not self.sessions.may_trade(order.ticket):
            return
        quote = self._quote(order)
        if order.ticket.order_type in STOP_TYPES and not order.triggered:
            self._change(order, lambda: update_trail(order, quote))
            if not is_elected(order, quote):
                return
            order.triggered = True
            if order.status is OrderStatus.PRE_SUBMITTED:
                self._set_status(order, OrderStatus.SUBMITTED)
        price = fill_price(order, quote)
        if price is not None:
            self._execute(order, fill_size(order, quote, self._config().partial_fills), price)

    def _execute(self, order: Order, size: Decimal, price: Decimal) -> None:
        config = self._config()
        previous_value = (order.avg_price or Decimal(0)) * order.filled
        filled, value = order.filled + size, previous_value + size * price
        total = order_commission(filled, value, config.commission_per_share, config.commission_minimum,
                                 config.commission_max_pct)
        self._exec_seq += 1
        execution = Execution(
            execution_id=f"{self._boot:08x}.{self._exec_seq:08x}.01.01", order_id=order.order_id,
            conid=order.ticket.conid, side=order.ticket.side, size=size, price=price,
            commission=total - order.commission_charged, time=self._clock.now(),
            order_ref=order.ticket.client_order_id or str(order.order_id), account=order.account,
        )
        self.ledger.book(execution)

        def mutate() -> None:
            order.filled, order.avg_price = filled, (value / filled).quantize(Decimal("0.0001"))
            order.commission_charged = total
            order.last_change_ms = self._now_ms()
            if order.remaining <= 0:
                order.status = OrderStatus.FILLED

        self._change(order, mutate)
        self._events.executed(execution)
        if order.status is OrderStatus.FILLED:
            self._on_filled(order)

    def _on_filled(self, order: Order) -> None:
        for child in self.working_orders():
            if child.parent_id == order.order_id and child.held:
                child.held = False
                self._after(self._config().submit_latency, partial(self._release, child))
        self._cancel_siblings(order)

    def _release(self, child: Order) -> None:
        if not child.working:
            return
        if child.ticket.order_type not in STOP_TYPES and child.status is not OrderStatus.PENDING_CANCEL \
                and self.sessions.may_trade(child.ticket):
            self._set_status(child, OrderStatus.SUBMITTED)
        self._try_fill(child)

    def _cancel_siblings(self, order: Order) -> None:
        if order.oca_group is None:
            return
        for other in self.working_orders():
            if other is not order and other.oca_group == order.oca_group and other.working:
                self._set_status(other, OrderStatus.CANCELLED)

    # -- cancel and modify -----------------------------------------------------------------------

    def cancel(self, order: Order) -> None:
        """Start cancelling a working order: ``PendingCancel`` now, ``Cancelled`` after a delay."""
        self._set_status(order, OrderStatus.PENDING_CANCEL)
        self._after(self._config().cancel_latency, lambda: self._finish_cancel(order))

    def _finish_cancel(self, order: Order) -> None:
        if order.status is not OrderStatus.PENDING_CANCEL:
            return
        self._set_status(order, OrderStatus.CANCELLED)
        for child in self.working_orders():
            if child.parent_id == order.order_id and child.working:
                self._set_status(child, OrderStatus.CANCELLED)
        self._cancel_siblings(order)

    def modify(self, order: Order, ticket: Ticket) -> list[dict[str, Any]]:
        """Replace a working order's ticket (same order id) and return the ack body."""
        coid = order.ticket.client_order_id if ticket.client_order_id is None else ticket.client_order_id
        if coid is not None and coid != order.ticket.client_order_id:
            self._coids[coid] = (self._clock.monotonic(), order.order_id)

        def mutate() -> None:
            order.ticket = Ticket(**{**ticket.__dict__, "client_order_id": coid})
            if order.ticket.tif != "DAY":
                order.expires_at = None
            elif order.expires_at is None:
                order.expires_at = self.sessions.day_end(order.ticket)
            order.triggered = False
            order.stop_price = initial_stop(order, self._quote(order)) if order.active else None
            order.last_change_ms = self._now_ms()

        self._change(order, mutate)
        self._after(self._config().submit_latency, lambda: self._try_fill(order))
        return [{"order_id": str(order.order_id), "order_status": str(order.status), "encrypt_message": "1"}]
