"""Time-bar aggregation from trades or quotes.

A :class:`BarAggregator` turns a stream of prices into :class:`~framework.marketdata.Bar` s aligned to
multiples of the duration since the Unix epoch (a 1-minute bar starts at hh:mm:00). A bar is emitted
when the first price of a later interval arrives, or when :meth:`BarAggregator.flush` is called
with a time past its end (so a quiet market still closes bars on a timer).

It also merges finer bars into coarser ones (:meth:`BarAggregator.add_bar`: open of the first, highest
high, lowest low, close of the last, volumes summed); the caller may name the interval each finer
bar belongs to, which is how :mod:`framework.resample` aligns bars to exchange sessions.
"""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta

from framework.marketdata import Bar
from framework.marketdata import Quote

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def bar_start(ts: datetime, duration: timedelta) -> datetime:
    """Start of the ``duration`` interval containing ``ts``."""
    return ts - (ts - _EPOCH) % duration


class BarAggregator:
    """Builds bars of one duration for one symbol.

    Args:
        symbol: The instrument symbol.
        duration: Bar length (positive).
    """

    def __init__(self, symbol: str, duration: timedelta) -> None:
        if duration <= timedelta(0):
            msg = f"duration must be positive, received {duration}"
            raise ValueError(msg)
        self.symbol = symbol
        self.duration = duration
        self._start: datetime | None = None
        self._o = self._h = self._l = self._c = 0.0
        self._v = 0.0

    def add_trade(self, ts: datetime, price: float, size: float = 0.0) -> Bar | None:
        """Add a trade; return the bar it closed, if it started a new interval."""
        start = bar_start(ts, self.duration)
        closed = None
        if self._start is not None and start > self._start:
            closed = self._emit()
        if self._start is None:
            self._start = start
            self._o = self._h = self._l = price
            self._v = 0.0
        elif start < self._start:
            return None  # late print for an interval already emitted; dropped
        self._h = max(self._h, price)
        self._l = min(self._l, price)
        self._c = price
        self._v += size
        return closed

    def add_quote(self, quote: Quote) -> Bar | None:
        """Add a quote, using its last price or else its midpoint; return a closed bar, if any."""
        price = quote.last if quote.last is not None else quote.mid
        if price is None:
            return None
        size = (quote.last_size or 0.0) if quote.last is not None else 0.0
        return self.add_trade(quote.ts, price, size)

    def add_bar(self, bar: Bar, start: datetime | None = None) -> Bar | None:
        """Merge a finer bar into the interval starting at ``start``; return the bar it closed, if any.

        Args:
            bar: The finer bar (bars must come oldest first).
            start: Start of the interval it belongs to; default the epoch-aligned interval of its start.
        """
        start = bar_start(bar.start, self.duration) if start is None else start
        closed = None
        if self._start is not None and start > self._start:
            closed = self._emit()
        if self._start is None:
            self._start = start
            self._o, self._h, self._l, self._v = bar.open, bar.high, bar.low, 0.0
        elif start < self._start:
            return None  # a late bar for an interval already emitted; dropped, as a late trade is
        else:
            self._h = max(self._h, bar.high)
            self._l = min(self._l, bar.low)
        self._c = bar.close
        self._v += bar.volume
        return closed

    def close(self) -> Bar | None:
        """Emit the bar being built now, whatever its interval (a session ended before it did)."""
        return None if self._start is None else self._emit()

    def flush(self, now: datetime) -> Bar | None:
        """Close the current bar if ``now`` is at or past its end."""
        if self._start is not None and now >= self._start + self.duration:
            return self._emit()
        return None

    def _emit(self) -> Bar:
        assert self._start is not None
        bar = Bar(self.symbol, self._start, self.duration, self._o, self._h, self._l, self._c, self._v)
        self._start = None
        return bar
