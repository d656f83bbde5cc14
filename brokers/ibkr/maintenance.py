"""IBKR's scheduled maintenance: when the gateway is expected to be unusable, on the local time of its region.

IBKR resets its systems every night and maintains them at the weekend. Its system status page lists,
per region (the region the account's login is served from):

========================= ================================= ==========================================
region                    daily reset (Sunday to Friday)    weekend maintenance (every region)
========================= ================================= ==========================================
North America             00:15 - 01:45 ET                  Friday 23:00 ET - Saturday 03:00 ET
Europe                    06:25 - 07:45 CET
Asia-Pacific              04:45 - 06:05 HKT, 20:15 - 21:15
========================= ================================= ==========================================

and the Client Portal documentation adds the reset of the brokerage backend (``/iserver``) at about
01:00 local region time (01:00 US/Eastern, 01:00 CEST, 01:00 HKT): ``/iserver`` answers 503 or
"no bridge" for a few minutes and the session must be authenticated again. Each is a
:class:`MaintenanceWindow` of local wall times in an IANA zone, so the windows follow daylight
saving time; :data:`REGIONS` holds them per region, and
:attr:`~brokers.ibkr.config.IbkrConfig.maintenance_windows` replaces them (the Web API's
"Saturday evening" maintenance is documented without hours: add a window for it once observed).

A window covers every instant its local clock can be read as inside it: it starts at the *earliest*
reading of its start time and ends at the *latest* reading of its end time. On the night the clocks
go back, 01:45 happens twice and the window runs to the second; a time the clocks skip (02:30 on the
night they go forward) is read both ways as well. The schedule is judged on the adapter's wall clock
(:class:`MaintenanceCalendar` is pure: the caller passes the time).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field
from pydantic import field_validator

from framework.config import FrozenConfig
from framework.config import TimeZoneName

SUNDAY_TO_FRIDAY = frozenset({6, 0, 1, 2, 3, 4})
"""Weekdays (Monday = 0 ... Sunday = 6) of IBKR's daily resets."""

Region = Literal["north_america", "europe", "asia_pacific", "none"]
"""The IBKR regions with a documented maintenance schedule (``none``: a gateway without one, a simulator)."""


class MaintenanceWindow(FrozenConfig):
    """A recurring window of scheduled maintenance, in the local time of a zone.

    Attributes:
        name: What it is, for log lines and ``BrokerDegraded`` reasons.
        start: Local wall time it begins.
        end: Local wall time it ends; not after ``start`` means on the next day (at most 24 hours).
        timezone: IANA zone of ``start`` and ``end`` (``America/New_York``).
        weekdays: Days it begins on (Monday = 0 ... Sunday = 6), in the zone's local calendar.
    """

    name: str = Field(min_length=1)
    start: time
    end: time
    timezone: TimeZoneName
    weekdays: frozenset[int] = frozenset(range(7))

    @field_validator("weekdays")
    @classmethod
    def _check_weekdays(cls, value: frozenset[int]) -> frozenset[int]:
        if not value or not value <= frozenset(range(7)):
            msg = "weekdays must be a non-empty set of 0 (Monday) ... 6 (Sunday)"
            raise ValueError(msg)
        return value

    def occurrence(self, day: date) -> tuple[datetime, datetime] | None:
        """The window beginning on local ``day`` as UTC ``(start, end)``, or None if it does not begin then."""
        if day.weekday() not in self.weekdays:
            return None
        zone = ZoneInfo(self.timezone)
        end_day = day if self.end > self.start else day + timedelta(days=1)
        return _earliest(day, self.start, zone), _latest(end_day, self.end, zone)

    def containing(self, now: datetime) -> tuple[datetime, datetime] | None:
        """The occurrence ``now`` (aware) falls in, as UTC ``(start, end)``, or None."""
        local = now.astimezone(ZoneInfo(self.timezone)).date()
        for day in (local - timedelta(days=1), local):  # a window lasts at most a day
            span = self.occurrence(day)
            if span is not None and span[0] <= now < span[1]:
                return span
        return None

    def describe(self) -> str:
        """``daily reset (North America) 00:15-01:45 America/New_York``."""
        days = "" if self.weekdays == frozenset(range(7)) else f" on {_days(self.weekdays)}"
        return f"{self.name} {self.start:%H:%M}-{self.end:%H:%M} {self.timezone}{days}"


