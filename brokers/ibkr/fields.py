"""Market-data field codes of the Client Portal API and the lenient readers of their values.

The gateway keys market data by numeric field code (``"31"`` last price, ``"84"`` bid ...), in the
websocket ``smd`` topic and in snapshot rows alike. Values are lenient: ``"C168.42"`` (yesterday's
close, no trade yet) and ``"H168.42"`` (halted) carry a one-letter prefix, sizes may hold thousands
separators (``"1,300"``) and abbreviated volumes a ``K``/``M``/``B`` suffix. A value of the wrong type
(a list, an object, a boolean, NaN) is unreadable and reads as absent, never as an exception: one odd
frame must not stop the stream. The wire models (:mod:`brokers.ibkr.wire_ws`) read values with these
functions, so nothing past the wire layer sees a raw field.
"""

from __future__ import annotations

import math
from typing import Any

LAST_PRICE = "31"
BID_PRICE = "84"
ASK_SIZE = "85"
ASK_PRICE = "86"
BID_SIZE = "88"
LAST_SIZE = "7059"
DAY_VOLUME = "7762"
"""The day's exact cumulative volume; 87 is abbreviated ("12.5M") and too coarse for differences."""
MARK_PRICE = "7635"
AVAILABILITY = "6509"
"""Market-data availability: ``R`` real-time, ``D`` delayed, ``Z`` frozen, ``Y`` frozen delayed (then P/p, B)."""

_SUFFIX = {"K": 1e3, "M": 1e6, "B": 1e9}
_PREFIX = frozenset("CH")


def parse_price(raw: Any) -> float | None:
    """Read a price field: strips the ``C``/``H`` prefix and thousands separators; None if unreadable.

    Any value that is not a string or a number (a list, an object, a boolean) is unreadable too.
    """
    if isinstance(raw, str):
        try:
            value: float | None = float(raw)  # the common case, a plain number: no string surgery
        except ValueError:
            text = raw.strip()
            if text[:1] in _PREFIX:
                text = text[1:]
            value = _to_float(text.replace(",", ""))
    else:
        value = _number(raw)
    return value if value is not None and value > 0 and math.isfinite(value) else None


def price_flag(raw: Any) -> str:
    """The one-letter prefix of a last-price field (``C`` close, ``H`` halted), or ``""``."""
    return raw[0] if isinstance(raw, str) and raw[:1] in _PREFIX else ""


def parse_size(raw: Any) -> float | None:
    """Read a size or volume: thousands separators and ``K``/``M``/``B`` suffixes; None if unreadable.

    Any value that is not a string or a number (a list, an object, a boolean) is unreadable too.
    """
    if isinstance(raw, str):
        try:
            value: float | None = float(raw)  # the common case, a plain number: no string surgery
        except ValueError:
            value = _lenient_size(raw)
    else:
        value = _number(raw)
    return value if value is not None and value >= 0 and math.isfinite(value) else None


def _lenient_size(raw: str) -> float | None:
    text = raw.strip().replace(",", "")
    scale = _SUFFIX.get(text[-1:].upper(), 1.0)
    if scale != 1.0:
        text = text[:-1]
    value = _to_float(text)
    return value * scale if value is not None else None


def _number(raw: Any) -> float | None:
    # bool is an int subclass but never a market-data value; ints beyond float range are unreadable
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    try:
        return float(raw)
    except OverflowError:
        return None


def _to_float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
