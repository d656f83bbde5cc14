"""The two-tier gateway session: SSO (outer) and brokerage (``/iserver``) state.

States (spec section 12, item 2): ``logged_out`` (every ``/v1/api`` call is 401), ``sso_only``
(portfolio works, ``/iserver`` says "no bridge"), ``authenticated``, ``competing`` (another platform
took the brokerage session) and ``expired`` (idle timeout or nightly reset: connected but not
authenticated). Entering ``authenticated`` from any other state opens a *new* brokerage session,
which forgets the ``/iserver/accounts`` priming, snapshot streams and suppressed questions.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from framework.clock import Clock
from simulators.ibkr.config import SessionState
from simulators.ibkr.config import SimulatorConfig
from simulators.ibkr.scheduler import Handle
from simulators.ibkr.scheduler import Scheduler

SERVER_INFO = {"serverName": "JifSim0001", "serverVersion": "Build 10.25.0p, Dec 5, 2023 5:48:12 PM"}
MAC = "F4:03:43:CD:BD:C0"


@dataclass
class BrokerageScope:
    """State that lives exactly as long as one brokerage session.

    Attributes:
        epoch: Sequence number of the brokerage session.
        primed: ``/iserver/accounts`` has been called.
        streams: Snapshot streams: conid -> (remembered fields, clock time opened).
        suppressed: Question ids suppressed with ``/iserver/questions/suppress``.
        orders_warm: The live-orders cache has been warmed by a first call.
        sor_silenced: A filtered live-orders call silenced ``sor`` until ``force=true``.
        hmds_ready: ``/hmds/history`` has been called once (the first call is a 404).
    """

    epoch: int
    primed: bool = False
    streams: dict[int, tuple[list[str], float]] = field(default_factory=dict)
    suppressed: set[str] = field(default_factory=set)
    orders_warm: bool = False
    sor_silenced: bool = False
    hmds_ready: bool = False


class Session:
    """Gateway session state machine.

    Args:
        config: Returns the current configuration (it can change at run time).
        clock: Time source for idle expiry and lifetimes.
        scheduler: Runs the delayed re-authentication.
        on_change: Called with ``(old, new)`` after every state change.
    """

    def __init__(
        self,
        config: Callable[[], SimulatorConfig],
        clock: Clock,
        scheduler: Scheduler,
        on_change: Callable[[SessionState, SessionState], None],
    ) -> None:
        self._config = config
        self._clock = clock
        self._scheduler = scheduler
        self._on_change = on_change
        self.state = config().initial_state
        self.session_id = secrets.token_hex(16)
        self.portfolio_primed = False
        self.scope = BrokerageScope(epoch=1)
        self.last_request = clock.monotonic()
        self.sso_started = clock.monotonic()
        self.maintenance_until: float | None = None
        self._pending_reauth: Handle | None = None

    # -- queries -------------------------------------------------------------------------------

    @property
    def authenticated(self) -> bool:
        """Whether the brokerage session is usable."""
        return self.state is SessionState.AUTHENTICATED and not self.in_maintenance

    @property
    def in_maintenance(self) -> bool:
        """Whether a maintenance window (nightly reset) is in progress."""
        return self.maintenance_until is not None and self._clock.monotonic() < self.maintenance_until

    def sso_expires_ms(self) -> int:
        """Milliseconds until the SSO session expires."""
        left = self._config().sso_lifetime - (self._clock.monotonic() - self.sso_started)
        return max(0, int(left * 1000))

    def auth_status(self) -> dict[str, Any]:
        """Return the ``/iserver/auth/status`` body for the current state."""
        state = self.state
        maintenance = self.in_maintenance
        authenticated = self.authenticated
        fail = "" if authenticated or state is not SessionState.LOGGED_OUT else "not authenticated"
        return {
            "authenticated": authenticated,
            "competing": state is SessionState.COMPETING,
            "connected": state is not SessionState.LOGGED_OUT and not maintenance,
            "established": authenticated,
            "message": "Scheduled maintenance" if maintenance else "",
            "MAC": MAC,
            "fail": fail,
            "hardware_info": f"1c4558e8|{MAC}",
            "prompts": [],
            "serverInfo": dict(SERVER_INFO),
        }

    # -- request bookkeeping ---------------------------------------------------------------------

    def check_idle(self) -> None:
        """Apply the time limits: the SSO lifetime (if enforced), then the brokerage idle timeout."""
        sso_over = self._config().enforce_sso_lifetime and self.sso_expires_ms() == 0
        if sso_over and self.state is not SessionState.LOGGED_OUT:
            # The outer session is gone: what the real gateway needs a new browser login for.
            self.logout()
            return
        idle = self._clock.monotonic() - self.last_request
        if self.state is SessionState.AUTHENTICATED and idle > self._config().idle_timeout:
            self._set(SessionState.EXPIRED)

    def touch(self) -> None:
        """Record a client request (after checking whether the session already idled out)."""
        self.check_idle()
        self.last_request = self._clock.monotonic()

    # -- transitions -----------------------------------------------------------------------------

    def _set(self, new: SessionState) -> None:
        old = self.state
        if old is new:
            return
        if new is SessionState.AUTHENTICATED:
            self.scope = BrokerageScope(epoch=self.scope.epoch + 1)
            self.last_request = self._clock.monotonic()
        if new is SessionState.LOGGED_OUT:
            self.portfolio_primed = False
        self._cancel_reauth()
        self.state = new
        self._on_change(old, new)

    def _cancel_reauth(self) -> None:
        if self._pending_reauth is not None:
            self._pending_reauth.cancel()
            self._pending_reauth = None

    def force(self, state: SessionState) -> None:
        """Jump to ``state`` (test hook for every state)."""
        if state is SessionState.LOGGED_OUT:
            self.logout()
            return
        if self.state is SessionState.LOGGED_OUT:
            self.sso_started = self._clock.monotonic()
        self._set(state)

    def login(self) -> None:
        """Simulate a browser login: SSO plus an initialised brokerage session."""
        self.sso_started = self._clock.monotonic()
        self._set(SessionState.AUTHENTICATED)

    def logout(self) -> None:
        """End both session tiers."""
        self._set(SessionState.LOGGED_OUT)

    def compete(self) -> None:
        """Another platform logged in with the same user and took the brokerage session."""
        self._set(SessionState.COMPETING)

    def expire(self) -> None:
        """Drop the brokerage session as the idle timer does."""
        self._set(SessionState.EXPIRED)

    def ssodh_init(self, compete: bool) -> None:
        """Initialise the brokerage session (``compete`` kicks a competing session)."""
        if self.state is SessionState.COMPETING and not compete:
            return
        self._set(SessionState.AUTHENTICATED)

    def reauthenticate(self, force: bool) -> None:
        """Start re-authentication; the session comes back after ``reauth_delay`` clock seconds."""
        if self.state is SessionState.AUTHENTICATED:
            return
        if self.state is SessionState.COMPETING and not force:
            return
        self._cancel_reauth()
        self._pending_reauth = self._scheduler.call_later(self._config().reauth_delay, self._finish_reauth)

    def _finish_reauth(self) -> None:
        self._pending_reauth = None
        if self.state is not SessionState.LOGGED_OUT and not self.in_maintenance:
            self._set(SessionState.AUTHENTICATED)

    def nightly_reset(self, maintenance_seconds: float) -> None:
        """Reset the brokerage backend: session expired, and ``/iserver`` is 503 for a while."""
        self.maintenance_until = self._clock.monotonic() + maintenance_seconds
        if self.state is not SessionState.LOGGED_OUT:
            self._set(SessionState.EXPIRED)

    def end_maintenance(self) -> None:
        """Finish a maintenance window early."""
        self.maintenance_until = None

    def restart(self, state: SessionState) -> None:
        """Simulate a gateway restart: a new session id and a fresh session in ``state``."""
        self.session_id = secrets.token_hex(16)
        self.portfolio_primed = False
        self.maintenance_until = None
        self.sso_started = self._clock.monotonic()
        old = self.state
        self.state = SessionState.LOGGED_OUT
        self.scope = BrokerageScope(epoch=self.scope.epoch + 1)
        if state is not SessionState.LOGGED_OUT:
            self._set(state)
        elif old is not SessionState.LOGGED_OUT:
            self._on_change(old, SessionState.LOGGED_OUT)
