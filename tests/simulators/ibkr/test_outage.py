"""A gateway that goes down and comes back (take_down / bring_up), and the weekly scheduled maintenance."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from datetime import time
from zoneinfo import ZoneInfo

import pytest
import requests
import websocket

from framework.clock import SimulatedClock
from simulators.ibkr import SimulatedGateway
from simulators.ibkr.scheduler import next_occurrence
from tests.simulators.ibkr.conftest import BASE_CONFIG
from tests.simulators.ibkr.conftest import Api
from tests.simulators.ibkr.conftest import authenticated_ws
from tests.simulators.ibkr.conftest import lmt

NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
def own() -> Iterator[SimulatedGateway]:
    clock = SimulatedClock(datetime(2024, 3, 5, 15, 0, tzinfo=UTC))
    config = BASE_CONFIG.with_updates({"warn_no_market_data": False, "warn_marketable": False})
    with SimulatedGateway(port=0, config=config, clock=clock) as gw:
        yield gw


def read_until_closed(ws: websocket.WebSocket) -> None:
    for _ in range(20):  # anything queued before the reset may come first
        ws.recv()


def test_a_gateway_down_refuses_and_resets_while_ibkr_goes_on_and_comes_back_with_a_new_session(
        own: SimulatedGateway) -> None:
    api = Api(own)
    sockets: list[websocket.WebSocket] = []
    try:
        api.prime()
        own.set_quote("AAPL", bid="189.90", ask="190.00", last="189.95")
        [ack] = api.place_confirmed(lmt(185.0))
        own.advance(1)
        ws = authenticated_ws(own, sockets)
        before = own.session_id

        own.take_down()
        assert not own.listening
        with pytest.raises(websocket.WebSocketException):
            read_until_closed(ws)  # the open socket was reset
        with pytest.raises(requests.ConnectionError):
            api.get("/iserver/accounts")  # refused: nobody listens
        own.set_quote("AAPL", bid="184.80", ask="184.90", last="184.85")  # IBKR's market goes on ...
        own.advance(30)
        ledger = own.ledger()  # ... and so do the orders resting there
        assert [e["order_id"] for e in ledger["executions"]] == [int(ack["order_id"])]
        assert ledger["positions"] == {"AAPL": "10"}

        own.bring_up("expired")
        assert own.listening
        assert own.session_id != before
        status = api.get("/iserver/auth/status").json()
        assert status["authenticated"] is False  # a restarted gateway's session must be re-authenticated
        api.post("/iserver/reauthenticate")
        own.advance(3)
        assert api.get("/iserver/auth/status").json()["authenticated"] is True
        assert api.get("/iserver/account/orders").json()["error"] == "please query /accounts first"  # priming lost
        api.prime()
        # the fill of a previous session's order is IBKR's: the trades list it
        trades = api.get("/iserver/account/trades").json()
        assert [t["execution_id"] for t in trades] == [e["execution_id"] for e in ledger["executions"]]
    finally:
        for ws in sockets:
            ws.shutdown()  # type: ignore[no-untyped-call]
        api.close()


def test_the_weekly_maintenance_resets_the_session_on_its_day_only(own: SimulatedGateway) -> None:
    api = Api(own)
    try:
        api.prime()
        own.configure(weekly_maintenance_at="00:30", weekly_maintenance_weekday=5, idle_timeout=10 * 86400.0,
                      sso_lifetime=10 * 86400.0, heartbeat_interval=3600.0, spl_interval=3600.0)
        # Tuesday 15:00 UTC -> Saturday 2024-03-09 00:30 EST = 05:30 UTC (no reset on the nights between)
        saturday = datetime(2024, 3, 9, 5, 30, tzinfo=UTC)
        own.advance((saturday - own.clock.now()).total_seconds() - 1)
        assert own.state()["in_maintenance"] is False
        assert api.get("/iserver/auth/status").json()["authenticated"] is True
        own.advance(2)
        assert own.state()["in_maintenance"] is True
        assert api.get("/iserver/accounts").status_code == 503
        own.advance(300)  # weekly_maintenance_seconds
        assert own.state()["in_maintenance"] is False
    finally:
        api.close()


@pytest.mark.parametrize(("after", "expected"), [
    ("2024-03-05T15:00", "2024-03-09T05:30"),  # Saturday 00:30 EST
    ("2024-03-09T05:31", "2024-03-16T04:30"),  # a week on, 00:30 EDT
    ("2024-10-28T00:00", "2024-11-02T04:30"),  # Saturday 00:30 EDT, the day before the clocks go back
])
def test_next_occurrence_on_a_weekday_follows_daylight_saving_time(after: str, expected: str) -> None:
    start = datetime.fromisoformat(after).replace(tzinfo=UTC)
    due = next_occurrence(start, time(0, 30), NEW_YORK, weekday=5)
    assert due.astimezone(UTC) == datetime.fromisoformat(expected).replace(tzinfo=UTC)
