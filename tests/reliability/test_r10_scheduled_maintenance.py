"""R10: IBKR's nightly reset and weekend maintenance, on both nights the clocks change.

Scenario (reliability.md section 5, R10, in our words): the gateway's brokerage backend resets at
01:00 New York time (and is maintained at the weekend): for about 5 minutes every ``/iserver`` call
answers 503 and afterwards the session must be authenticated again. A resting order fills at IBKR
meanwhile. The adapter knows IBKR's documented schedule (:mod:`brokers.ibkr.maintenance`: North
America's daily reset window 00:15-01:45 ET Sunday to Friday, and Friday 23:00 to Saturday 03:00 ET),
in local New York time, so the windows move with daylight saving time.

Pass criteria and how each is measured (simulated clock shared by the gateway and the adapter, see
:mod:`tests.reliability.stepping`; the gateway enters its maintenance on its own clock through its
``nightly_reset_at`` / ``weekly_maintenance_at`` schedule):

* 0 order submits reach the gateway inside the blackout: a market buy is tried every 5 minutes all
  night, and an exit inside the window; the gateway's placement log shows no placement between the
  window's start and its end (which contain the gateway's 503 minutes); the entries inside it are
  denied, the exit held and sent once after it (the engine's ``hold_for`` is raised to 5 h here: by
  default an exit waits 120 s and is then denied). A placement that reaches the adapter's worker in
  the window's first instant, before its keep-alive tick has seen the window, is given back unsent
  (``test_r10_an_order_sent_in_the_first_instant_of_a_window_is_given_back_unsent``);
* errors inside the blackout do not page: the only alarm event from the window's start to its end
  is one ``BrokerDegraded`` whose reason says ``scheduled maintenance`` (no ``BrokerDisconnected``, no
  second ``BrokerDegraded``); no log record at ERROR or above all night; the adapter's own records of
  the failures it met inside the window are INFO lines saying they were expected;
* automatic recovery and reconciliation afterwards: ``BrokerConnected`` within 60 s of the window's
  end, the fill missed during the 503 minutes reported (``OrderFilled``), the held exit filled, and
  the journal equal to the gateway's ledger (every execution id once, positions, filled quantities);
* the schedule is correct on both DST nights: the gateway's reset and the adapter's window are at
  the right UTC instants on the spring-forward night (2024-03-10: 01:00 EST = 06:00 UTC, window
  05:15-06:45 UTC) and on the fall-back night (2024-11-03: 01:00 EDT = 05:00 UTC, window from
  04:15 UTC to the *second* 01:45, 06:45 UTC), and the unit checks below pin the nights around both.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from datetime import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from brokers.ibkr import IbkrConfig
from brokers.ibkr.maintenance import REGIONS
from brokers.ibkr.maintenance import MaintenanceCalendar
from brokers.ibkr.maintenance import MaintenanceWindow
from framework.config import DegradedPolicy
from framework.config import EngineConfig
from framework.events import BrokerConnected
from framework.events import BrokerDegraded
from framework.events import BrokerDisconnected
from framework.events import ClockSkewDetected
from framework.events import OrderDenied
from framework.events import OrderFilled
from framework.events import OrderHeld
from framework.models import OrderStatus
from framework.models import Side
from simulators.ibkr.scheduler import next_occurrence
from tests.reliability.stepping import SteppedRun

pytestmark = pytest.mark.ibkr_maintenance  # IBKR's documented windows, not the test suite's none

NEW_YORK = ZoneInfo("America/New_York")
ALARMS = (BrokerDegraded, BrokerDisconnected, ClockSkewDetected)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# ----------------------------------------------------------------- the schedule, on the nights around both changes


@pytest.mark.parametrize(("night", "reset", "window"), [
    # spring forward 2024-03-10 02:00 EST -> 03:00 EDT
    ("2024-03-09", "2024-03-09T06:00", None),  # Saturday: the weekend window, not the daily one
    ("2024-03-10", "2024-03-10T06:00", ("2024-03-10T05:15", "2024-03-10T06:45")),  # EST still
    ("2024-03-11", "2024-03-11T05:00", ("2024-03-11T04:15", "2024-03-11T05:45")),  # EDT
    # fall back 2024-11-03 02:00 EDT -> 01:00 EST: 01:00-01:59 happen twice
    ("2024-11-02", "2024-11-02T05:00", None),  # Saturday
    ("2024-11-03", "2024-11-03T05:00", ("2024-11-03T04:15", "2024-11-03T06:45")),  # to the second 01:45
    ("2024-11-04", "2024-11-04T06:00", ("2024-11-04T05:15", "2024-11-04T06:45")),  # EST
])
def test_r10_01_00_new_york_is_the_right_utc_instant_on_the_nights_around_both_dst_changes(
        night: str, reset: str, window: tuple[str, str] | None) -> None:
    day = datetime.fromisoformat(night).date()
    # the gateway's scheduled reset: the first 01:00 after the evening before
    evening = datetime.combine(day - timedelta(days=1), time(20, 0), tzinfo=NEW_YORK)
    # (to UTC first: Python never finds a repeated local time equal to an instant in another zone)
    assert next_occurrence(evening, time(1, 0), NEW_YORK).astimezone(UTC) == utc(reset)
    # the adapter's daily window that night (Sunday to Friday only)
    [daily, weekend] = REGIONS["north_america"]
    span = daily.occurrence(day)
    assert span == (None if window is None else (utc(window[0]), utc(window[1])))
    calendar = IbkrConfig().maintenance_calendar()
    blackout = calendar.active(utc(reset))  # the reset itself is always inside a window
    assert blackout is not None
    assert blackout.window is (daily if window is not None else weekend)


def test_r10_windows_follow_the_clock_change_within_the_night_and_the_weekend() -> None:
    calendar = MaintenanceCalendar(REGIONS["north_america"])
    # fall back: 01:30 happens at 05:30 UTC (EDT) and again at 06:30 UTC (EST); both are inside
    for instant in ("2024-11-03T05:30", "2024-11-03T06:30"):
        assert calendar.active(utc(instant)) is not None
    assert calendar.active(utc("2024-11-03T06:45")) is None
    # the weekend window: Friday 23:00 to Saturday 03:00 New York time, in EST and in EDT
    weekend = calendar.active(utc("2024-03-09T05:00"))
    assert weekend is not None
    assert (weekend.start, weekend.end) == (utc("2024-03-09T04:00"), utc("2024-03-09T08:00"))
    weekend = calendar.active(utc("2024-11-02T05:00"))
    assert weekend is not None
    assert (weekend.start, weekend.end) == (utc("2024-11-02T03:00"), utc("2024-11-02T07:00"))
    # the next one after Saturday's: Sunday night's daily reset
    following = calendar.next_blackout(utc("2024-03-09T08:00"))
    assert following is not None
    assert following.start == utc("2024-03-10T05:15")


def test_r10_windows_are_settings() -> None:
    custom = IbkrConfig.model_validate({"maintenance_windows": [
        {"name": "web api saturday", "start": "18:00", "end": "20:30", "timezone": "America/New_York",
         "weekdays": [5]}]})
    calendar = custom.maintenance_calendar()
    assert calendar.active(utc("2024-03-09T23:30")) is not None  # Saturday 18:30 EST
    assert calendar.active(utc("2024-03-10T05:30")) is None  # the default daily window is replaced
    assert IbkrConfig(maintenance_windows=()).maintenance_calendar().active(utc("2024-03-10T05:30")) is None
    europe = IbkrConfig(maintenance_region="europe").maintenance_calendar()
    assert europe.active(utc("2024-07-01T23:00")) is not None  # 01:00 CEST: the Client Portal reset
    with pytest.raises(ValueError, match="unknown time zone"):
        MaintenanceWindow(name="x", start=time(1), end=time(2), timezone="Mars/Olympus_Mons")


# ----------------------------------------------------------------- a night against the gateway


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    return tmp_path / "journal.sqlite"


def stepped(journal: Path, start: datetime, gateway: dict[str, Any]) -> SteppedRun:
    hold_all_night = EngineConfig(raise_errors=True, order_id_prefix="R",
                                  degraded=DegradedPolicy(hold_for=timedelta(hours=5)))
    return SteppedRun(journal, start=start, gateway=gateway, engine=hold_all_night)


@pytest.fixture
def runs() -> Iterator[list[SteppedRun]]:
    made: list[SteppedRun] = []
    yield made
    for run in made:
        run.close()


def live_through_a_window(run: SteppedRun, *, window: tuple[datetime, datetime], reset: datetime,
                          reset_seconds: float) -> None:
    """Trade through one maintenance window and check every R10 criterion."""
    start, end = window
    run.quote("189.90", "190.00")
    run.start()
    opening = run.submit(Side.BUY, 20)
    resting = run.submit(Side.BUY, 10, limit=Decimal("185.00"))
    run.run_until(lambda: run.engine.portfolio.quantity("AAPL") == 20, "the opening fill", limit=10, step=0.2)

    entries: list[tuple[datetime, str]] = []

    def trade_until(when: datetime, step: float) -> None:
        # a market buy every 5 minutes, whatever the hour
        while run.clock.now() < when:
            if not entries or run.clock.now() - entries[-1][0] >= timedelta(minutes=5):
                entries.append((run.clock.now(), run.submit(Side.BUY, 1)))
            run.run_to(min(when, run.clock.now() + timedelta(minutes=5)), step)

    trade_until(start - timedelta(seconds=5), step=30)
    run.run_to(start - timedelta(seconds=1), step=0.5)
    seq_at_start = run.gw.state()["request_seq"]
    run.run_to(start + timedelta(seconds=1), step=0.2)
    [degraded] = [e for e in run.recorder.of(BrokerDegraded) if e.ts >= start - timedelta(seconds=1)]
    assert degraded.reason.startswith("scheduled maintenance: "), degraded.reason
    assert start <= degraded.ts <= start + timedelta(seconds=0.4), (degraded.ts, start)

    trade_until(start + timedelta(minutes=10), step=30)
    exit_ = run.submit(Side.SELL, 10)
    assert not run.gw.state()["in_maintenance"]
    trade_until(reset - timedelta(seconds=2), step=30)
    run.run_to(reset - timedelta(seconds=1), step=0.5)
    assert not run.gw.state()["in_maintenance"]
    run.run_to(reset + timedelta(seconds=1), step=0.5)
    assert run.gw.state()["in_maintenance"]  # the gateway's own clock put it there, at the right instant
    run.quote("184.80", "184.90")  # the resting buy fills at IBKR while /iserver answers 503
    run.run_to(reset + timedelta(seconds=reset_seconds - 1), step=5)
    assert run.gw.state()["in_maintenance"]
    trade_until(end - timedelta(seconds=5), step=30)
    run.run_to(end - timedelta(seconds=0.5), step=0.5)
    seq_at_end = run.gw.state()["request_seq"]
    assert run.placements_after(seq_at_start) == []  # none from the window's start to its end

    run.run_until(lambda: any(e.ts >= end for e in run.recorder.of(BrokerConnected)),
                  "BrokerConnected after the window", limit=90, step=0.2)
    came_back = (min(e.ts for e in run.recorder.of(BrokerConnected) if e.ts >= end) - end).total_seconds()
    assert came_back <= 60.0
    print(f"R10: degraded {(degraded.ts - start).total_seconds():.1f} s after the window opened, connected "
          f"{came_back:.1f} s after it closed")

    def settled() -> bool:
        orders = [run.engine.orders.get(cid) for cid in (resting, exit_)]
        return all(o is not None and o.status is OrderStatus.FILLED for o in orders)

    run.run_until(settled, "the missed fill and the held exit", limit=30, step=0.2)
    trade_until(end + timedelta(minutes=6), step=30)  # trading goes on after the window
    run.run_for(5, step=0.5)

    # no order reached the gateway inside the window; the exit went out once, after it
    assert run.placements_after(seq_at_end).count(exit_) == 1
    inside = [cid for at, cid in entries if start <= at < end]
    outside = [cid for at, cid in entries if not start <= at < end]
    assert inside, "no entry was tried inside the window"
    denied = {e.client_order_id for e in run.recorder.of(OrderDenied)}
    assert set(inside) <= denied
    assert {cid for cid in outside if (o := run.engine.orders.get(cid)) and o.status is OrderStatus.FILLED} == \
        set(outside)
    assert [h.client_order_id for h in run.recorder.of(OrderHeld)] == [exit_]

    # nothing paged: one BrokerDegraded naming the maintenance, from the window's start to its end
    alarms = [e for e in run.recorder.events if isinstance(e, ALARMS) and start <= e.ts < end]
    assert alarms == [degraded]
    assert run.logs.between(run.clock.now() - timedelta(days=1), run.clock.now(), logging.ERROR) == []
    adapter_lines = [r for r in run.logs.between(start, end) if r.name.startswith("brokers.ibkr")
                     and r.levelno >= logging.INFO]
    expected = [r for r in adapter_lines if "expected during scheduled maintenance" in r.getMessage()]
    assert expected, "the adapter met no failure inside the window (did the gateway reset?)"
    assert [r for r in adapter_lines if r.levelno >= logging.WARNING] == []

    # recovered and reconciled: the fill missed during the 503 minutes is in the books
    assert resting in {e.client_order_id for e in run.recorder.of(OrderFilled)}
    assert opening in {e.client_order_id for e in run.recorder.of(OrderFilled)}
    run.ledger_matches_journal()


@pytest.mark.parametrize(("evening", "window", "reset"), [
    ("2024-03-10T05:05", ("2024-03-10T05:15", "2024-03-10T06:45"), "2024-03-10T06:00"),  # spring forward night
    ("2024-11-03T04:05", ("2024-11-03T04:15", "2024-11-03T06:45"), "2024-11-03T05:00"),  # fall back night
], ids=["spring-forward", "fall-back"])
def test_r10_the_nightly_reset_blacks_out_orders_pages_nobody_and_is_reconciled(
        journal: Path, runs: list[SteppedRun], evening: str, window: tuple[str, str], reset: str) -> None:
    gateway = {"nightly_reset_at": "01:00", "nightly_reset_timezone": "America/New_York",
               "nightly_maintenance_seconds": 300}
    run = stepped(journal, utc(evening), gateway)
    runs.append(run)
    live_through_a_window(run, window=(utc(window[0]), utc(window[1])), reset=utc(reset), reset_seconds=300)


def test_r10_the_weekend_maintenance_blacks_out_orders_pages_nobody_and_is_reconciled(
        journal: Path, runs: list[SteppedRun]) -> None:
    # Saturday 2024-03-09 00:30 EST = 05:30 UTC, inside Friday 23:00 - Saturday 03:00 New York time
    gateway = {"weekly_maintenance_at": "00:30", "weekly_maintenance_weekday": 5,
               "weekly_maintenance_timezone": "America/New_York", "weekly_maintenance_seconds": 300}
    run = stepped(journal, utc("2024-03-09T03:50"), gateway)
    runs.append(run)
    live_through_a_window(run, window=(utc("2024-03-09T04:00"), utc("2024-03-09T08:00")),
                          reset=utc("2024-03-09T05:30"), reset_seconds=300)


def test_r10_an_order_sent_in_the_first_instant_of_a_window_is_given_back_unsent(
        journal: Path, runs: list[SteppedRun]) -> None:
    run = stepped(journal, utc("2024-03-11T04:10"), {})  # Monday 00:10 EDT; the window opens at 04:15 UTC
    runs.append(run)
    run.quote("189.90", "190.00")
    run.start()
    run.run_to(utc("2024-03-11T04:14:59.9"), step=5)
    assert run.broker.connection_state == "connected"
    seq = run.gw.state()["request_seq"]
    run.gw.advance(0.1)  # 00:15:00 EDT, before the adapter's next tick has seen the window
    cid = run.submit(Side.BUY, 1)  # the engine still sees a connected broker and sends it
    assert run.broker.outstanding_commands == 1
    run.broker.run_commands()  # the worker judges the window on the clock, not on the last tick
    run.settle()
    [denied] = run.recorder.of(OrderDenied)
    assert denied.client_order_id == cid
    assert "not sent: scheduled maintenance: daily reset (North America) 00:15-01:45" in denied.reason
    assert run.placements_after(seq) == []
