"""R21: this machine's clock is 10 minutes off the gateway's, then it is stepped by 20 minutes mid-run.

Scenario (reliability.md section 5, R21, in our words): the wall clock of the machine running the
adapter is 10 minutes ahead of the gateway's, and an NTP correction (or an operator) then steps it
20 minutes back, to 10 minutes behind, while the adapter trades. Monotonic time runs on undisturbed,
as it does on a real machine.

Pass criteria and how each is measured (simulated clock for the gateway; the adapter and the engine
on a :class:`~framework.testing.SkewedClock` over it: the same monotonic time, a wall time the test
skews and steps; see :mod:`tests.reliability.stepping`):

* 0 spurious stall resets or timeouts, i.e. the adapter times everything on the monotonic clock:
  across both wall-clock steps the stream never reconnects (its watchdog fires after 25 s without a
  frame), no ``BrokerDegraded`` / ``BrokerDisconnected`` is announced, the keep-alive ``/tickle``
  keeps its 55 s spacing (measured at the gateway's clock from the adapter's requests: every gap
  between 50 and 61 s, none right after a step), the websocket ``tic`` goes on, and orders placed
  after each step are acknowledged and filled (no order lookup timed out, none declared lost);
* a skew alarm is raised: ``ClockSkewDetected`` (gateway minus local, from the gateway's heartbeat
  stamps) with ``skew`` within 1 s (a heartbeat is read up to one step late) of the true -600.3 s after
  the first step and of +599.7 s after the second, a WARNING line for each, and none while the clocks
  agree (a 0.3 s offset over the first 2 minutes) nor from heartbeats read late;
* all stored timestamps stay aware UTC: every journal row (order rows, event rows, fills) and every
  event the engine published.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import pytest

from brokers.ibkr.clockskew import ClockSkewMonitor
from framework.events import BrokerDegraded
from framework.events import BrokerDisconnected
from framework.events import ClockSkewDetected
from framework.events import OrderFilled
from framework.events import OrderRejected
from framework.models import Side
from tests.reliability.stepping import SteppedRun

START = datetime(2024, 3, 5, 15, 0, tzinfo=UTC)  # a Tuesday, 10:00 in New York: no maintenance window
TEN_MINUTES = timedelta(minutes=10)


@pytest.fixture
def run(tmp_path: Path) -> Iterator[SteppedRun]:
    stepped = SteppedRun(tmp_path / "journal.sqlite", start=START, skew=timedelta(seconds=0.3))
    try:
        yield stepped
    finally:
        stepped.close()


def tickles(run: SteppedRun) -> list[float]:
    return [at for at, method, path in run.requests if path == "/tickle"]


def buy_and_wait(run: SteppedRun) -> str:
    cid = run.submit(Side.BUY, 1)
    run.run_until(lambda: cid in {e.client_order_id for e in run.recorder.of(OrderFilled)}, f"{cid} filled",
                  limit=10, step=0.2)
    return cid


def test_r21_a_skewed_and_stepped_wall_clock_raises_the_alarm_and_disturbs_no_timing(run: SteppedRun) -> None:
    run.quote("189.90", "190.00")
    run.start()
    run.run_for(120, step=1)  # clocks agree (0.3 s): no alarm
    assert run.recorder.of(ClockSkewDetected) == []
    buy_and_wait(run)

    run.local.jump(TEN_MINUTES)  # this machine now runs 10 minutes ahead of the gateway
    first_step = run.clock.monotonic()
    run.run_for(90, step=1)
    assert len(run.recorder.of(ClockSkewDetected)) == 1  # raised within 90 s of the step
    buy_and_wait(run)
    run.local.jump(-2 * TEN_MINUTES)  # stepped back: 10 minutes behind
    second_step = run.clock.monotonic()
    run.run_for(90, step=1)
    assert len(run.recorder.of(ClockSkewDetected)) == 2
    buy_and_wait(run)
    run.run_for(60, step=2)

    # the alarm: one per step, with the skew it measured, and a warning each
    alarms = run.recorder.of(ClockSkewDetected)
    assert len(alarms) == 2, alarms
    assert all(a.threshold == 15.0 and a.source == "websocket heartbeat" for a in alarms)
    # local offsets +600.3 s, then -599.7 s; a heartbeat is read up to one 1 s step late
    assert -601.3 <= alarms[0].skew <= -600.3, alarms[0]
    assert 598.7 <= alarms[1].skew <= 599.7, alarms[1]
    warnings = [r.getMessage() for _, r in run.logs.records
                if r.name == "brokers.ibkr.clockskew" and r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert " s behind this machine's" in warnings[0]
    assert " s ahead of this machine's" in warnings[1]

    # no timing disturbed: no stall reset, no state change, keep-alive at its interval across both steps
    assert run.broker.stream.reconnects == 0
    assert run.recorder.of(BrokerDegraded) == []
    assert run.recorder.of(BrokerDisconnected) == []
    assert run.recorder.of(OrderRejected) == []
    gaps = [b - a for a, b in zip(tickles(run), tickles(run)[1:], strict=False)]
    assert len(gaps) >= 5
    assert all(50 <= gap <= 61 for gap in gaps), gaps
    print(f"R21: skew alarms {[a.skew for a in alarms]} s; tickle gaps {sorted({round(g) for g in gaps})} s")
    for step in (first_step, second_step):
        assert not [at for at in tickles(run) if step <= at < step + 5]  # no keep-alive fired by the step
    assert run.broker.stream.state == "open"
    run.ledger_matches_journal()

    # every stored time stamp is aware UTC
    for event in run.recorder.events:
        assert event.ts.utcoffset() == timedelta(0), event  # None for a naive time
    with sqlite3.connect(run.journal.path) as db:
        stamps = [row[0] for row in db.execute("SELECT created FROM orders UNION ALL SELECT updated FROM orders "
                                                "UNION ALL SELECT ts FROM order_events UNION ALL SELECT ts FROM fills")]
    assert len(stamps) > 10
    for stamp in stamps:
        parsed = datetime.fromisoformat(stamp)
        assert parsed.utcoffset() == timedelta(0), stamp
    for fill in run.journal.fills():
        assert fill.ts.utcoffset() == timedelta(0)


def test_r21_late_heartbeats_raise_no_alarm_a_real_skew_does_once() -> None:
    monitor = ClockSkewMonitor("ibkr", threshold=15.0)
    for n in range(30):  # a stream thread that reads only every 30 s: heartbeats up to 30 s late, in bursts
        sent = START + timedelta(seconds=10 * n + 1)
        read = START + timedelta(seconds=30 * (n // 3 + 1) + 0.2)
        assert monitor.observe(int(sent.timestamp() * 1000), read) == []
    assert monitor.skew is not None
    assert abs(monitor.skew) < 10  # the freshest heartbeat of the last minute (9.2 s late)
    skewed = ClockSkewMonitor("ibkr", threshold=15.0)
    alarms = [a for n in range(12) for a in skewed.observe(
        int((START + timedelta(seconds=10 * n)).timestamp() * 1000), START + timedelta(seconds=10 * n + 20.1))]
    assert [round(a.skew, 1) for a in alarms] == [-20.1]  # once, not once per heartbeat
    off = ClockSkewMonitor("ibkr", threshold=None)
    assert off.observe(0, START) == []
