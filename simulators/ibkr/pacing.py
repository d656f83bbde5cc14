"""Request pacing: the global budget, the per-endpoint table and the penalty box (spec section 8).

Windows are sliding and read the injected clock, so a test can exceed a limit at one frozen instant
and then move time on to see it lift. A refused request is itself a violation; enough violations
within ``penalty_window`` put the client in the penalty box, where every request is refused.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from framework.clock import Clock
from simulators.ibkr.config import SimulatorConfig


@dataclass(frozen=True)
class EndpointLimit:
    """At most ``count`` requests per ``seconds`` for requests matching ``method`` and ``pattern``."""

    method: str
    pattern: re.Pattern[str]
    count: int
    seconds: float


def _limit(method: str, path: str, count: int, seconds: float) -> EndpointLimit:
    return EndpointLimit(method, re.compile(path), count, seconds)


# IBKR's published per-endpoint table; "/iserver/orders" and "/iserver/trades" there mean the
# /iserver/account/... paths.
ENDPOINT_LIMITS: tuple[EndpointLimit, ...] = (
    _limit("GET", r"^/iserver/marketdata/snapshot$", 10, 1.0),
    _limit("GET", r"^/iserver/scanner/params$", 1, 900.0),
    _limit("POST", r"^/iserver/scanner/run$", 1, 1.0),
    _limit("GET", r"^/iserver/account/trades$", 1, 5.0),
    _limit("GET", r"^/iserver/account/orders$", 1, 5.0),
    _limit("GET", r"^/iserver/account/pnl/partitioned$", 1, 5.0),
    _limit("GET", r"^/portfolio/accounts$", 1, 5.0),
    _limit("GET", r"^/portfolio/subaccounts$", 1, 5.0),
    _limit("POST", r"^/pa/(performance|summary|transactions)$", 1, 900.0),
    _limit("*", r"^/fyi/", 1, 1.0),
    _limit("*", r"^/tickle$", 1, 1.0),
    _limit("GET", r"^/sso/validate$", 1, 60.0),
)


class Pacer:
    """Decides whether a request is within the rate limits.

    Args:
        config: Returns the current configuration.
        clock: Time source of the sliding windows.
    """

    def __init__(self, config: Callable[[], SimulatorConfig], clock: Clock) -> None:
        self._config = config
        self._clock = clock
        self._global: deque[float] = deque()
        self._per_endpoint: dict[str, deque[float]] = {}
        self._violations: deque[float] = deque()
        self.boxed_until: float | None = None
        self.boxed_arrivals = 0  # requests that arrived while the penalty box was on (each answered 429)

    def reset(self) -> None:
        """Forget every window, violation and penalty."""
        self._global.clear()
        self._per_endpoint.clear()
        self._violations.clear()
        self.boxed_until = None
        self.boxed_arrivals = 0

    def in_penalty_box(self) -> bool:
        """Whether every request is currently refused."""
        return self.boxed_until is not None and self._clock.monotonic() < self.boxed_until

    def admit(self, method: str, path: str) -> bool:
        """Record a request to ``path`` (relative to ``/v1/api``) and return whether it may proceed."""
        config = self._config()
        if not config.pacing_enabled:
            return True
        now = self._clock.monotonic()
        if self.in_penalty_box():
            self.boxed_arrivals += 1
            self._violate(now, config)
            return False
        windows = [(self._global, config.global_rate, 1.0)]
        for rule in ENDPOINT_LIMITS:
            if rule.method in ("*", method) and rule.pattern.search(path):
                key = f"{rule.method} {rule.pattern.pattern}"
                windows.append((self._per_endpoint.setdefault(key, deque()), rule.count, rule.seconds))
        for window, count, seconds in windows:
            while window and window[0] <= now - seconds:
                window.popleft()
            if len(window) >= count:
                self._violate(now, config)
                return False
        for window, _, _ in windows:
            window.append(now)
        return True

    def _violate(self, now: float, config: SimulatorConfig) -> None:
        self._violations.append(now)
        while self._violations and self._violations[0] <= now - config.penalty_window:
            self._violations.popleft()
        if len(self._violations) >= config.penalty_violations and not self.in_penalty_box():
            self.boxed_until = now + config.penalty_box_seconds
