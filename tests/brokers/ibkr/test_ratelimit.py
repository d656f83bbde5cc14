"""Pacing: global budget, per-endpoint spacing, 429 back-off, history concurrency."""

from __future__ import annotations

from datetime import timedelta

import pytest

from brokers.ibkr.errors import IbkrRateLimitError
from brokers.ibkr.ratelimit import HISTORY_MAX_CONCURRENT
from brokers.ibkr.ratelimit import RateLimiter
from framework.testing import FakeClock


def limiter(clock: FakeClock, waits: list[float], max_wait: float = 6.0) -> RateLimiter:
    def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.advance(timedelta(seconds=seconds))

    return RateLimiter(clock, global_rate=8, max_wait=max_wait, sleep=sleep)


def test_two_pass_back_to_back_then_requests_are_spaced(clock: FakeClock) -> None:
    waits: list[float] = []
    pacing = limiter(clock, waits)
    for _ in range(10):
        pacing.acquire("GET", "/iserver/accounts")
    assert waits == pytest.approx([0.125] * 8)


def test_r05_no_one_second_window_holds_more_than_ten_requests(clock: FakeClock) -> None:
    """R05 (pacing compliance): no violation of the global request budget or of the per-endpoint limits
    (orders/trades/portfolio spacing, at most 5 concurrent history requests). Partial versus the criterion: see
    docs/reliability.md."""
    pacing = limiter(clock, [])
    sent = []
    for _ in range(100):
        pacing.acquire("GET", "/iserver/accounts")
        sent.append(clock.monotonic())
    assert max(sum(1 for t in sent if start <= t < start + 1.0) for start in sent) <= 10


def test_r05_endpoint_spacing_of_five_seconds_for_live_orders(clock: FakeClock) -> None:
    """R05 (pacing compliance): no violation of the global request budget or of the per-endpoint limits
    (orders/trades/portfolio spacing, at most 5 concurrent history requests). Partial versus the criterion: see
    docs/reliability.md."""
    waits: list[float] = []
    pacing = limiter(clock, waits)
    pacing.acquire("GET", "/iserver/account/orders")
    pacing.acquire("GET", "/iserver/account/orders")
    assert waits == pytest.approx([5.5])  # 5 s plus the jitter margin


def test_a_spaced_lookup_does_not_hold_an_order_back(clock: FakeClock) -> None:
    """Threads: a lookup sleeping out its 5 s interval must not take the global slot ahead of an order."""
    waits: list[float] = []
    pacing = RateLimiter(clock, global_rate=8, max_wait=6.0, sleep=waits.append)  # the clock stands still
    pacing.acquire("GET", "/iserver/account/orders")
    pacing.acquire("GET", "/iserver/account/orders")  # this caller sleeps 5.5 s (on its own thread)
    pacing.acquire("POST", "/iserver/account/DU1/orders")  # meanwhile an order goes out
    assert waits == pytest.approx([5.5, 0.125])


def test_a_wait_beyond_the_limit_is_refused_without_sending(clock: FakeClock) -> None:
    pacing = limiter(clock, [], max_wait=1.0)
    pacing.acquire("GET", "/iserver/account/trades")
    with pytest.raises(IbkrRateLimitError) as caught:
        pacing.acquire("GET", "/iserver/account/trades")
    assert caught.value.status_code == 0
    assert caught.value.retry_after == pytest.approx(5.5)


def test_after_a_penalty_everything_is_refused_until_it_passes(clock: FakeClock) -> None:
    pacing = limiter(clock, [])
    pacing.penalize(60)
    with pytest.raises(IbkrRateLimitError):
        pacing.acquire("POST", "/tickle")
    assert pacing.blocked_for == pytest.approx(60)
    clock.advance(timedelta(seconds=60))
    pacing.acquire("POST", "/tickle")
    assert pacing.penalties == 1


def test_r05_history_requests_are_capped(clock: FakeClock) -> None:
    """R05 (pacing compliance): no violation of the global request budget or of the per-endpoint limits
    (orders/trades/portfolio spacing, at most 5 concurrent history requests). Partial versus the criterion: see
    docs/reliability.md."""
    pacing = limiter(clock, [])
    slots = [pacing.history_slot() for _ in range(HISTORY_MAX_CONCURRENT)]
    for slot in slots:
        slot.__enter__()
    with pytest.raises(IbkrRateLimitError), pacing.history_slot():
        pass
    slots[0].__exit__(None, None, None)
    with pacing.history_slot():
        pass
