"""Exchange trading hours: pre-market, regular and after-hours sessions, holidays and early closes.

One calendar answers "is this market open, and until when?" for every part that must agree on it:
the paper venue (which fills only inside the sessions an order allows, and expires ``DAY`` orders at
their session's end, in backtests too), the simulated IBKR gateway (its sessions, frozen quotes and
broker-initiated ``DAY`` cancels) and the IBKR adapter (which tells such a cancel from one it asked
for). It lives in ``framework`` so the simulator can share it without importing an adapter.

Holidays and early closes are data, maintained upstream: with the ``calendars`` extra installed
(``pip install 'tradebus[calendars]'``) they come from the ``exchange-calendars`` library, the only
place that library is imported. Without it every weekday is a full trading day, and one log line
says so and how to install the extra.

Sessions of a US equity trading day, in New York time (``zoneinfo``, so both DST changes hold):

=============  ========================  =========================================================
phase          default                   notes
=============  ========================  =========================================================
pre-market     04:00 - regular open
regular        09:30 - 16:00             open and close from the calendar (early close e.g. 13:00)
after-hours    regular close - 20:00     ends four hours after an early close (13:00 -> 17:00)
closed         the rest                  weekends and holidays all day
=============  ========================  =========================================================

Every time is an aware UTC ``datetime``; windows are half-open ``[start, end)``. Lookups cache the
last window, so asking about consecutive times in one session costs two comparisons.
"""

from __future__ import annotations

import logging
import threading
import warnings
from dataclasses import dataclass
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta
from enum import StrEnum
from functools import cache
from typing import Any
from typing import NamedTuple
from typing import Protocol
from zoneinfo import ZoneInfo

log = logging.getLogger(__name__)

INSTALL_HINT = "install the calendars extra: pip install 'tradebus[calendars]'"
_SEARCH_DAYS = 31  # no market closes for longer than this (the longest US closure was four days)


class SessionPhase(StrEnum):
    """Where a time falls in an exchange's trading day."""

    CLOSED = "closed"
    PRE_MARKET = "pre_market"
    REGULAR = "regular"
    AFTER_HOURS = "after_hours"

    @property
    def extended(self) -> bool:
        """Pre-market or after-hours: open to orders that may trade outside regular hours."""
        return self is SessionPhase.PRE_MARKET or self is SessionPhase.AFTER_HOURS


OUTSIDE_RTH_ORDER_TYPES = frozenset({"limit", "stop_limit"})
"""Order types (``framework.models.OrderType`` values) that may trade in pre-market and after-hours
sessions: IBKR's rule for US stocks, where ``outsideRTH`` on a market or stop order is ignored."""


def trades_outside_rth(outside_rth: bool, order_type: str) -> bool:
    """Whether an order may trade outside regular hours: ``outside_rth`` set on a type that allows it."""
    return outside_rth and order_type in OUTSIDE_RTH_ORDER_TYPES


def allowed(phase: SessionPhase, outside_rth: bool) -> bool:
    """Whether an order may trade in ``phase``: regular hours, or extended ones when ``outside_rth``."""
    return phase is SessionPhase.REGULAR or (outside_rth and phase.extended)


class SessionDay(NamedTuple):
    """One trading day's boundaries (UTC).

    Attributes:
        day: The exchange's local date.
        pre_open: Start of the pre-market session.
        open: Start of regular trading.
        close: End of regular trading (earlier on an early-close day).
        post_close: End of the after-hours session.
        early_close: Regular trading ends before the usual time.
    """

    day: date
    pre_open: datetime
    open: datetime
    close: datetime
    post_close: datetime
    early_close: bool


class SessionWindow(NamedTuple):
    """A stretch of time with one phase: ``phase`` holds for ``start <= t < end``."""

    phase: SessionPhase
    start: datetime
    end: datetime


@dataclass(frozen=True)
class ExchangeSpec:
    """The fixed parts of an exchange's trading day.

    Attributes:
        code: Calendar code in ``exchange-calendars`` (``XNYS``).
        name: Human name for messages.
        zone: IANA time zone of the local times.
        pre_open: Local start of the pre-market session.
        open: Usual local regular open (used without the calendar data).
        close: Usual local regular close (used without the calendar data).
        post_close: Local end of the after-hours session on a full day.
    """

    code: str
    name: str
    zone: str
    pre_open: time
    open: time
    close: time
    post_close: time

    @property
    def tz(self) -> ZoneInfo:
        """The exchange's time zone."""
        return ZoneInfo(self.zone)


US_EQUITIES = ExchangeSpec("XNYS", "New York Stock Exchange", "America/New_York",
                           time(4, 0), time(9, 30), time(16, 0), time(20, 0))
"""US stocks and ETFs (NYSE, Nasdaq, NYSE Arca and IBKR's SMART routing share one calendar)."""

