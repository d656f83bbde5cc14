"""Timestamp cells of bar files into epoch seconds (the pure-Python parser).

Accepted forms (a bar's *start*):

* ISO 8601 with an offset: ``2024-01-02T14:30:00Z``, ``2024-01-02 09:30:00-05:00``;
* ISO 8601 without an offset, ``2024-01-02 09:30:00``: local time of the ``tz`` option, refused without it;
* a date, ``2024-01-02`` or ``20240102``: a daily bar starting at midnight of that date in ``tz``, or
  at 00:00 UTC when no ``tz`` is given;
* IBKR TWS dates, ``20240102  09:30:00`` (local time of ``tz``) or ``20240102 09:30:00 US/Eastern``
  (local time of the zone named);
* whole epoch seconds, ``1704205800`` (TWS ``formatDate=2``), and ``datetime``/``date`` cells
  (Parquet).

Local times are converted with :mod:`zoneinfo`: a time repeated when the clocks go back reads as the
first of the two; a time skipped when they go forward is an error.
"""

from __future__ import annotations

import re
from datetime import UTC
from datetime import date
from datetime import datetime
from zoneinfo import ZoneInfo
from zoneinfo import ZoneInfoNotFoundError

from framework.errors import ConfigError

_TWS = re.compile(r"(\d{4})(\d{2})(\d{2})\s+(\d{2}:\d{2}:\d{2})(?:\s+(\S+))?")
NAIVE_HINT = 'pass tz (e.g. tz="America/New_York"; --tz on the command line) or write it with an offset (...Z)'


def zone(name: str | None) -> ZoneInfo | None:
    """The time zone called ``name`` (IANA, e.g. ``America/New_York``), or None for None.

    Raises:
        ConfigError: If there is no such zone.
    """
    if name is None:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        msg = f"unknown time zone {name!r} (use an IANA name such as America/New_York or UTC)"
        raise ConfigError(msg, key="tz") from e


def parse_timestamp(text: str) -> int:
    """Parse an ISO-8601 timestamp with a UTC offset into whole epoch seconds.

    Raises:
        ValueError: If it is malformed, has no offset, or has a fraction of a second.
    """
    return TimeParser(None)(text)


class TimeParser:
    """Turns timestamp cells (see the module docstring) into whole epoch seconds.

    Args:
        tz: Zone of timestamps written without an offset and of dates; None refuses local times and
            reads dates as UTC.
    """

    def __init__(self, tz: str | None) -> None:
        self.zone = zone(tz)
        self._last: tuple[object, int] = ("", 0)

    def __call__(self, cell: object) -> int:
        """Epoch seconds of the bar start in ``cell``.

        Raises:
            ValueError: Naming the cell and what is wrong with it.
        """
        last, value = self._last
        if cell == last:  # interleaved symbols repeat each timestamp
            return value
        if type(cell) is str:
            aware = self._aware(cell)
            value = aware if aware is not None else self._text(cell.strip())
        elif isinstance(cell, datetime):
            value = self._datetime(cell, str(cell))
        elif isinstance(cell, date):
            value = self._date(cell)
        elif isinstance(cell, int) and not isinstance(cell, bool):
            value = cell
        else:
            msg = f"timestamp {cell!r} is not a date or time"
            raise ValueError(msg)
        self._last = (cell, value)
        return value

    @staticmethod
    def _aware(text: str) -> int | None:
        # the common case, ISO 8601 with an offset, in C; anything else goes the long way
        try:
            ts = datetime.fromisoformat(text)
        except ValueError:
            return None
        return None if ts.tzinfo is None or ts.microsecond else int(ts.timestamp())

    def _text(self, text: str) -> int:
        if text.isdigit():
            if len(text) == 8:
                return self._date(date(int(text[:4]), int(text[4:6]), int(text[6:])))
            return int(text)
        tws = _TWS.fullmatch(text)
        if tws is not None:
            year, month, day, clock, name = tws.groups()
            naive = datetime.fromisoformat(f"{year}-{month}-{day}T{clock}")
            return self._datetime(naive.replace(tzinfo=zone(name)) if name else naive, text)
        if len(text) == 10:
            return self._date(date.fromisoformat(text))
        return self._datetime(datetime.fromisoformat(text), text)

    def _datetime(self, ts: datetime, text: str) -> int:
        if ts.tzinfo is None:
            if self.zone is None:
                msg = f"timestamp {text!r} has no timezone: {NAIVE_HINT}"
                raise ValueError(msg)
            ts = self._localize(ts, text)
        if ts.microsecond:
            msg = f"timestamp {text!r} has a fraction of a second"
            raise ValueError(msg)
        return int(ts.timestamp())

    def _localize(self, naive: datetime, text: str) -> datetime:
        aware = naive.replace(tzinfo=self.zone)
        if aware.astimezone(UTC).astimezone(self.zone).replace(tzinfo=None) != naive:
            msg = f"local time {text!r} does not exist in {self.zone} (the clocks moved forward)"
            raise ValueError(msg)
        return aware

    def _date(self, day: date) -> int:
        midnight = datetime(day.year, day.month, day.day)  # noqa: DTZ001 - localized just below
        if self.zone is None:
            return int(midnight.replace(tzinfo=UTC).timestamp())
        return int(self._localize(midnight, day.isoformat()).timestamp())
