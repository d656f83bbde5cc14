"""The in-process event bus, over a private blinker namespace.

blinker's three sharp edges are decided here on purpose:

* **References are strong.** Handlers are connected with ``weak=False``; a lambda or bound method
  stays subscribed until its :class:`Subscription` is cancelled.
* **One failing handler never starves the others.** :meth:`EventBus.publish` calls each handler in
  its own ``try``. A handler subscribed with an ``owner`` (a strategy's hooks) is reported to the
  owner's supervisor (:meth:`EventBus.supervise`), which logs it once and applies the strategy's
  error policy (see :mod:`framework.supervision`); any other failure is logged once, with its
  traceback, and published as :class:`~framework.events.HandlerFailed`. With ``raise_errors=True``
  (tests) the exception propagates instead. A failure may unsubscribe handlers (a strategy that is
  stopped): the event then reaches only the handlers still subscribed.
* **Delivery order between handlers is not defined.** Code that needs an order (portfolio before
  strategies) does the first step itself before publishing (see :mod:`framework.engine`).

Routing uses blinker's *sender*: a handler subscribed with ``sender="AAPL"`` hears only events
published with that sender, one subscribed with :data:`ANY` hears everything of its type.

Threading: ``publish`` runs handlers on the caller's thread. The engine calls it from its single
dispatcher thread only; brokers never publish directly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from typing import TypeVar

from blinker import ANY
from blinker import Namespace
from blinker import Signal

from framework.clock import Clock
from framework.clock import SystemClock
from framework.events import HandlerFailed

__all__ = ["ANY", "EventBus", "FailureHandler", "Handler", "Subscription"]

log = logging.getLogger(__name__)

E = TypeVar("E")
Handler = Callable[[Any], None]
"""A callable taking one event."""

FailureHandler = Callable[[str, str, Any, Exception], None]
"""Told ``(owner, hook, event, error)`` when a handler with an owner raises (see :meth:`EventBus.supervise`)."""


class _Receiver:
    # Wrapping the handler gives every subscription its own identity in blinker, so one function
    # may subscribe twice. publish() calls the handlers it cached; __call__ only serves blinker's
    # own send(), which this bus never uses. owner and hook name whose handler it is, for a failure.
    __slots__ = ("handler", "hook", "owner")

    def __init__(self, handler: Handler, owner: str | None, hook: str | None) -> None:
        self.handler = handler
        self.owner = owner
        self.hook = hook

    def __call__(self, sender: Any, **kwargs: Any) -> None:
        self.handler(kwargs.get("event", sender))


class Subscription:
    """Handle of one subscription; cancel it to unsubscribe (also usable as a context manager)."""

    def __init__(self, bus: EventBus, signal: Signal, receiver: _Receiver, sender: Any) -> None:
        self._bus = bus
        self._signal = signal
        self._receiver = receiver
        self.sender = sender
        self.active = True

    def cancel(self) -> None:
        """Unsubscribe; calling it again does nothing."""
        if self.active:
            self.active = False
            # Disconnect from every sender: blinker keeps a receiver in `receivers` after a
            # per-sender disconnect. Each _Receiver belongs to one subscription, so this is exact.
            self._signal.disconnect(self._receiver)
            self._bus._invalidate()  # the bus owns the routing cache

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()


class EventBus:
    """Typed publish/subscribe with one blinker signal per event class.

    Args:
        raise_errors: Re-raise handler exceptions (for tests) instead of isolating them.
        clock: Timestamps :class:`HandlerFailed` events; defaults to the system clock.

    Events:
        HandlerFailed: published when a handler raises and ``raise_errors`` is false.
    """

    def __init__(self, *, raise_errors: bool = False, clock: Clock | None = None) -> None:
        self._namespace = Namespace()
        self._raise_errors = raise_errors
        self._clock = clock or SystemClock()
        self._routes: dict[tuple[type, Any], tuple[Handler, ...]] = {}  # (event type, sender) -> handlers
        self._supervisor: FailureHandler | None = None
        self.failures = 0

    def supervise(self, handler: FailureHandler) -> None:
        """Report failures of handlers subscribed with an ``owner`` to ``handler`` instead of logging them.

        ``handler(owner, hook, event, error)`` runs on the publishing thread, inside :meth:`publish`;
        it owns the one log record of the failure. Without a supervisor, such failures are reported
        like any other (logged, :class:`HandlerFailed`).
        """
        self._supervisor = handler

    def _signal(self, event_type: type) -> Signal:
        return self._namespace.signal(f"{event_type.__module__}.{event_type.__qualname__}")

    def _invalidate(self) -> None:
        self._routes.clear()

    def subscribe(self, event_type: type[E], handler: Callable[[E], None], *, sender: Any = ANY,
                  owner: str | None = None, hook: str | None = None) -> Subscription:
        """Call ``handler(event)`` for every ``event_type`` published with ``sender`` (or any sender).

        Args:
            event_type: The exact event class.
            handler: Called with each event.
            sender: Only events published with this sender (default: every sender).
            owner: Who the handler belongs to (a strategy id): its failures go to the supervisor.
            hook: What the owner calls the handler (``on_bar``); default the handler's name.

        Returns:
            The subscription; call :meth:`Subscription.cancel` to stop receiving.
        """
        signal = self._signal(event_type)
        receiver = _Receiver(handler, owner, hook)
        signal.connect(receiver, sender=sender, weak=False)
        self._invalidate()
        return Subscription(self, signal, receiver, sender)

    @contextmanager
    def subscribed(
        self, event_type: type[E], handler: Callable[[E], None], *, sender: Any = ANY
    ) -> Iterator[Subscription]:
        """Subscribe for the duration of a ``with`` block."""
        sub = self.subscribe(event_type, handler, sender=sender)
        try:
            yield sub
        finally:
            sub.cancel()

    def publish(self, event: Any, sender: Any = ANY) -> int:
        """Deliver ``event`` to the handlers of its exact type for ``sender``.

        Returns:
            How many handlers were called.
        """
        key = (type(event), sender)
        handlers = self._routes.get(key)
        if handlers is None:
            handlers = self._route(key)
        remaining = iter(handlers)
        for handler in remaining:
            try:
                handler(event)
            except Exception as e:  # the documented isolation point: one handler must not stop others
                if self._raise_errors:
                    raise
                self._report(handler, event, sender, e)
                self._deliver_rest(remaining, event, key)
                break
        return len(handlers)

    def _deliver_rest(self, remaining: Iterator[Handler], event: Any, key: tuple[type, Any]) -> None:
        # After a failure (the slow path): the failure may have unsubscribed handlers, a stopped
        # strategy's, so each remaining one is called only if it is still routed.
        for handler in remaining:
            routed = self._routes.get(key)
            if routed is None:
                routed = self._route(key)
            if not any(h is handler for h in routed):
                continue
            try:
                handler(event)
            except Exception as e:
                if self._raise_errors:
                    raise
                self._report(handler, event, key[1], e)

    def wants(self, event_type: type, sender: Any = ANY) -> bool:
        """Whether publishing an ``event_type`` with ``sender`` would reach any handler.

        Lets a publisher skip building an event nobody listens to.
        """
        key = (event_type, sender)
        handlers = self._routes.get(key)
        if handlers is None:
            handlers = self._route(key)
        return bool(handlers)

    def _route(self, key: tuple[type, Any]) -> tuple[Handler, ...]:
        event_type, sender = key
        signal = self._signal(event_type)
        # receivers_for also yields the ANY-sender receivers; the cache holds the handlers themselves
        handlers = tuple(r.handler for r in signal.receivers_for(sender) if isinstance(r, _Receiver))
        self._routes[key] = handlers
        return handlers

    def _report(self, handler: Handler, event: Any, sender: Any, error: Exception) -> None:
        self.failures += 1
        receiver = self._receiver_of(handler, type(event), sender)
        supervisor = self._supervisor
        if receiver is not None and receiver.owner is not None and supervisor is not None:
            hook = receiver.hook or str(getattr(handler, "__name__", repr(handler)))
            try:
                supervisor(receiver.owner, hook, event, error)
            except Exception as e:  # the supervisor must not take the publisher down with it
                log.exception("supervising the failure of %s in %s failed: %r", receiver.owner, hook, e)
            return
        name = getattr(handler, "__qualname__", repr(handler))
        # the one record of this failure: the event log and the console do not repeat it
        log.error("handler %s failed on %s: %r", name, type(event).__name__, error, exc_info=error)
        if isinstance(event, HandlerFailed):
            return  # a broken failure handler must not loop
        failed = HandlerFailed(
            ts=self._clock.now(), handler=name, event=event, error=str(error), error_type=type(error).__name__
        )
        self.publish(failed)

    def _receiver_of(self, handler: Handler, event_type: type, sender: Any) -> _Receiver | None:
        for receiver in self._signal(event_type).receivers_for(sender):
            if isinstance(receiver, _Receiver) and receiver.handler is handler:
                return receiver
        return None

    def receiver_count(self, event_type: type) -> int:
        """Number of live subscriptions for ``event_type`` (all senders)."""
        return len(self._signal(event_type).receivers)
