"""Armed HTTP faults: delayed responses and commit-then-drop.

A rule matches requests by method and by a path prefix relative to ``/v1/api`` (``None`` matches
everything) and fires a limited number of times. Both faults act *after* the request has been
processed, which is what makes them ambiguous for a client: the order exists although no answer (or
no timely answer) came back.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FaultRule:
    """One armed fault.

    Attributes:
        method: HTTP method to match, or ``None`` for any.
        path_prefix: Path prefix (relative to ``/v1/api``), or ``None`` for any.
        remaining: How many more requests it applies to.
        seconds: Real-time delay (delay rules only).
    """

    method: str | None
    path_prefix: str | None
    remaining: int
    seconds: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        """Whether this rule applies to a request."""
        if self.remaining <= 0:
            return False
        if self.method is not None and self.method.upper() != method:
            return False
        return self.path_prefix is None or path.startswith(self.path_prefix)


class Faults:
    """The currently armed HTTP faults."""

    def __init__(self) -> None:
        self.delays: list[FaultRule] = []
        self.drops: list[FaultRule] = []

    def clear(self) -> None:
        """Disarm everything."""
        self.delays.clear()
        self.drops.clear()

    @staticmethod
    def _take(rules: list[FaultRule], method: str, path: str) -> FaultRule | None:
        for rule in rules:
            if rule.matches(method, path):
                rule.remaining -= 1
                return rule
        return None

    def take_delay(self, method: str, path: str) -> float:
        """Return the delay to apply to this request (0 when none), consuming one use."""
        rule = self._take(self.delays, method, path)
        return rule.seconds if rule is not None else 0.0

    def take_drop(self, method: str, path: str) -> bool:
        """Return whether to drop the connection instead of answering, consuming one use."""
        return self._take(self.drops, method, path) is not None
