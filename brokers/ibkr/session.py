"""Gateway session: start-up sequence, keep-alive and recovery, as an explicit state machine.

States and what moves between them::

    DISCONNECTED --start()--> READY            tickle, auth status (re-auth if needed),
                                               /iserver/accounts (prime), /portfolio/accounts
    READY --tickle shows unhealthy / a lost session / report_failure()--> DEGRADED
                                               (lost session: a 401 or "no bridge" the REST client
                                               recorded on any call; report_failure: a sts/act push)
    READY --gateway unreachable--> DISCONNECTED
    DEGRADED | DISCONNECTED --tick(): recovery succeeded--> READY  (marked ``recovered``: resubscribe,
                                                                   reconcile)

Recovery is stepped by :meth:`SessionManager.tick` (the keep-alive thread calls it about once a
second; tests call it with a simulated clock): check auth status, ask ``/iserver/reauthenticate``,
poll until authenticated or ``reauth_timeout`` passes, re-prime, then READY. Failures back off
exponentially with jitter up to ``reconnect_max``. A competing session is not taken over. Inside a
scheduled maintenance window (:mod:`brokers.ibkr.maintenance`) failures are expected: they are logged
at INFO, naming the window, instead of WARNING.

A changed session id in a tickle means the gateway restarted: the manager re-primes and reports a
``recovered`` READY, so the stream reconnects with the new id and the broker reconciles.

The manager calls nobody: every state change is recorded as a :class:`SessionChange` and returned
once, by :meth:`SessionManager.tick` or :meth:`SessionManager.take_changes`. A lost session the REST
client recorded (:meth:`~brokers.ibkr.rest.IbkrRestClient.session_losses`) is taken in whenever the
state is read, so an order sent right after a 401 already finds the session degraded.

Threading: :meth:`tick` runs on the keep-alive thread (and :meth:`start` on the connecting one);
:meth:`report_failure`, :meth:`check_now`, :meth:`take_changes` and :attr:`state` may be used from
any thread.
"""

from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from brokers.ibkr.accountguard import AccountGuard
from brokers.ibkr.accountguard import is_paper
from brokers.ibkr.config import IbkrConfig
from brokers.ibkr.errors import IbkrAccountRefusedError
from brokers.ibkr.errors import IbkrAuthError
from brokers.ibkr.errors import IbkrError
from brokers.ibkr.errors import IbkrRateLimitError
from brokers.ibkr.errors import IbkrSessionError
from brokers.ibkr.errors import IbkrTransportError
from brokers.ibkr.errors import IbkrUnreachableError
from brokers.ibkr.reachability import START_HINT
from brokers.ibkr.rest import IbkrRestClient
from brokers.ibkr.wire import AuthStatus
from brokers.ibkr.wire import BrokerageAccounts
from framework.clock import Clock
from framework.redaction import register_account
from framework.redaction import register_secret

log = logging.getLogger(__name__)

REAUTH_POLL_INTERVAL = 1.0

HttpSession = requests.Session
"""The HTTP session type the adapter is built on (named here so only this module and rest.py import requests)."""


class SessionState(StrEnum):
    """Usability of the gateway session."""

    DISCONNECTED = "disconnected"
    READY = "ready"
    DEGRADED = "degraded"


def redact(session_id: str | None) -> str:
    """A session id safe to log (first four characters only)."""
    return f"{session_id[:4]}…" if session_id else "none"


class _PinnedAdapter(HTTPAdapter):
    """HTTPS adapter that accepts exactly one leaf certificate, by SHA-256 fingerprint."""

    def __init__(self, fingerprint: str) -> None:
        self._fingerprint = fingerprint
        super().__init__()

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **kwargs: Any) -> None:
        kwargs["assert_fingerprint"] = self._fingerprint
        super().init_poolmanager(connections, maxsize, block, **kwargs)


