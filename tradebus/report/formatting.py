"""How the report writes numbers, money, times and durations (plain text; the page escapes it).

Durations are in human units, the two largest that apply ("3 d 4 h", "25 min", "40 s"), rounded to
the second: a drawdown or a holding time is never shown in microseconds.
"""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from decimal import Decimal

NA = "n/a"

_UNITS = (("d", 86_400), ("h", 3_600), ("min", 60), ("s", 1))


def human_duration(value: timedelta | float | None) -> str:
    """Return ``value`` (a timedelta or seconds) in its two largest units, e.g. ``3 d 4 h``, ``25 min``.

    Under a second (but not zero) reads ``< 1 s``; None reads ``n/a``.
    """
    if value is None:
        return NA
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    sign = "-" if seconds < 0 else ""
    whole = round(abs(seconds))
    if whole == 0:
        return "0 s" if seconds == 0 else "< 1 s"
    parts: list[str] = []
    for unit, size in _UNITS:
        count, whole = divmod(whole, size)
        if count or parts:
            parts.append(f"{count} {unit}")
        if len(parts) == 2:
            break
    shown = [p for p in parts if not p.startswith("0 ")]
    return sign + " ".join(shown)


def percent(value: float | None, places: int = 2) -> str:
    """A fraction as a percent (``0.0123`` -> ``1.23 %``); None -> ``n/a``."""
    return NA if value is None else f"{value * 100:,.{places}f} %"


def number(value: float | None, places: int = 2) -> str:
    """A plain number with thousands separators; None -> ``n/a``."""
    return NA if value is None else f"{value:,.{places}f}"


def money(value: Decimal | float | None, places: int = 2) -> str:
    """An amount of the account currency, e.g. ``-1,234.50``; None -> ``n/a``."""
    return NA if value is None else f"{value:,.{places}f}"


def quantity(value: Decimal) -> str:
    """A quantity in plain notation without trailing zeros (``100``, ``0.5``)."""
    text = format(value.normalize(), "f")
    return text if "." not in text else text.rstrip("0").rstrip(".")


def price(value: Decimal | float) -> str:
    """A price with at least two decimals, more when it has them (``101.25``, ``0.12345``)."""
    if isinstance(value, float):
        return f"{value:,.2f}"
    places = max(2, -min(0, value.normalize().as_tuple().exponent))  # type: ignore[operator]
    return f"{value:,.{places}f}"


def timestamp(value: datetime | float) -> str:
    """A time in UTC to the second, e.g. ``2024-01-02 14:31:00 UTC``."""
    moment = datetime.fromtimestamp(value, UTC) if isinstance(value, float | int) else value.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def iso(seconds: float) -> str:
    """Epoch seconds as the naive-UTC ISO text plotly reads as a date (``2024-01-02 14:31:00``)."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S")
