"""Client-side pacing for the Client Portal gateway.

The gateway allows about 10 requests/s in total plus stricter per-endpoint limits, and answers a
violation with 429 and, after repeats, a 10-minute "penalty box" for the whole IP. So the limiter
(1) spaces requests under a global budget (generic cell rate: ``global_rate`` per second with a
burst of two, so no one-second window holds more than the gateway's 10), (2) keeps each listed
endpoint at least its minimum interval apart (plus a margin), (3) caps concurrent history requests,
and (4) after a 429 holds back *every* request until the back-off has passed, so a storm of retries
cannot extend the penalty; a 429 from an endpoint with its own limit (say ``/portfolio/accounts``,
called by a previous process a moment ago) holds back only that endpoint, for its interval.

After a back-off the limiter lets exactly one request through, the *probe*, and holds back the rest
until the gateway answers it: anything but another 429 ends the penalty (:meth:`RateLimiter.answered`),
another 429 starts a new back-off. So while the gateway keeps the IP in its penalty box, at most one
request reaches it per back-off (``rate_limit_backoff``, 60 s by default). :attr:`RateLimiter.penalized`
says whether a penalty is running; the adapter reports the broker degraded meanwhile.

A request that would have to wait longer than ``max_wait`` is refused at once with
:class:`~brokers.ibkr.errors.IbkrRateLimitError` (``status_code`` 0: never sent) rather than
blocking a caller for minutes. Time comes from the injected clock and waiting from the injected
``sleep``, so tests step it deterministically.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from contextlib import contextmanager

from brokers.ibkr.errors import IbkrRateLimitError
from framework.clock import Clock

ENDPOINT_MIN_INTERVAL: dict[str, float] = {
    "/iserver/account/orders": 5.0,
    "/iserver/account/trades": 5.0,
    "/iserver/account/pnl/partitioned": 5.0,
    "/portfolio/accounts": 5.0,
    "/portfolio/subaccounts": 5.0,
    "/tickle": 1.0,
    "/sso/validate": 60.0,
    "/iserver/marketdata/snapshot": 0.1,
    "/iserver/scanner/run": 1.0,
}
"""Seconds between two requests to one endpoint (IBKR's published per-endpoint limits)."""

SPACING_MARGIN = 1.1  # the gateway times arrivals, we time departures: keep a margin for network jitter
BURST = 2.0  # requests that may go back to back; burst + rate must stay within 10 per second
HISTORY_PATH = "/iserver/marketdata/history"
HISTORY_MAX_CONCURRENT = 4  # IBKR allows 5 but throttles above 4 in practice


class RateLimiter:
    """Global budget, per-endpoint spacing, history concurrency and 429 back-off.

    Thread-safe: REST calls come from the dispatcher, keep-alive and stream threads.

    Args:
        clock: Source of monotonic time.
        global_rate: Requests per second overall.
        max_wait: Longest a request may wait before it is refused.
        sleep: Blocks the caller for the given seconds (tests advance a simulated clock instead).
        intervals: Minimum seconds between two requests to one endpoint (IBKR's table by default).
    """

    def __init__(
        self, clock: Clock, *, global_rate: float, max_wait: float, sleep: Callable[[float], None],
        intervals: Mapping[str, float] = ENDPOINT_MIN_INTERVAL,
    ) -> None:
        self._clock = clock
        self.intervals = intervals
        self._interval = 1.0 / global_rate
        self._burst = BURST
        self._max_wait = max_wait
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tat = clock.monotonic()  # theoretical arrival time of the next request
        self._next_by_path: dict[str, float] = {}
        self._blocked_until = float("-inf")
        self._penalized = False  # from a 429 until the gateway answers a probe with anything else
        self._probe_out = False  # the one request allowed through after a back-off is on its way
        self._history_running = 0
        self.penalties = 0

    @property
    def blocked_for(self) -> float:
        """Seconds left of the current 429 back-off (0 when not blocked)."""
        return max(0.0, self._blocked_until - self._clock.monotonic())

    @property
    def penalized(self) -> bool:
        """Whether a 429 penalty is running (from the 429 until a probe is answered otherwise)."""
        return self._penalized

    def answered(self, status: int) -> None:
        """The gateway answered a request with ``status``: anything but 429 ends a penalty.

        A 429 ends the probe too: the caller then starts a new back-off (:meth:`penalize`).
        """
        if not self._penalized:
            return
        with self._lock:
            self._probe_out = False
            if status != 429:
                self._penalized = False

    def unanswered(self) -> None:
        """A request got no answer (a transport failure): a probe may go out again."""
        with self._lock:
            self._probe_out = False

    def acquire(self, method: str, path: str) -> None:
        """Wait for this request's turn, or refuse it.

        A request to an endpoint with its own interval first waits out that interval, and only then
        takes a slot of the global budget: a lookup spaced 5 s out never holds an order back.

        Raises:
            IbkrRateLimitError: If a 429 back-off is running or the wait would exceed ``max_wait``.
        """
        wait = self._reserve_endpoint(method, path)
        if wait > 0:
            self._sleep(wait)
        wait = self._reserve_global(method, path)
        if wait > 0:
            self._sleep(wait)

    def _refuse_if_blocked(self, method: str, path: str, now: float) -> None:
        if now < self._blocked_until:
            raise IbkrRateLimitError(
                "held back after a 429 from the gateway", method=method, path=path,
                retry_after=self._blocked_until - now, status_code=0,
            )
        if self._penalized and self._probe_out:
            raise IbkrRateLimitError(
                "held back: a probe of the gateway's penalty is on its way", method=method, path=path,
                retry_after=1.0, status_code=0,
            )

    def _take_probe(self) -> None:
        # the caller holds the lock and passed _refuse_if_blocked: this request is the probe
        if self._penalized:
            self._probe_out = True

    def _refuse_if_too_long(self, method: str, path: str, wait: float) -> None:
        if wait > self._max_wait:
            raise IbkrRateLimitError(
                f"would wait {wait:.1f}s for the pacing budget", method=method, path=path,
                retry_after=wait, status_code=0,
            )

    def _reserve_endpoint(self, method: str, path: str) -> float:
        spacing = self.intervals.get(path)
        with self._lock:
            now = self._clock.monotonic()
            self._refuse_if_blocked(method, path, now)
            if spacing is None:
                return 0.0
            wait = max(0.0, self._next_by_path.get(path, now) - now)
            self._refuse_if_too_long(method, path, wait)
            self._next_by_path[path] = now + wait + spacing * SPACING_MARGIN
            return wait

    def _reserve_global(self, method: str, path: str) -> float:
        with self._lock:
            now = self._clock.monotonic()
            self._refuse_if_blocked(method, path, now)
            tat = max(self._tat, now)
            wait = max(0.0, tat - now - (self._burst - 1) * self._interval)
            self._refuse_if_too_long(method, path, wait)
            self._tat = tat + self._interval
            self._take_probe()
            return wait

    def penalize_endpoint(self, path: str, seconds: float) -> None:
        """Hold back one endpoint for ``seconds`` (a 429 on an endpoint with its own limit)."""
        with self._lock:
            self.penalties += 1
            self._next_by_path[path] = max(self._next_by_path.get(path, 0.0), self._clock.monotonic() + seconds)

    def penalize(self, seconds: float) -> None:
        """Hold back every request for ``seconds`` (called on a 429)."""
        with self._lock:
            self.penalties += 1
            self._blocked_until = max(self._blocked_until, self._clock.monotonic() + seconds)
            self._penalized = True
            self._probe_out = False

    @contextmanager
    def history_slot(self) -> Iterator[None]:
        """Hold one of the concurrent history slots for the duration of the block.

        Raises:
            IbkrRateLimitError: If every slot is taken.
        """
        with self._lock:
            if self._history_running >= HISTORY_MAX_CONCURRENT:
                raise IbkrRateLimitError(
                    "too many concurrent history requests", method="GET", path=HISTORY_PATH,
                    retry_after=1.0, status_code=0,
                )
            self._history_running += 1
        try:
            yield
        finally:
            with self._lock:
                self._history_running -= 1