def configure_tls(session: HttpSession | None, config: IbkrConfig) -> HttpSession:
    """Apply the configured TLS policy to ``session`` and return it.

    CA bundle: verify the chain against it. Pinned fingerprint: accept only that leaf certificate.
    Both set: both apply (the chain must verify *and* the leaf must match the pin). Insecure flag:
    no verification, logged as an error on every start. Neither: the system trust store, which
    refuses the gateway's self-signed certificate. A new session is created when None.
    """
    session = session if session is not None else requests.Session()
    if config.pinned_sha256 is not None:
        # with a CA the chain is still verified; without one the fingerprint check replaces it
        session.verify = str(config.ca_file) if config.ca_file is not None else False
        session.mount(config.base_url, _PinnedAdapter(config.pinned_sha256))
    elif config.ca_file is not None:
        session.verify = str(config.ca_file)
    elif config.insecure_skip_tls_verify:
        session.verify = False
        log.error("TLS verification is DISABLED for %s: anyone on the path can trade this account",
                  config.base_url)
    return session


@dataclass(frozen=True, slots=True)
class SessionChange:
    """The session moved to ``state`` because of ``reason``.

    Attributes:
        state: The new state.
        reason: Why, for logs and ``BrokerDegraded``.
        recovered: READY after a recovery or a detected gateway restart: the stream must reconnect
            (with :attr:`SessionManager.session_id`) and the orders be reconciled.
    """

    state: SessionState
    reason: str
    recovered: bool = False