US_VENUES = frozenset({
    "", "SMART", "NYSE", "NASDAQ", "NASDAQ.NMS", "NMS", "ISLAND", "ARCA", "NYSE ARCA", "AMEX", "NYSE AMERICAN",
    "BATS", "BYX", "EDGEA", "EDGX", "IEX", "DRCTEDGE", "BEX", "CHX", "PSX", "XNYS", "XNAS", "ARCX", "XASE",
})
"""Exchange names (IBKR's and ISO MICs) that trade on the US equity calendar."""


class RegularHours(Protocol):
    """Where a day's regular session comes from: holiday data, or the weekday rule."""

    def regular(self, day: date) -> tuple[datetime, datetime] | None:
        """``(open, close)`` in UTC of ``day``'s regular session, or None when there is none."""
        ...


class WeekdayHours:
    """Every weekday is a full day at the spec's usual times; no holidays, no early closes.

    Args:
        spec: The exchange.
    """

    def __init__(self, spec: ExchangeSpec) -> None:
        self._spec = spec
        self._tz = spec.tz

    def regular(self, day: date) -> tuple[datetime, datetime] | None:
        """The usual open and close on a weekday; None on Saturday and Sunday."""
        if day.weekday() >= 5:
            return None
        return _utc(day, self._spec.open, self._tz), _utc(day, self._spec.close, self._tz)


class CalendarHours:
    """Regular sessions from ``exchange-calendars`` (holidays and early closes included).

    The schedule is loaded once per span of years, on first use, and widened when a date outside
    it is asked for. A date the library cannot answer for (before its calendar's first day) falls
    back to the weekday rule, logged once.

    Args:
        spec: The exchange (``spec.code`` names the library's calendar).
        library: The imported ``exchange_calendars`` module.
    """

    def __init__(self, spec: ExchangeSpec, library: Any) -> None:
        self._spec = spec
        self._library = library
        self._lock = threading.Lock()
        self._days: dict[date, tuple[datetime, datetime]] = {}
        self._span: tuple[date, date] | None = None
        self._fallback = WeekdayHours(spec)
        self._warned = False

    def regular(self, day: date) -> tuple[datetime, datetime] | None:
        """The calendar's open and close of ``day``; None on a weekend or holiday."""
        span = self._span
        if span is None or not span[0] <= day <= span[1]:
            with self._lock:
                if not self._load_around(day):
                    return self._fallback.regular(day)
        return self._days.get(day)

    def _load_around(self, day: date) -> bool:
        # the caller holds the lock; widen the loaded span to cover ``day`` (with years to spare)
        span = self._span
        if span is not None and span[0] <= day <= span[1]:
            return True
        first = min(day.replace(month=1, day=1) - timedelta(days=366 * 5), span[0] if span else day)
        last = max(day.replace(month=12, day=31) + timedelta(days=366 * 2), span[1] if span else day)
        try:
            schedule = _schedule(self._library, self._spec.code, first, last)
        except Exception as e:  # noqa: BLE001 - any failure of the data library: fall back, loudly
            if not self._warned:
                self._warned = True
                log.warning("trading hours: no %s calendar data around %s (%s); that date follows weekdays only",
                            self._spec.code, day, e)
            return False
        self._days = schedule
        self._span = (first, last)
        return True


def _schedule(library: Any, code: str, first: date, last: date) -> dict[date, tuple[datetime, datetime]]:
    # exchange-calendars on newer pandas emits deprecation warnings from inside the library; they are
    # not ours to fix and must not turn into errors where warnings are errors (the test suite)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        calendar = library.get_calendar(code, start=first.isoformat(), end=last.isoformat())
        schedule = calendar.schedule
        rows = zip(schedule.index, schedule["open"], schedule["close"], strict=True)
        return {
            session.date(): (opens.to_pydatetime().astimezone(UTC), closes.to_pydatetime().astimezone(UTC))
            for session, opens, closes in rows
        }


