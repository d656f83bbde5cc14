"""Freshness of market data: which subscribed instruments have gone quiet.

The engine tells a :class:`DataTracker` when it subscribes an instrument and every time data for it
arrives; :meth:`DataTracker.check` then names the instruments silent for longer than the limit, once
per silence (the flag clears when data flows again).
"""

from __future__ import annotations

from datetime import datetime
from datetime import timedelta

from framework.events import DataStale


class DataTracker:
    """Tracks the last data time per watched symbol.

    Args:
        stale_after: Silence that counts as stale; None disables tracking entirely (backtests).
    """

    def __init__(self, stale_after: timedelta | None) -> None:
        self.stale_after = stale_after
        self._last: dict[str, datetime] = {}
        self._since: dict[str, datetime | None] = {}
        self._stale: set[str] = set()

    def watch(self, symbol: str, now: datetime) -> None:
        """Start tracking ``symbol``; its silence is measured from ``now``."""
        if self.stale_after is not None and symbol not in self._last:
            self._last[symbol] = now
            self._since[symbol] = None

    def touch(self, symbol: str, ts: datetime) -> None:
        """Record that data for ``symbol`` arrived at ``ts``."""
        if self.stale_after is None:
            return
        self._last[symbol] = ts
        self._since[symbol] = ts
        self._stale.discard(symbol)

    def check(self, now: datetime) -> list[DataStale]:
        """Return a ``DataStale`` for each symbol that has just crossed the silence limit."""
        if self.stale_after is None:
            return []
        limit = self.stale_after
        found = []
        for symbol, last in self._last.items():
            if symbol not in self._stale and now - last > limit:
                self._stale.add(symbol)
                found.append(DataStale(ts=now, symbol=symbol, last_update=self._since[symbol]))
        return found

    def is_stale(self, symbol: str) -> bool:
        """Whether ``symbol`` is currently flagged stale."""
        return symbol in self._stale