def _earliest(day: date, wall: time, zone: ZoneInfo) -> datetime:
    # both readings of a repeated (or skipped) local time; the earlier one
    return min(datetime.combine(day, wall, tzinfo=zone).replace(fold=f).astimezone(UTC) for f in (0, 1))


def _latest(day: date, wall: time, zone: ZoneInfo) -> datetime:
    return max(datetime.combine(day, wall, tzinfo=zone).replace(fold=f).astimezone(UTC) for f in (0, 1))


_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _days(weekdays: frozenset[int]) -> str:
    return ",".join(_DAY_NAMES[d] for d in sorted(weekdays))


@dataclass(frozen=True, slots=True)
class Blackout:
    """One occurrence of a maintenance window.

    Attributes:
        window: The window.
        start: When it began (aware UTC).
        end: When it ends (aware UTC).
    """

    window: MaintenanceWindow
    start: datetime
    end: datetime

    def describe(self) -> str:
        """The reason given while it lasts: ``scheduled maintenance: <window> (until <end, UTC>)``."""
        return f"scheduled maintenance: {self.window.describe()} (until {self.end.isoformat()})"


class MaintenanceCalendar:
    """The scheduled maintenance windows of one gateway.

    Args:
        windows: The windows; none means the gateway is never expected to be down.
    """

    def __init__(self, windows: Iterable[MaintenanceWindow]) -> None:
        self.windows = tuple(windows)

    def active(self, now: datetime) -> Blackout | None:
        """The window ``now`` (aware) falls in (the one ending last if several do), or None."""
        found: Blackout | None = None
        for window in self.windows:
            span = window.containing(now)
            if span is not None and (found is None or span[1] > found.end):
                found = Blackout(window, *span)
        return found

    def next_blackout(self, after: datetime) -> Blackout | None:
        """The first window beginning after ``after`` (aware) within eight days, or None."""
        local_days = {after.astimezone(ZoneInfo(w.timezone)).date() for w in self.windows}
        found: Blackout | None = None
        for window in self.windows:
            for first in local_days:
                for offset in range(-1, 9):
                    span = window.occurrence(first + timedelta(days=offset))
                    if span is not None and span[0] > after and (found is None or span[0] < found.start):
                        found = Blackout(window, *span)
        return found


def _window(name: str, start: str, end: str, zone: str,
            weekdays: frozenset[int] = SUNDAY_TO_FRIDAY) -> MaintenanceWindow:
    return MaintenanceWindow(name=name, start=time.fromisoformat(start), end=time.fromisoformat(end), timezone=zone,
                             weekdays=weekdays)


WEEKEND = _window("weekend maintenance", "23:00", "03:00", "America/New_York", frozenset({4}))
"""Friday 23:00 to Saturday 03:00 US/Eastern, in every region."""

REGIONS: dict[Region, tuple[MaintenanceWindow, ...]] = {
    "north_america": (
        _window("daily reset (North America)", "00:15", "01:45", "America/New_York"),  # /iserver ~01:00 inside
        WEEKEND,
    ),
    "europe": (
        _window("Client Portal reset (Europe)", "00:45", "01:15", "Europe/Zurich", frozenset(range(7))),
        _window("daily reset (Europe)", "06:25", "07:45", "Europe/Zurich"),
        WEEKEND,
    ),
    "asia_pacific": (
        _window("Client Portal reset (Asia-Pacific)", "00:45", "01:15", "Asia/Hong_Kong", frozenset(range(7))),
        _window("first daily reset (Asia-Pacific)", "04:45", "06:05", "Asia/Hong_Kong"),
        _window("second daily reset (Asia-Pacific)", "20:15", "21:15", "Asia/Hong_Kong"),
        WEEKEND,
    ),
    "none": (),
}
"""IBKR's documented maintenance windows per region (see the module docstring)."""
