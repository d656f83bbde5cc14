"""R7: the gateway restarts mid-session, down for 30 s, and three orders fill while it is down.

Scenario (reliability.md section 5, R7, in our words): the Client Portal gateway process goes away
for 30 s (connections refused, the open websocket and keep-alive connections reset) and comes back
with a new session id whose brokerage session must be re-authenticated, and with none of the old
websocket subscriptions. Meanwhile IBKR's side goes on: three limit orders resting there fill while
the adapter cannot hear it.

Pass criteria and how each is measured (on the simulated clock shared by the gateway and the adapter,
see :mod:`tests.reliability.stepping`; the adapter runs with its production timings: keep-alive 55 s,
back-off 1 s doubling to 60 s, re-authentication polled every second, and the gateway takes 3 s to
re-authenticate):

* ``BrokerDegraded`` or ``BrokerDisconnected`` within 2 s of the gateway going down: the first such
  event's time stamp minus the moment of ``take_down``, stepped at 0.2 s (the keep-alive tick's
  period);
* new orders fail fast while it is down: an order that opens exposure is ``OrderDenied`` at once with
  a reason naming the broker's state, an exit (it only reduces the position) is ``OrderHeld`` under the
  default ``DegradedPolicy``; neither reaches the gateway while it is down (its placement log);
* ``BrokerConnected`` within 60 s of the gateway being back (time stamp minus ``bring_up``);
* the three fills missed while down are reconciled: each order ends ``FILLED`` in the engine, and the
  journal holds every execution id of the gateway's ledger exactly once (0 lost, 0 duplicated);
* open orders reconciled: every order's filled quantity in the journal equals the ledger's, and the
  held exit is sent exactly once, after ``BrokerConnected``;
* positions equal the ledger (the engine's portfolio, and the adapter's own read of IBKR);
* the subscriptions the restart dropped are back: quotes flow again.

Found on the way (``test_r07_a_stale_session_id_is_answered_once_and_reconnects_wait_for_the_session``):
the stream reconnected to the restarted gateway with the old session id while the session was still
down, and answered every "waiting for session" with that id again: a ping-pong at network speed
until the session recovered. Now a socket answers once, then is dropped, and reconnects pause until
the session is ready.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from brokers.ibkr.stream import IbkrStream
from framework.events import BrokerConnected
from framework.events import BrokerDegraded
from framework.events import BrokerDisconnected
from framework.events import Event
from framework.events import OrderAccepted
from framework.events import OrderDenied
from framework.events import OrderFilled
from framework.events import OrderHeld
from framework.events import QuoteUpdated
from framework.models import OrderStatus
from framework.models import Side
from framework.testing import FakeClock
from tests.brokers.ibkr.fakes import FakeWsFactory
from tests.brokers.ibkr.fakes import fixture
from tests.brokers.ibkr.fakes import make_config
from tests.reliability.stepping import SteppedRun

START = datetime(2024, 3, 5, 15, 0, tzinfo=UTC)  # a Tuesday, 10:00 in New York: no maintenance window
DOWN_FOR = 30.0
RESTING = (Decimal("185.00"), Decimal("184.50"), Decimal("184.00"))


@pytest.fixture
def run(tmp_path: Path) -> Iterator[SteppedRun]:
    stepped = SteppedRun(tmp_path / "journal.sqlite", start=START)
    try:
        yield stepped
    finally:
        stepped.close()


def first_after(run: SteppedRun, kinds: tuple[type[Event], ...], since: datetime) -> datetime | None:
    stamps = [e.ts for e in run.recorder.events if isinstance(e, kinds) and e.ts >= since]
    return min(stamps, default=None)


def test_r07_a_gateway_down_30s_with_three_fills_is_detected_held_and_reconciled(run: SteppedRun) -> None:
    run.quote("189.90", "190.00")
    run.start()
    opening = run.submit(Side.BUY, 30)
    run.run_until(lambda: run.engine.portfolio.quantity("AAPL") == 30, "the opening fill", limit=10, step=0.2)
    resting = [run.submit(Side.BUY, 10, limit=price) for price in RESTING]
    run.run_until(lambda: len(run.recorder.of(OrderAccepted)) == 4, "the resting orders accepted", limit=10,
                  step=0.2)
    session_before = run.gw.session_id

    # down: connections refused and reset; IBKR goes on
    went_down = run.clock.now()
    run.gw.take_down()
    run.run_until(lambda: first_after(run, (BrokerDegraded, BrokerDisconnected), went_down) is not None,
                  "an alarm", limit=5, step=0.2)
    alarm_at = first_after(run, (BrokerDegraded, BrokerDisconnected), went_down)
    assert alarm_at is not None
    detected = (alarm_at - went_down).total_seconds()
    assert detected <= 2.0, f"degraded {detected:.1f} s after the gateway went down"

    seq = run.gw.state()["request_seq"]
    entry = run.submit(Side.BUY, 5)
    exit_ = run.submit(Side.SELL, 10)
    run.step(0.2)
    [denied] = run.recorder.of(OrderDenied)
    [held] = run.recorder.of(OrderHeld)
    assert denied.client_order_id == entry
    assert denied.reason.startswith(("broker ibkr is disconnected", "broker ibkr is degraded")), denied.reason
    assert "new exposure is not held" in denied.reason
    assert (held.client_order_id, held.command) == (exit_, "submit")

    run.quote("183.40", "183.50")  # the three resting buys fill at IBKR while the gateway is down
    assert len(run.gw.ledger()["executions"]) == 4
    run.run_for(DOWN_FOR - (run.clock.now() - went_down).total_seconds(), step=0.5)
    assert run.placements_after(seq) == []  # nothing reached the gateway while it was down
    assert not run.gw.listening

    # back: a new session that must be re-authenticated, no subscriptions
    came_back = run.clock.now()
    run.gw.bring_up("expired")
    assert run.gw.session_id != session_before
    run.run_until(lambda: first_after(run, (BrokerConnected,), came_back) is not None, "BrokerConnected",
                  limit=90, step=0.2)
    connected_at = first_after(run, (BrokerConnected,), came_back)
    assert connected_at is not None
    recovered = (connected_at - came_back).total_seconds()
    assert recovered <= 60.0, f"connected {recovered:.1f} s after the gateway came back"

    def settled() -> bool:
        orders = [run.engine.orders.get(cid) for cid in [*resting, exit_]]
        return all(o is not None and o.status is OrderStatus.FILLED for o in orders)

    run.run_until(settled, "the missed fills and the held exit", limit=30, step=0.2)
    quotes = len(run.recorder.of(QuoteUpdated))
    run.quote("183.60", "183.70")
    run.run_until(lambda: len(run.recorder.of(QuoteUpdated)) > quotes, "quotes again", limit=5, step=0.2)

    fills = {e.client_order_id for e in run.recorder.of(OrderFilled)}
    assert fills == {opening, *resting, exit_}
    assert run.placements_after(seq) == [exit_]  # the exit went out once, after the gateway was back
    exit_sent = max(at for at, method, path in run.requests if method == "POST" and path.endswith("/orders"))
    assert exit_sent >= (connected_at - START).total_seconds()
    run.ledger_matches_journal()
    assert run.engine.portfolio.quantity("AAPL") == 50
    assert {p.symbol: p.quantity for p in run.broker.positions()} == {"AAPL": Decimal(50)}
    assert run.broker.stream.state == "open"
    print(f"R7: degraded after {detected:.1f} s, connected {recovered:.1f} s after the gateway came back")


def test_r07_a_stale_session_id_is_answered_once_and_reconnects_wait_for_the_session() -> None:
    clock = FakeClock()
    factory = FakeWsFactory()
    stream = IbkrStream(make_config(reconnect_initial=1, reconnect_max=8), clock, factory, rng=random.Random(1))
    stream.open("old-session")
    conn = factory.last
    conn.push(fixture("ws_waiting_for_session"), fixture("ws_waiting_for_session"), fixture("ws_waiting_for_session"))
    for _ in range(5):
        stream.poll()
    assert conn.sent == ['{"session": "old-session"}']  # answered once, not once per question
    assert conn.closed
    assert stream.state == "closed"

    stream.pause_reconnects(True)  # what the link does while the session is not ready
    clock.advance(timedelta(seconds=60))
    stream.tick(clock.monotonic())
    assert len(factory.connections) == 1  # no attempt with an id the gateway refuses

    stream.open("new-session")  # the session recovered: connect at once with the new id
    assert len(factory.connections) == 2
    assert factory.cookies[-1] == 'api={"session":"new-session"}'
