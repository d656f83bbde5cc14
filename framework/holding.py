"""Order commands held while the broker cannot take them: the degraded-order policy at work.

A broker cannot take orders while it is not connected (a websocket blip, a re-authentication, a
rate-limit penalty, a restarted gateway) or while its reports are not trusted. The
:class:`~framework.order_gateway.OrderGateway` then asks :class:`CommandHold` what to do with each
command, under the owning strategy's :class:`~framework.config.DegradedPolicy`:

* :meth:`CommandHold.admits`: whether the policy holds it (orders that only reduce a position and
  cancels by default) or refuses it (orders that open or grow a position by default);
* :meth:`CommandHold.hold`: keep it, announce ``OrderHeld`` to the owning strategy, and check back
  every :data:`RECHECK_EVERY` on the engine clock;
* :meth:`CommandHold.take_due` / :meth:`CommandHold.take_all`: hand back the commands whose time is
  up (the gateway refuses them, naming how long the broker was unavailable) or all of them once the
  broker can take them again (the gateway judges each once more and sends it).

One entry per order, its latest intent, in the order first held: a modification of a held
placement changes the placement (``OrderUpdated``); a cancel of a held placement ends the order
here (``OrderCancelled``, it was never sent); a cancel replaces a held modification. An entry keeps
the time it was first held, so a command given back again by the broker does not wait longer.

Threads: the dispatcher, except :meth:`CommandHold.take_placements` (the kill switch, from any
thread); a lock makes each step atomic.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from decimal import Decimal
from typing import TypeAlias

from framework.broker import EventSink
from framework.bus import EventBus
from framework.checks import TradingState
from framework.clock import Clock
from framework.commands import CancelOrder
from framework.commands import ModifyOrder
from framework.commands import SubmitOrder
from framework.config import DegradedPolicy
from framework.events import CommandKind
from framework.events import OrderCancelled
from framework.events import OrderCancelRejected
from framework.events import OrderHeld
from framework.events import OrderUpdated
from framework.events import TimerFired
from framework.models import OrderRequest
from framework.models import Side
from framework.timers import Timers

log = logging.getLogger(__name__)

HeldCommand: TypeAlias = SubmitOrder | ModifyOrder | CancelOrder
"""A command that may wait for the broker (a cancel-all never does)."""

OWNER = "order-gateway"
"""Owner of the hold's timer (and sender of its ``TimerFired``)."""

RECHECK_EVERY = timedelta(seconds=1)
"""How often, while anything is held, the hold looks for commands due and for a broker back in service."""


@dataclass(slots=True)
class Held:
    """One order's command waiting for the broker.

    Attributes:
        command: What will be sent.
        strategy_id: The owning strategy.
        since: When the order's first command was held.
        until: When it is refused if still held.
        reason: Why the broker could not take it (when it was last held).
    """

    command: HeldCommand
    strategy_id: str
    since: datetime
    until: datetime
    reason: str


def kind_of(command: HeldCommand) -> CommandKind:
    """``submit``, ``modify`` or ``cancel``."""
    if isinstance(command, SubmitOrder):
        return "submit"
    if isinstance(command, ModifyOrder):
        return "modify"
    return "cancel"


def reduces_exposure(request: OrderRequest, state: TradingState) -> bool:
    """Whether ``request`` can only bring its symbol's position closer to flat.

    True for a buy against a short or a sell against a long whose quantity, with what the other
    open orders on the same side of the same symbol may still fill, is at most the position.
    """
    position = state.portfolio.quantity(request.symbol)
    if not position or (position > 0) == (request.side is Side.BUY):
        return False
    committed = sum(
        (o.remaining_quantity for o in state.orders.open()
         if o.request.symbol == request.symbol and o.request.side is request.side
         and o.client_order_id != request.client_order_id),
        Decimal(0),
    )
    return committed + request.quantity <= abs(position)


