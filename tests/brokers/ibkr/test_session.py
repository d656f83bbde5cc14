"""Session manager: recovery paths driven by tick() on a simulated clock."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta

import pytest
import requests

from brokers.ibkr.errors import IbkrAuthError
from brokers.ibkr.errors import IbkrSessionError
from brokers.ibkr.ratelimit import RateLimiter
from brokers.ibkr.rest import IbkrRestClient
from brokers.ibkr.session import SessionChange
from brokers.ibkr.session import SessionManager
from brokers.ibkr.session import SessionState
from brokers.ibkr.session import redact
from framework.testing import FakeClock
from tests.brokers.ibkr.fakes import FakeAdapter
from tests.brokers.ibkr.fakes import Reply
from tests.brokers.ibkr.fakes import advancing_sleep
from tests.brokers.ibkr.fakes import fake_session
from tests.brokers.ibkr.fakes import fixture
from tests.brokers.ibkr.fakes import gateway_routes
from tests.brokers.ibkr.fakes import make_config


class Manager:
    def __init__(self, clock: FakeClock, adapter: FakeAdapter, http: requests.Session) -> None:
        config = make_config(tickle_interval=55, reconnect_initial=1, reconnect_max=8, reauth_timeout=5)
        limiter = RateLimiter(clock, global_rate=8, max_wait=6, sleep=advancing_sleep(clock))
        self.clock = clock
        self.adapter = adapter
        self.rest = IbkrRestClient(config, http, limiter, advancing_sleep(clock))
        self.session = SessionManager(config, self.rest, clock, rng=random.Random(2))
        self.returned: list[SessionChange] = []

    @property
    def changes(self) -> list[tuple[SessionState, str]]:
        return [(c.state, c.reason) for c in self.returned]

    @property
    def ready(self) -> int:
        return sum(c.recovered for c in self.returned)

    def run(self, seconds: float, step: float = 0.5) -> None:
        end = self.clock.monotonic() + seconds
        while self.clock.monotonic() < end:
            self.clock.advance(timedelta(seconds=step))
            self.returned += self.session.tick(self.clock.monotonic())


@pytest.fixture
def manager(clock: FakeClock) -> Iterator[Manager]:
    adapter = FakeAdapter()
    gateway_routes(adapter)
    with fake_session(adapter) as http:
        yield Manager(clock, adapter, http)


def test_start_reauthenticates_a_timed_out_session_then_primes(manager: Manager) -> None:
    manager.adapter.on("POST", "/iserver/auth/status", Reply(200, fixture("http_post_iserver_auth_status_timed_out")),
                       Reply(200, fixture("http_post_iserver_auth_status_timed_out")),
                       Reply(200, fixture("http_post_iserver_auth_status")))
    manager.adapter.ok("POST", "/iserver/reauthenticate", "http_post_iserver_reauthenticate")
    assert manager.session.start() == "DU1234567"
    assert manager.adapter.paths()[:5] == ["/tickle", "/iserver/auth/status", "/iserver/reauthenticate",
                                           "/iserver/auth/status", "/iserver/auth/status"]
    assert manager.session.state is SessionState.READY


def test_r08_start_gives_up_when_reauthentication_never_completes(manager: Manager) -> None:
    """R08 (session expiry): detected, 0 order POSTs while not ready, re-authentication bounded, recovery and
    reconciliation when the session returns. Partial versus the criterion: see docs/reliability.md."""
    manager.adapter.ok("POST", "/iserver/auth/status", "http_post_iserver_auth_status_timed_out")
    manager.adapter.ok("POST", "/iserver/reauthenticate", "http_post_iserver_reauthenticate")
    with pytest.raises(IbkrSessionError) as caught:
        manager.session.start()
    assert caught.value.reason == "reauth_timeout"


def test_a_new_session_id_means_a_restarted_gateway(manager: Manager) -> None:
    manager.session.start()
    restarted = fixture("http_post_tickle") | {"session": "0" * 32}
    manager.adapter.on("POST", "/tickle", Reply(200, restarted))
    manager.run(60)
    assert [s for s, _ in manager.changes] == [SessionState.READY, SessionState.DEGRADED, SessionState.READY]
    assert manager.changes[1][1] == "gateway restarted"
    assert manager.ready == 1
    assert manager.session.session_id == "0" * 32


def test_an_unreachable_gateway_disconnects_and_backs_off(manager: Manager) -> None:
    manager.session.start()
    manager.adapter.on("POST", "/tickle", Reply(raises=requests.ConnectionError("NewConnectionError refused")))
    manager.run(56)
    assert manager.session.state is SessionState.DISCONNECTED
    before = len(manager.adapter.paths())
    manager.run(30)
    attempts = len(manager.adapter.paths()) - before
    assert 3 <= attempts <= 8  # 1, 2, 4, 8, 8 ... s (with jitter), not every tick
    manager.adapter.ok("POST", "/tickle", "http_post_tickle")
    manager.run(10)
    assert manager.session.state is SessionState.READY
    assert manager.ready == 1


def test_r09_a_competing_session_is_not_taken_over(manager: Manager) -> None:
    """R09 (competing session): trading halted, an alert, no take-over (no compete=true re-init). Partial versus the
    criterion: see docs/reliability.md."""
    manager.session.start()
    competing = fixture("http_post_iserver_auth_status") | {"competing": True, "authenticated": False}
    manager.adapter.on("POST", "/iserver/auth/status", Reply(200, competing))
    manager.session.report_failure("sts competing")
    manager.run(20)
    assert manager.session.state is SessionState.DEGRADED
    assert "/iserver/reauthenticate" not in manager.adapter.paths()
    assert "/iserver/auth/ssodh/init" not in manager.adapter.paths()


def test_session_ids_are_redacted_for_logs() -> None:
    assert redact("ce109cbeb462a76dc3f6f4182c830cc1") == "ce10…"
    assert redact(None) == "none"


def test_changes_are_returned_once_and_a_recovery_is_marked(manager: Manager) -> None:
    manager.session.start()
    assert manager.session.take_changes() == [SessionChange(SessionState.READY, "session ready")]
    assert manager.session.take_changes() == []
    manager.session.report_failure("sts competing")
    manager.run(1)
    assert manager.returned == [SessionChange(SessionState.DEGRADED, "sts competing"),
                                SessionChange(SessionState.READY, "session recovered", recovered=True)]


def test_a_lost_session_recorded_by_the_rest_client_degrades_as_soon_as_the_state_is_read(manager: Manager) -> None:
    manager.session.start()
    manager.session.take_changes()
    manager.adapter.on("GET", "/iserver/account/orders", Reply(401, None))
    with pytest.raises(IbkrAuthError):
        manager.rest.live_orders()
    assert manager.rest.session_losses()[0] == 1
    assert manager.session.state is SessionState.DEGRADED  # no tick needed: an order would be refused now
    [change] = manager.session.take_changes()
    assert change.state is SessionState.DEGRADED
    assert change.reason == "session lost (GET /iserver/account/orders answered 401: scripted)"


def test_losses_recorded_before_the_session_was_ready_are_old_news(manager: Manager) -> None:
    manager.adapter.on("GET", "/iserver/account/orders", Reply(401, None))
    with pytest.raises(IbkrAuthError):
        manager.rest.live_orders()  # while disconnected
    manager.adapter.on("POST", "/tickle", Reply(401, None))
    with pytest.raises(IbkrAuthError):
        manager.rest.tickle()  # the keep-alive judges its own answers: never recorded
    manager.adapter.ok("POST", "/tickle", "http_post_tickle")
    manager.session.start()
    assert manager.rest.session_losses()[0] == 1
    assert manager.session.state is SessionState.READY