class SessionManager:
    """Owns the gateway session: start-up, keep-alive, loss detection and recovery.

    Args:
        config: Adapter settings.
        rest: REST client (its recorded session losses degrade a ready session).
        clock: Monotonic time for schedules.
        rng: Jitter source for back-off.

    Attributes:
        session_id: The gateway session id (for the websocket cookie), once known.
        account_id: The account in use, once the session started.
        recoveries: Completed recoveries.
        guard: Watches the session's account list while running (see :mod:`brokers.ibkr.accountguard`).
    """

    def __init__(
        self,
        config: IbkrConfig,
        rest: IbkrRestClient,
        clock: Clock,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self._config = config
        register_account(config.account_id)  # masked in logs even before the gateway confirms it
        self._rest = rest
        self._clock = clock
        self._rng = rng or random.Random()
        self._lock = threading.RLock()
        self._state = SessionState.DISCONNECTED
        self._changes: list[SessionChange] = []
        self._losses_seen = 0  # session losses the REST client had recorded when last taken in
        self.session_id: str | None = None
        self.account_id: str | None = None
        self._next_tickle = 0.0
        self._next_attempt = 0.0
        self._failures = 0
        self._reauth_deadline: float | None = None
        self._maintenance = config.maintenance_calendar()
        self.recoveries = 0
        self.guard = AccountGuard()

    # ----------------------------------------------------------------- start-up

    def start(self) -> str:
        """Run the start-up sequence and return the account id.

        Raises:
            IbkrSessionError: Login required, competing session, or a refused (live) account.
            IbkrError: The gateway could not be reached or answered unusably.
        """
        self._tickle_for_session()
        status = self._rest.auth_status()
        if not status.healthy:
            self._reauthenticate_blocking(status)
        self.account_id = self._prime()
        self._forget_losses()
        self._set(SessionState.READY, "session ready")
        self._next_tickle = self._clock.monotonic() + self._config.tickle_interval
        return self.account_id

    def _tickle_for_session(self) -> None:
        try:
            tickle = self._rest.tickle()
        except IbkrAuthError as e:
            msg = "the gateway is not logged in: open its login page in a browser and log in"
            raise IbkrSessionError(msg, reason="login_required") from e
        except IbkrUnreachableError as e:  # the first thing a new user meets: say how to start one
            raise IbkrUnreachableError(e.base_url, e.reason, method=e.method, path=e.path, hint=START_HINT) from e
        self.session_id = tickle.session
        register_secret(self.session_id)
        log.info("gateway session %s", redact(self.session_id))

    def _reauthenticate_blocking(self, status: AuthStatus) -> None:
        if status.competing:
            msg = "another platform holds the brokerage session (competing); log out there first"
            raise IbkrSessionError(msg, reason="competing")
        self._rest.reauthenticate()
        deadline = self._clock.monotonic() + self._config.reauth_timeout
        while self._clock.monotonic() < deadline:
            self._rest.wait(REAUTH_POLL_INTERVAL)
            if self._rest.auth_status().healthy:
                return
        raise IbkrSessionError("re-authentication did not complete in time", reason="reauth_timeout")

    def _prime(self) -> str:
        accounts = self._rest.brokerage_accounts()
        account_id = self._choose_account(accounts)
        register_account(account_id)  # masked in every log line from now on
        types = {a.account_id or a.id: a.type for a in self._rest.portfolio_accounts()}
        paper = is_paper(account_id, accounts.is_paper, types.get(account_id))
        plain = self._config.plain_text_url
        if not paper and plain is not None:  # whatever the config allowed: checked before any order
            field, url = plain
            msg = (f"{field} {url} is plain text: account {account_id} is not a paper account and is traded only "
                   f"over TLS; use {'https' if field == 'base_url' else 'wss'}://")
            raise IbkrAccountRefusedError(msg, reason="plain_text_live")
        if not paper and not self._config.allow_live:
            msg = (f"account {account_id} is not a paper account; to trade it pass --i-understand-live to "
                   f"tradebus live (allow_live=True in code)")
            raise IbkrAccountRefusedError(msg, reason="live_account")
        if self._config.suppress_on_start and self._config.auto_confirm_message_ids:
            self._rest.suppress_questions(sorted(self._config.auto_confirm_message_ids))
        self.guard.admit(account_id, accounts.accounts)
        return account_id

    def _choose_account(self, accounts: BrokerageAccounts) -> str:
        wanted = self._config.account_id
        if wanted is not None:
            if wanted not in accounts.accounts:
                msg = f"account {wanted} is not among the gateway's accounts {accounts.accounts}"
                raise IbkrAccountRefusedError(msg, reason="unknown_account")
            return wanted
        if len(accounts.accounts) != 1:
            msg = f"the gateway reports {len(accounts.accounts)} accounts; configure account_id"
            raise IbkrAccountRefusedError(msg, reason="ambiguous_account")
        return accounts.accounts[0]

    # ----------------------------------------------------------------- running

    @property
    def state(self) -> SessionState:
        """Usability of the session, a lost session the REST client recorded since taken in."""
        self._take_in_losses()
        return self._state

    def report_failure(self, reason: str) -> None:
        """Something (a ``sts`` or ``act`` push) says the session is gone: recover now (if ready)."""
        with self._lock:
            if self._state is SessionState.READY:
                self._set(SessionState.DEGRADED, reason)
                self._next_attempt = self._clock.monotonic()

    def check_now(self) -> None:
        """Tickle at the next tick instead of waiting for the interval (the stream saw trouble)."""
        if self._state is SessionState.READY:
            self._next_tickle = self._clock.monotonic()

    def take_changes(self) -> list[SessionChange]:
        """Return (and forget) the state changes not returned yet, oldest first."""
        if not self._changes:  # the common case, without the lock (appends happen under it)
            return []
        with self._lock:
            changes, self._changes = self._changes, []
        return changes

    def tick(self, now: float) -> list[SessionChange]:
        """Advance the keep-alive / recovery schedule to monotonic time ``now``.

        Returns:
            The state changes since they were last taken (this tick's included), oldest first.
        """
        if self.state is SessionState.READY:
            probe_at = self._rest.penalty_probe_due()
            if probe_at is not None:  # a 429 penalty: the tickle is the probe, as soon as the back-off ends
                self._next_tickle = min(self._next_tickle, now + probe_at)
            if now >= self._next_tickle:
                self._keep_alive(now)
        elif now >= self._next_attempt:
            self._recover_step(now)
        return self.take_changes()

    def _take_in_losses(self) -> None:
        # Any REST call (an order, a lookup, a snapshot) answered 401 / "no bridge": recover now.
        count, error = self._rest.session_losses()
        if count == self._losses_seen:
            return
        with self._lock:
            self._losses_seen = count
        self.report_failure(f"session lost ({error})")

    def _forget_losses(self) -> None:
        # losses recorded before the session became ready (its own start-up or recovery calls, or
        # calls made while it was down) are old news, as report_failure ignores them when not ready
        with self._lock:
            self._losses_seen = self._rest.session_losses()[0]

    def _keep_alive(self, now: float) -> None:
        self._next_tickle = now + self._config.tickle_interval
        try:
            tickle = self._rest.tickle()
        except IbkrRateLimitError as e:  # pacing, not a lost session: tickle again once allowed
            self._next_tickle = now + max(1.0, e.retry_after)
            return
        except IbkrTransportError as e:
            self._fail(SessionState.DISCONNECTED, f"gateway unreachable: {e}", now)
            return
        except IbkrError as e:
            self._fail(SessionState.DEGRADED, f"keep-alive failed: {e}", now)
            return
        auth = tickle.iserver.auth_status if tickle.iserver is not None else None
        if auth is not None and not auth.healthy:
            self._fail(SessionState.DEGRADED, _describe(auth), now)
        elif tickle.session and self.session_id and tickle.session != self.session_id:
            log.warning("gateway session changed (%s -> %s): gateway restarted",
                        redact(self.session_id), redact(tickle.session))
            self.session_id = tickle.session
            register_secret(self.session_id)
            self._fail(SessionState.DEGRADED, "gateway restarted", now)
            self._next_attempt = now

    def _recover_step(self, now: float) -> None:
        try:
            if self._reauth_deadline is None:
                self._begin_recovery(now)
            else:
                self._await_reauth(now)
        except IbkrRateLimitError as e:  # keep the recovery step, retry once pacing allows
            self._next_attempt = now + max(1.0, e.retry_after)
        except IbkrTransportError as e:
            self._fail(SessionState.DISCONNECTED, f"gateway unreachable: {e}", now)
        except IbkrError as e:
            self._fail(SessionState.DEGRADED, f"recovery failed: {e}", now)

    def _begin_recovery(self, now: float) -> None:
        tickle = self._rest.tickle()
        self.session_id = tickle.session or self.session_id
        register_secret(self.session_id)
        status = self._rest.auth_status()
        if status.healthy:
            self._complete(now)
        elif status.competing:
            self._fail(SessionState.DEGRADED, "competing session: not taking it over", now)
        else:
            self._rest.reauthenticate()
            self._reauth_deadline = now + self._config.reauth_timeout
            self._next_attempt = now + REAUTH_POLL_INTERVAL

    def _await_reauth(self, now: float) -> None:
        if self._rest.auth_status().healthy:
            self._complete(now)
            return
        assert self._reauth_deadline is not None
        if now >= self._reauth_deadline:
            self._fail(SessionState.DEGRADED, "re-authentication timed out", now)
        else:
            self._next_attempt = now + REAUTH_POLL_INTERVAL

    def _complete(self, now: float) -> None:
        self.account_id = self._prime()
        self._forget_losses()
        self._reauth_deadline = None
        self._failures = 0
        self.recoveries += 1
        self._next_tickle = now + self._config.tickle_interval
        self._set(SessionState.READY, "session recovered", recovered=True)

    def _fail(self, state: SessionState, reason: str, now: float) -> None:
        self._reauth_deadline = None
        delay = min(self._config.reconnect_max, self._config.reconnect_initial * 2**self._failures)
        self._failures = min(self._failures + 1, 16)
        self._next_attempt = now + delay * (0.5 + self._rng.random() / 2)
        blackout = self._maintenance.active(self._clock.now())
        if blackout is None:
            log.warning("gateway session %s: %s (next attempt in %.1fs)", state, reason, self._next_attempt - now)
        else:  # expected: not a warning, nothing to page anyone about
            log.info("gateway session %s: %s (next attempt in %.1fs); expected during %s", state, reason,
                     self._next_attempt - now, blackout.describe())
        self._set(state, reason)

    def _set(self, state: SessionState, reason: str, *, recovered: bool = False) -> None:
        with self._lock:
            if state is not self._state:
                self._state = state
                self._changes.append(SessionChange(state, reason, recovered))


def _describe(auth: AuthStatus) -> str:
    if auth.competing:
        return "competing session"
    if not auth.connected:
        return "gateway not connected to IBKR"
    return f"brokerage session not authenticated {auth.fail or auth.message}".strip()