class CommandHold:
    """The order commands waiting for the broker, and the policy that decides which may wait.

    Args:
        enqueue: The dispatcher's queue, for the events the hold makes.
        clock: The engine clock.
        timers: For the periodic check while anything is held.
        bus: Delivers the hold's timer.
        policy: The policy of strategies without one of their own.
        on_check: Called by the periodic check (the gateway releases and expires commands there).
    """

    def __init__(self, enqueue: EventSink, clock: Clock, timers: Timers, bus: EventBus, *,
                 policy: DegradedPolicy, on_check: Callable[[], None]) -> None:
        self._enqueue = enqueue
        self._clock = clock
        self._timers = timers
        self._default = policy
        self._policies: dict[str, DegradedPolicy] = {}
        self._entries: dict[str, Held] = {}
        self._lock = threading.Lock()
        self._on_check = on_check
        bus.subscribe(TimerFired, self._on_timer, sender=OWNER)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, client_order_id: object) -> bool:
        return client_order_id in self._entries

    # ----------------------------------------------------------------- policy

    def set_policy(self, strategy_id: str, policy: DegradedPolicy) -> None:
        """Use ``policy`` for ``strategy_id``'s orders."""
        self._policies[strategy_id] = policy

    def policy(self, strategy_id: str) -> DegradedPolicy:
        """The policy that applies to ``strategy_id``'s orders."""
        return self._policies.get(strategy_id, self._default)

    def admits(self, command: HeldCommand, strategy_id: str, state: TradingState) -> bool:
        """Whether the policy holds ``command`` (rather than refusing it) while the broker cannot take it."""
        policy = self.policy(strategy_id)
        if isinstance(command, CancelOrder):
            return policy.cancels == "hold"
        choice = policy.reducing if reduces_exposure(command.request, state) else policy.new_exposure
        return choice == "hold"

    def refusal(self, command: HeldCommand, strategy_id: str, state: TradingState) -> str:
        """Why the policy does not hold ``command``: ends the reason of its refusal."""
        if isinstance(command, CancelOrder):
            return "cancels are not held (degraded-order policy)"
        if reduces_exposure(command.request, state):
            return "orders that reduce a position are not held (degraded-order policy)"
        return "new exposure is not held while the broker cannot take orders (degraded-order policy)"

    # ----------------------------------------------------------------- holding

    def hold(self, command: HeldCommand, strategy_id: str, reason: str) -> None:
        """Keep ``command`` until the broker can take it, merged with the order's held command if any."""
        now = self._clock.now()
        cid = command.client_order_id
        with self._lock:
            held = self._entries.get(cid)
            if held is not None and isinstance(held.command, SubmitOrder):
                self._merge_into_placement(held, command, now)
                return
            if held is not None and isinstance(held.command, CancelOrder) and not isinstance(command, CancelOrder):
                self._enqueue(OrderCancelRejected(ts=now, client_order_id=cid,
                                                  reason="modification refused: a cancel of this order is waiting"))
                return
            since = held.since if held is not None else now
            until = since + self.policy(strategy_id).hold_for
            self._entries[cid] = Held(command, strategy_id, since, until, reason)
            self._ensure_timer(now)
        log.warning("order %s: %s held until %s: %s", cid, kind_of(command), until.isoformat(), reason)
        self._enqueue(OrderHeld(ts=now, client_order_id=cid, command=kind_of(command), reason=reason, until=until))

    def _merge_into_placement(self, held: Held, command: HeldCommand, now: datetime) -> None:
        # the caller holds the lock; the placement was never sent, so the order changes here
        cid = command.client_order_id
        if isinstance(command, ModifyOrder):
            held.command = SubmitOrder(command.request)
            self._enqueue(OrderUpdated(ts=now, client_order_id=cid, request=command.request))
        elif isinstance(command, CancelOrder):
            del self._entries[cid]
            log.info("order %s cancelled before it was sent (it was held)", cid)
            self._enqueue(OrderCancelled(ts=now, client_order_id=cid,
                                         reason=f"cancelled before it was sent (held: {held.reason})"))
        # another placement of a held placement cannot happen: client order ids are unique

    def take_due(self, now: datetime) -> list[Held]:
        """Remove and return the commands whose time is up, in the order they were held."""
        with self._lock:
            due = [h for h in self._entries.values() if h.until <= now]
            for held in due:
                del self._entries[held.command.client_order_id]
        return due

    def take_all(self) -> list[Held]:
        """Remove and return every held command, in the order they were held."""
        with self._lock:
            taken = list(self._entries.values())
            self._entries.clear()
        return taken

    def take_placements(self) -> list[Held]:
        """Remove and return the held placements and modifications (the kill switch; any thread)."""
        with self._lock:
            taken = [h for h in self._entries.values() if not isinstance(h.command, CancelOrder)]
            for held in taken:
                del self._entries[held.command.client_order_id]
        return taken

    # ----------------------------------------------------------------- the periodic check

    # The timer is scheduled and cancelled on the dispatcher only (the timer queue is not
    # thread-safe): the kill switch's take_placements leaves it to stop itself at its next firing.

    def _ensure_timer(self, now: datetime) -> None:
        if (OWNER, "check") not in self._timers.scheduled:
            self._timers.schedule(OWNER, "check", now + RECHECK_EVERY, RECHECK_EVERY)

    def _on_timer(self, event: TimerFired) -> None:
        self._on_check()
        if not self._entries:
            self._timers.cancel(OWNER, "check")

