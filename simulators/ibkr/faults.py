"""Armed HTTP faults: delayed responses, held responses and commit-then-drop.

A rule matches requests by method and by a path prefix relative to ``/v1/api`` (``None`` matches
everything) and fires a limited number of times. The faults act *after* the request has been
processed, which is what makes them ambiguous for a client: the order exists although no answer (or
no timely answer) came back. A ``hold`` rule may instead park the request *before* processing; the
held requests themselves live in :class:`~simulators.ibkr.holds.HeldRequests`.
"""

from __future__ import annotations

from dataclasses import dataclass

from simulators.ibkr.holds import HeldRequests


@dataclass
class FaultRule:
    """One armed fault.

    Attributes:
        method: HTTP method to match, or ``None`` for any.
        path_prefix: Path prefix (relative to ``/v1/api``), or ``None`` for any.
        remaining: How many more requests it applies to.
        seconds: Real-time delay (delay rules only).
        before_processing: Hold the request before processing it (hold rules only).
    """

    method: str | None
    path_prefix: str | None
    remaining: int
    seconds: float = 0.0
    before_processing: bool = False

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
        self.holds: list[FaultRule] = []
        self.held = HeldRequests()

    def clear(self) -> None:
        """Disarm everything and release every held request."""
        self.delays.clear()
        self.drops.clear()
        self.holds.clear()
        self.held.release()

    def armed(self) -> dict[str, int]:
        """Uses left of the armed rules, by kind (``delays``, ``drops``, ``holds``)."""
        return {name: sum(r.remaining for r in rules)
                for name, rules in (("delays", self.delays), ("drops", self.drops), ("holds", self.holds))}

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

    def take_hold(self, method: str, path: str, *, before_processing: bool) -> bool:
        """Return whether to hold this request at this stage (before or after processing), consuming one use."""
        rules = [rule for rule in self.holds if rule.before_processing is before_processing]
        return self._take(rules, method, path) is not None
