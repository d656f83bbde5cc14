"""Market data values: :class:`Quote` and :class:`Bar`.

Why these are validated tuples and not pydantic models: they sit on the hot path of every backtest
and live feed. Measured on this project's machine (see ``benchmarks/bus_throughput.py``), a pydantic
bar costs about 2.0 µs to build and ~550 bytes to hold, a validated tuple 0.55 µs and ~170 bytes; the
backtest target of 250,000 bars/s leaves 4 µs per bar for everything. They are still immutable and
still refuse bad input at construction, naming the field. Prices here are floats (style rule 18);
they become ``Decimal``, rounded to the tick, where they enter an order or a fill.
"""

from __future__ import annotations

import math
from datetime import datetime
from datetime import timedelta
from typing import NamedTuple


class _QuoteFields(NamedTuple):
    symbol: str
    ts: datetime
    bid: float | None
    ask: float | None
    bid_size: float | None
    ask_size: float | None
    last: float | None
    last_size: float | None
    frozen: bool


class Quote(_QuoteFields):
    """Top of book and last trade of one instrument at one time.

    Attributes:
        symbol: Instrument symbol.
        ts: Time of the quote (aware UTC).
        bid: Best bid price, if any.
        ask: Best ask price, if any.
        bid_size: Size at the bid.
        ask_size: Size at the ask.
        last: Last trade price.
        last_size: Last trade size.
        frozen: The venue says these are the last values of a closed market (IBKR's ``Z``/``Y``
            availability), not live ones: nothing trades on them.
    """

    __slots__ = ()

    def __new__(  # noqa: PLR0917 - positional like the tuple it builds
        cls,
        symbol: str,
        ts: datetime,
        bid: float | None = None,
        ask: float | None = None,
        bid_size: float | None = None,
        ask_size: float | None = None,
        last: float | None = None,
        last_size: float | None = None,
        frozen: bool = False,
    ) -> Quote:
        """Validate the fields and build the quote."""
        _check_ts(ts, "ts")
        for name, value in (("bid", bid), ("ask", ask), ("last", last)):
            if value is not None and not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name}: must be a positive finite price, received {value!r}")
        for name, value in (("bid_size", bid_size), ("ask_size", ask_size), ("last_size", last_size)):
            if value is not None and not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"{name}: must be a non-negative finite size, received {value!r}")
        return tuple.__new__(cls, (symbol, ts, bid, ask, bid_size, ask_size, last, last_size, bool(frozen)))

    @property
    def mid(self) -> float | None:
        """Midpoint of bid and ask, or None if either is missing."""
        if self.bid is None or self.ask is None:
            return None
        return (self.bid + self.ask) / 2

    def replace(self, **changes: float | datetime | str | bool | None) -> Quote:
        """Return a copy with some fields changed (validated again)."""
        values = self._asdict()
        values.update(changes)
        return Quote(**values)


class _BarFields(NamedTuple):
    symbol: str
    start: datetime
    duration: timedelta
    open: float
    high: float
    low: float
    close: float
    volume: float


class Bar(_BarFields):
    """OHLCV summary of one time interval.

    Attributes:
        symbol: Instrument symbol.
        start: Start of the interval (aware UTC).
        duration: Length of the interval.
        open: First price.
        high: Highest price; at least max(open, close).
        low: Lowest price; at most min(open, close).
        close: Last price.
        volume: Traded volume (non-negative).
    """

    __slots__ = ()

    def __new__(  # noqa: PLR0917 - positional like the tuple it builds
        cls,
        symbol: str,
        start: datetime,
        duration: timedelta,
        open: float,
        high: float,
        low: float,
        close: float,
        volume: float = 0.0,
    ) -> Bar:
        """Validate the fields and build the bar."""
        _check_ts(start, "start")
        if not (low > 0 and math.isfinite(high)):
            raise ValueError(f"low/high: prices must be positive and finite, received low={low!r} high={high!r}")
        if not (low <= open <= high and low <= close <= high):
            raise ValueError(f"high/low: must bound open and close, received o={open} h={high} l={low} c={close}")
        if not volume >= 0 or not math.isfinite(volume):
            raise ValueError(f"volume: must be non-negative and finite, received {volume!r}")
        if duration <= timedelta(0):
            raise ValueError(f"duration: must be positive, received {duration}")
        return tuple.__new__(cls, (symbol, start, duration, open, high, low, close, volume))

    @property
    def end(self) -> datetime:
        """End of the interval (exclusive), when the bar closes."""
        return self.start + self.duration


def _check_ts(value: object, name: str) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError(f"{name}: must be a timezone-aware datetime, received {value!r}")
