"""Which account the adapter may trade: decided at start-up, and watched while it runs.

At start-up (:func:`is_paper`) an account counts as paper only when every sign the gateway gives
agrees: an id starting with ``D`` (IBKR's paper ids are ``DU…``/``DF…``; live ones ``U…``), not
flagged live by ``isPaper``, and of type ``DEMO`` when ``/portfolio/accounts`` says a type. Anything
else is a live account, refused without ``allow_live`` (see :mod:`brokers.ibkr.session`).

While it runs, the gateway pushes ``act`` (the session's accounts) on every websocket connect and on
every change. :class:`AccountGuard` compares each push with what start-up saw: a list without this
run's account, or with an account start-up did not see, means the session now belongs to someone
else (another user logged in to the gateway). The guard then trips, for good: the adapter refuses
every placement and modification from that instant and asks the engine to halt
(``HaltRequested``); only a new run, after an operator cleared the halt, trades again.

Thread-safe: :meth:`AccountGuard.admit` runs on the connecting (or keep-alive) thread,
:meth:`AccountGuard.check` on the stream thread, :attr:`AccountGuard.reason` is read by the command
worker.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from framework.redaction import mask_account

log = logging.getLogger(__name__)


def is_paper(account_id: str, flagged_paper: bool | None, account_type: str | None) -> bool:
    """Whether an account is a paper account: a ``D`` id, not flagged live, type ``DEMO`` if given."""
    return account_id.startswith("D") and flagged_paper is not False and account_type in (None, "DEMO")


class AccountGuard:
    """Trips when the gateway's session lists an account that is not this run's."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._account: str | None = None
        self._known: frozenset[str] = frozenset()
        self._reason: str | None = None

    @property
    def reason(self) -> str | None:
        """Why trading stopped (the guard tripped), or None."""
        return self._reason

    def admit(self, account_id: str, listed: Sequence[str]) -> None:
        """Start-up (or a re-prime) chose ``account_id`` among the ``listed`` accounts of the session."""
        with self._lock:
            self._account = account_id
            self._known = frozenset(listed) | {account_id}

    def check(self, listed: Sequence[str]) -> str | None:
        """Judge the accounts of an ``act`` push; return the reason the first time the guard trips."""
        with self._lock:
            account = self._account
            if account is None or self._reason is not None:
                return None
            strangers = sorted(set(listed) - self._known)
            if account not in listed:
                shown = ", ".join(mask_account(a) for a in listed) or "none"
                reason = f"the gateway's session no longer lists account {mask_account(account)} (it lists {shown})"
            elif strangers:
                shown = ", ".join(mask_account(a) for a in strangers)
                reason = f"the gateway's session lists account {shown}, which is not this run's"
            else:
                return None
            self._reason = reason
        log.error("trading stopped: %s", reason)
        return reason
