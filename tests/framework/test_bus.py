"""The event bus: strong references, sender routing, error isolation, explicit unsubscribe."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from framework.bus import EventBus
from framework.events import BrokerConnected
from framework.events import BrokerDisconnected
from framework.events import HandlerFailed
from framework.events import QuoteUpdated
from framework.marketdata import Quote
from framework.testing import DEFAULT_START
from framework.testing import FakeClock

T0 = DEFAULT_START


def quote_event(symbol: str) -> QuoteUpdated:
    return QuoteUpdated(T0, Quote(symbol, T0, bid=1.0, ask=1.1))


def test_lambda_handler_survives_garbage_collection() -> None:
    bus = EventBus(raise_errors=True)
    seen: list[Any] = []
    bus.subscribe(BrokerConnected, lambda e: seen.append(e))  # noqa: PLW0108 - a lambda is the point
    gc.collect()
    bus.publish(BrokerConnected(ts=T0, broker="x"))
    assert len(seen) == 1


def test_sender_routing_delivers_only_the_subscribed_instrument() -> None:
    bus = EventBus(raise_errors=True)
    aapl: list[str] = []
    everything: list[str] = []
    bus.subscribe(QuoteUpdated, lambda e: aapl.append(e.quote.symbol), sender="AAPL")
    bus.subscribe(QuoteUpdated, lambda e: everything.append(e.quote.symbol))
    for symbol in ("AAPL", "MSFT", "AAPL"):
        bus.publish(quote_event(symbol), symbol)
    assert aapl == ["AAPL", "AAPL"]
    assert everything == ["AAPL", "MSFT", "AAPL"]


def test_event_types_are_separate_signals() -> None:
    bus = EventBus(raise_errors=True)
    seen: list[Any] = []
    bus.subscribe(BrokerConnected, seen.append)
    assert bus.publish(BrokerDisconnected(ts=T0, broker="x")) == 0
    assert seen == []


def test_failing_handler_is_reported_and_does_not_starve_others() -> None:
    bus = EventBus(raise_errors=False, clock=FakeClock())
    delivered: list[Any] = []
    failures: list[HandlerFailed] = []

    def broken(event: Any) -> None:
        raise RuntimeError("boom")

    bus.subscribe(BrokerConnected, broken)
    bus.subscribe(BrokerConnected, delivered.append)
    bus.subscribe(HandlerFailed, failures.append)
    event = BrokerConnected(ts=T0, broker="x")
    assert bus.publish(event) == 2
    assert delivered == [event]
    assert len(failures) == 1
    assert failures[0].error == "boom"
    assert failures[0].error_type == "RuntimeError"
    assert failures[0].event is event
    assert "broken" in failures[0].handler
    assert bus.failures == 1


def test_broken_failure_handler_does_not_loop() -> None:
    bus = EventBus(raise_errors=False, clock=FakeClock())

    def broken(event: Any) -> None:
        raise ValueError("again")

    bus.subscribe(BrokerConnected, broken)
    bus.subscribe(HandlerFailed, broken)
    bus.publish(BrokerConnected(ts=T0, broker="x"))
    assert bus.failures == 2


def test_raise_errors_mode_propagates() -> None:
    bus = EventBus(raise_errors=True)

    def broken(event: Any) -> None:
        raise KeyError("loud")

    bus.subscribe(BrokerConnected, broken)
    with pytest.raises(KeyError, match="loud"):
        bus.publish(BrokerConnected(ts=T0, broker="x"))


def test_unsubscribe_stops_delivery_and_is_idempotent() -> None:
    bus = EventBus(raise_errors=True)
    seen: list[Any] = []
    sub = bus.subscribe(BrokerConnected, seen.append)
    bus.publish(BrokerConnected(ts=T0, broker="x"))
    sub.cancel()
    sub.cancel()
    bus.publish(BrokerConnected(ts=T0, broker="x"))
    assert len(seen) == 1
    assert bus.receiver_count(BrokerConnected) == 0


def test_same_function_may_subscribe_twice_and_unsubscribe_once() -> None:
    bus = EventBus(raise_errors=True)
    seen: list[Any] = []
    first = bus.subscribe(BrokerConnected, seen.append)
    bus.subscribe(BrokerConnected, seen.append)
    bus.publish(BrokerConnected(ts=T0, broker="x"))
    first.cancel()
    bus.publish(BrokerConnected(ts=T0, broker="x"))
    assert len(seen) == 3


def test_subscribed_context_manager_unsubscribes_on_exit() -> None:
    bus = EventBus(raise_errors=True)
    seen: list[Any] = []
    with bus.subscribed(BrokerConnected, seen.append):
        bus.publish(BrokerConnected(ts=T0, broker="x"))
    bus.publish(BrokerConnected(ts=T0, broker="x"))
    assert len(seen) == 1


def test_routing_cache_sees_subscriptions_added_after_a_publish() -> None:
    bus = EventBus(raise_errors=True)
    seen: list[str] = []
    bus.publish(quote_event("AAPL"), "AAPL")  # warms the route cache with no receivers
    bus.subscribe(QuoteUpdated, lambda e: seen.append("late"), sender="AAPL")
    bus.publish(quote_event("AAPL"), "AAPL")
    assert seen == ["late"]


def test_two_buses_do_not_share_signals() -> None:
    one, two = EventBus(raise_errors=True), EventBus(raise_errors=True)
    seen: list[Any] = []
    one.subscribe(BrokerConnected, seen.append)
    two.publish(BrokerConnected(ts=T0, broker="x"))
    assert seen == []
