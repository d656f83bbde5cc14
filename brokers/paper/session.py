"""Session closes for DAY orders: the first weekday close after a time, in the venue's zone."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import time
from datetime import timedelta
from zoneinfo import ZoneInfo


def session_close_after(ts: datetime, close: time, zone: ZoneInfo) -> datetime:
    """The first weekday session close strictly after ``ts``, in UTC (holidays are not known)."""
    local = ts.astimezone(zone)
    day = local.date()
    if local >= datetime.combine(day, close, tzinfo=zone):
        day += timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime.combine(day, close, tzinfo=zone).astimezone(UTC)


class SessionCalendar:
    """Answers "when does the session of this time close?", caching the last answer.

    The close after ``t`` is also the close after any later time before it, so one cached
    (asked at, answer) pair serves every order of a session (zoneinfo arithmetic costs ~5 µs).

    Args:
        close: Local closing time.
        zone: The venue's time zone.
    """

    def __init__(self, close: time, zone: ZoneInfo) -> None:
        self.close = close
        self.zone = zone
        self._asked = datetime.max.replace(tzinfo=UTC)
        self._answer = datetime.min.replace(tzinfo=UTC)

    def close_after(self, ts: datetime) -> datetime:
        """The first session close strictly after ``ts`` (UTC)."""
        if not self._asked <= ts < self._answer:
            self._asked, self._answer = ts, session_close_after(ts, self.close, self.zone)
        return self._answer