class TradingHours:
    """One exchange's trading days and sessions.

    Thread-safe: lookups only add to caches (assignments of immutable values).

    Args:
        spec: The exchange's fixed times.
        source: Regular sessions per day (holiday data, or every weekday).
    """

    def __init__(self, spec: ExchangeSpec, source: RegularHours) -> None:
        self.spec = spec
        self.zone = spec.tz
        self.source = source
        self._days: dict[date, SessionDay | None] = {}
        never = (datetime.max.replace(tzinfo=UTC), datetime.min.replace(tzinfo=UTC))  # an empty window
        self._last = SessionWindow(SessionPhase.CLOSED, *never)
        # (asked at, answer) per outside_rth: the end after t is also the end after any later time before it
        self._ends = {False: never, True: never}

    def day(self, day: date) -> SessionDay | None:
        """The sessions of a local date, or None when the exchange does not trade that day."""
        if day in self._days:
            return self._days[day]
        regular = self.source.regular(day)
        found = None
        if regular is not None:
            open_, close = regular
            usual_close = _utc(day, self.spec.close, self.zone)
            usual_post_close = _utc(day, self.spec.post_close, self.zone)
            # after-hours trading lasts as long after an early close as after a full day, at most
            post_close = min(usual_post_close, close + (usual_post_close - usual_close))
            pre_open = min(_utc(day, self.spec.pre_open, self.zone), open_)
            found = SessionDay(day, pre_open, open_, close, post_close, close < usual_close)
        self._days[day] = found
        return found

    def window(self, ts: datetime) -> SessionWindow:
        """The phase at ``ts`` and the stretch of time it lasts (never crossing local midnight)."""
        last = self._last
        if last.start <= ts < last.end:
            return last
        local_day = ts.astimezone(self.zone).date()
        midnight = _utc(local_day, time(0), self.zone)
        next_midnight = _utc(local_day + timedelta(days=1), time(0), self.zone)
        found = SessionWindow(SessionPhase.CLOSED, midnight, next_midnight)
        sessions = self.day(local_day)
        if sessions is not None:
            bounds = (midnight, sessions.pre_open, sessions.open, sessions.close, sessions.post_close, next_midnight)
            phases = (SessionPhase.CLOSED, SessionPhase.PRE_MARKET, SessionPhase.REGULAR, SessionPhase.AFTER_HOURS,
                      SessionPhase.CLOSED)
            for phase, start, end in zip(phases, bounds, bounds[1:], strict=False):
                if start <= ts < end:
                    found = SessionWindow(phase, start, end)
                    break
        self._last = found
        return found

    def phase(self, ts: datetime) -> SessionPhase:
        """The session phase at ``ts``."""
        return self.window(ts).phase

    def is_open(self, ts: datetime, outside_rth: bool = False) -> bool:
        """Whether an order may trade at ``ts`` (regular hours; extended ones too when ``outside_rth``)."""
        return allowed(self.window(ts).phase, outside_rth)

    def next_change(self, ts: datetime) -> datetime:
        """The first phase boundary strictly after ``ts`` (or the next local midnight)."""
        return self.window(ts).end

    def next_open(self, ts: datetime, outside_rth: bool = False) -> datetime:
        """The earliest time at or after ``ts`` at which an order may trade.

        Raises:
            ValueError: If the exchange does not open within a month (a broken calendar).
        """
        when = ts
        for _ in range(_SEARCH_DAYS * 6):
            window = self.window(when)
            if allowed(window.phase, outside_rth):
                return when
            when = window.end
        msg = f"{self.spec.name} does not open within {_SEARCH_DAYS} days of {ts.isoformat()}"
        raise ValueError(msg)

    def overlaps(self, start: datetime, end: datetime, outside_rth: bool = False) -> bool:
        """Whether an order may trade at some time in ``[start, end)`` (an intraday bar's interval)."""
        window = self.window(start)
        if allowed(window.phase, outside_rth):
            return True
        return window.end < end and self.next_open(window.end, outside_rth) < end

    def session_end_after(self, ts: datetime, outside_rth: bool = False) -> datetime:
        """When a ``DAY`` order entered at ``ts`` expires: the first session end strictly after ``ts``.

        The end is the regular close, or the end of after-hours trading for an order that may trade
        outside regular hours. An order entered after that end belongs to the next trading day.

        Raises:
            ValueError: If no trading day follows within a month (a broken calendar).
        """
        asked, answer = self._ends[outside_rth]
        if asked <= ts < answer:
            return answer
        end = self._end_after(ts, outside_rth)
        self._ends[outside_rth] = (ts, end)
        return end

    def _end_after(self, ts: datetime, outside_rth: bool) -> datetime:
        day = ts.astimezone(self.zone).date()
        for offset in range(_SEARCH_DAYS):
            sessions = self.day(day + timedelta(days=offset))
            if sessions is not None:
                end = sessions.post_close if outside_rth else sessions.close
                if end > ts:
                    return end
        msg = f"{self.spec.name} has no trading day within {_SEARCH_DAYS} days of {ts.isoformat()}"
        raise ValueError(msg)


def _utc(day: date, at: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def calendar_library() -> Any | None:
    """The ``exchange_calendars`` module, or None when the ``calendars`` extra is not installed."""
    try:
        import exchange_calendars  # noqa: PLC0415 - optional: imported only when trading hours are first needed
    except ImportError:
        return None
    return exchange_calendars


@cache
def _hours(spec: ExchangeSpec) -> TradingHours:
    library = calendar_library()
    if library is None:
        log.warning("trading hours: exchange-calendars is not installed, so %s trades every weekday (no "
                    "holidays, no early closes); %s", spec.name, INSTALL_HINT)
        return TradingHours(spec, WeekdayHours(spec))
    return TradingHours(spec, CalendarHours(spec, library))


@cache
def _unknown_venue(exchange: str) -> None:
    log.warning("trading hours: no calendar for exchange %r; using the %s's", exchange, US_EQUITIES.name)


def hours_for(exchange: str | None = None) -> TradingHours:
    """The trading hours of an exchange (IBKR name or MIC); the US equity calendar for US venues.

    An exchange without a calendar of its own gets the US one, logged once per name. One instance
    per calendar is shared process-wide (its caches with it).
    """
    name = (exchange or "").strip().upper()
    if name not in US_VENUES:
        _unknown_venue(name)
    return _hours(US_EQUITIES)
