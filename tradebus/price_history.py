"""Closing prices of one symbol over a run, in columns, for the report's price charts and benchmark."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import NamedTuple
from typing import overload


class PriceHistory(NamedTuple):
    """A symbol's prices: when each became known (epoch seconds, ascending) and the price.

    A backtest keeps every bar's close at the bar's end time; a paper or live run the last price at
    each equity sample.
    """

    times: Sequence[float]
    prices: Sequence[float]

    def at(self, seconds: float) -> float | None:
        """The last price known at ``seconds`` (None before the first)."""
        i = bisect.bisect_right(self.times, seconds)
        return self.prices[i - 1] if i else None

    def between(self, start: float, end: float) -> PriceHistory:
        """The prices known from ``start`` to ``end`` inclusive."""
        lo = bisect.bisect_left(self.times, start)
        hi = bisect.bisect_right(self.times, end)
        return PriceHistory(self.times[lo:hi], self.prices[lo:hi])


class ShiftedTimes(Sequence[float]):
    """``values[i] + offset`` for every ``i``, computed when read.

    A backtest's bar end times are its bar starts plus the bar length, so the report needs no copy
    of a million-element column.

    Args:
        values: Ascending numbers (bar starts in epoch seconds).
        offset: Added to each (the bar length in seconds).
    """

    __slots__ = ("_offset", "_values")

    def __init__(self, values: Sequence[float], offset: float) -> None:
        self._values = values
        self._offset = offset

    def __len__(self) -> int:
        return len(self._values)

    @overload
    def __getitem__(self, index: int) -> float: ...

    @overload
    def __getitem__(self, index: slice) -> ShiftedTimes: ...

    def __getitem__(self, index: int | slice) -> float | ShiftedTimes:
        if isinstance(index, slice):
            return ShiftedTimes(self._values[index], self._offset)
        return self._values[index] + self._offset
