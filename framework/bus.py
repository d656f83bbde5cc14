"""The in-process event bus, over a private blinker namespace.

blinker's three sharp edges are decided here on purpose:

* **References are strong.** Handlers are connected with ``weak=False``; a lambda or bound method
  stays subscribed until its :class:`Subscription` is cancelled.
* **One failing handler never starves the others.** :meth:`EventBus.publish` calls each handler in
  its own ``try``; a failure is logged and published as :class:`~framework.events.HandlerFailed`.
  With ``raise_errors=True`` (tests) the exception propagates instead.
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

__all__ = ["ANY", "EventBus", "Handler", "Subscription"]

log = logging.getLogger(__name__)

E = TypeVar("E")
Handler = Callable[[Any], None]
"""A callable taking one event."""


class _Receiver:
    # Wrapping the handler gives every subscription its own identity in blinker, so one function
    # may subscribe twice. publish() calls the handlers it cached; __call__ only serves blinker's
    # own send(), which this bus never uses.
    __slots__ = ("handler",)

    def __init__(self, handler: Handler) -> None:
        self.handler = handler

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
        self.failures = 0

    def _signal(self, event_type: type) -> Signal:
        return self._namespace.signal(f"{event_type.__module__}.{event_type.__qualname__}")

    def _invalidate(self) -> None:
        self._routes.clear()

    def subscribe(self, event_type: type[E], handler: Callable[[E], None], *, sender: Any = ANY) -> Subscription:
        """Call ``handler(event)`` for every ``event_type`` published with ``sender`` (or any sender).

        Returns:
            The subscription; call :meth:`Subscription.cancel` to stop receiving.
        """
        signal = self._signal(event_type)
        receiver = _Receiver(handler)
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
        for handler in handlers:
            try:
                handler(event)
            except Exception as e:  # the documented isolation point: one handler must not stop others
                if self._raise_errors:
                    raise
                self._report(handler, event, e)
        return len(handlers)

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

    def _report(self, handler: Handler, event: Any, error: Exception) -> None:
        self.failures += 1
        name = getattr(handler, "__qualname__", repr(handler))
        log.error("handler %s failed on %s: %r", name, type(event).__name__, error, exc_info=error)
        if isinstance(event, HandlerFailed):
            return  # a broken failure handler must not loop
        failed = HandlerFailed(
            ts=self._clock.now(), handler=name, event=event, error=str(error), error_type=type(error).__name__
        )
        self.publish(failed)

    def receiver_count(self, event_type: type) -> int:
        """Number of live subscriptions for ``event_type`` (all senders)."""
        return len(self._signal(event_type).receivers)
