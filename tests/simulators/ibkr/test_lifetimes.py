"""Clock-driven session limits: the scheduled nightly reset and the SSO lifetime."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import time
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import websocket

from simulators.ibkr import SimulatedGateway
from simulators.ibkr import SimulatorConfig
from simulators.ibkr.scheduler import next_occurrence
from tests.simulators.ibkr.conftest import Api
from tests.simulators.ibkr.conftest import authenticated_ws
from tests.simulators.ibkr.conftest import recv_json

Sockets = list[websocket.WebSocket]
NEW_YORK = ZoneInfo("America/New_York")
# Long enough that neither the idle timeout nor the SSO lifetime interferes over a simulated day; rare
# heartbeats and P&L pushes keep a day-long advance to a few hundred scheduler steps.
QUIET = {"idle_timeout": 10 * 86400.0, "sso_lifetime": 10 * 86400.0, "heartbeat_interval": 3600.0,
         "spl_interval": 3600.0}


def seconds_until(gw: SimulatedGateway, hour: int, zone: ZoneInfo) -> float:
    """Clock seconds from now until the next ``hour``:00 local time in ``zone``."""
    now = gw.clock.now()
    local = now.astimezone(zone)
    target = datetime(local.year, local.month, local.day, hour, tzinfo=zone)
    if target <= local:
        target = datetime.combine(local.date() + timedelta(days=1), time(hour), tzinfo=zone)
    return (target - now).total_seconds()


def test_nightly_reset_is_off_by_default(gw: SimulatedGateway, api: Api) -> None:
    assert SimulatorConfig().nightly_reset_at is None
    gw.configure(**QUIET)
    gw.advance(seconds_until(gw, 1, NEW_YORK) + 1)
    assert api.get("/iserver/auth/status").json()["authenticated"] is True


def test_scheduled_nightly_reset_fires_when_the_clock_passes_it(gw: SimulatedGateway, api: Api) -> None:
    api.prime()
    gw.configure(nightly_reset_at="01:00", **QUIET)
    until = seconds_until(gw, 1, NEW_YORK)
    gw.advance(until - 1)
    assert api.get("/iserver/auth/status").json()["authenticated"] is True
    gw.advance(2)
    status = api.get("/iserver/auth/status").json()
    assert (status["authenticated"], status["connected"]) == (False, False)
    assert api.get("/iserver/accounts").status_code == 503
    gw.advance(300)  # nightly_maintenance_seconds
    api.post("/iserver/reauthenticate")
    gw.advance(3)
    assert api.get("/iserver/auth/status").json()["authenticated"] is True
    assert api.get("/iserver/account/orders").json()["error"] == "please query /accounts first"
    # ...and again the next night, not before.
    api.prime()
    gw.advance(seconds_until(gw, 1, NEW_YORK) - 1)
    assert api.get("/iserver/accounts").status_code == 200
    gw.advance(2)
    assert api.get("/iserver/accounts").status_code == 503


def test_nightly_reset_time_zone_and_window_are_settings(gw: SimulatedGateway, api: Api,
                                                         sockets: Sockets) -> None:
    hong_kong = ZoneInfo("Asia/Hong_Kong")
    gw.configure(nightly_reset_at="01:00", nightly_reset_timezone="Asia/Hong_Kong",
                 nightly_maintenance_seconds=60, **QUIET)
    ws = authenticated_ws(gw, sockets)
    gw.advance(seconds_until(gw, 1, hong_kong) + 1)
    assert recv_until_sts(ws) == {"authenticated": False}
    assert gw.state()["in_maintenance"] is True
    gw.advance(60)
    assert gw.state()["in_maintenance"] is False


def recv_until_sts(ws: websocket.WebSocket) -> dict[str, object]:
    """Skip heartbeats queued while the clock moved; return the first ``sts`` args."""
    for _ in range(50):
        message = recv_json(ws)
        if message.get("topic") == "sts":
            return message["args"]  # type: ignore[no-any-return]
    raise AssertionError("no sts push")


def test_unknown_nightly_reset_time_zone_is_refused(gw: SimulatedGateway) -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        gw.configure(nightly_reset_at="01:00", nightly_reset_timezone="Mars/Olympus_Mons")


def test_next_occurrence_follows_daylight_saving_time() -> None:
    at = time(1, 0)
    before = datetime(2024, 3, 9, 12, 0, tzinfo=UTC)  # US clocks spring forward on 10 March
    first = next_occurrence(before, at, NEW_YORK)
    assert first == datetime(2024, 3, 10, 6, 0, tzinfo=UTC)  # 01:00 EST
    second = next_occurrence(first, at, NEW_YORK)
    assert second == datetime(2024, 3, 11, 5, 0, tzinfo=UTC)  # 01:00 EDT, 23 hours later
    assert next_occurrence(first - timedelta(seconds=1), at, NEW_YORK) == first


def test_sso_lifetime_ends_the_session_when_sso_expires_reaches_zero(gw: SimulatedGateway, api: Api,
                                                                     sockets: Sockets) -> None:
    gw.configure(sso_lifetime=120)
    ws = authenticated_ws(gw, sockets)
    gw.advance(119)
    assert api.post("/tickle").json()["ssoExpires"] == 1000
    gw.advance(1)
    assert recv_until_sts(ws) == {"authenticated": False}
    assert ws.recv_data(control_frame=True)[0] == websocket.ABNF.OPCODE_CLOSE
    assert gw.state()["session_state"] == "logged_out"
    assert api.post("/tickle").status_code == 401
    assert api.get("/sso/validate").status_code == 401
    gw.login()
    assert api.post("/tickle").json()["ssoExpires"] == 120_000


def test_sso_lifetime_enforcement_is_a_setting(gw: SimulatedGateway, api: Api) -> None:
    gw.configure(sso_lifetime=120, enforce_sso_lifetime=False)
    gw.advance(200)  # past the SSO lifetime, inside the 300 s idle timeout
    body = api.post("/tickle").json()
    assert body["ssoExpires"] == 0
    assert body["iserver"]["authStatus"]["authenticated"] is True
