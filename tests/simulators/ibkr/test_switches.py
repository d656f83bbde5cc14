"""Control actions and settings not covered elsewhere: maintenance, faults, pacing, stalls, warm-up, sor."""

from __future__ import annotations

import websocket

from simulators.ibkr import SimulatedGateway
from tests.simulators.ibkr.conftest import Api
from tests.simulators.ibkr.conftest import authenticated_ws
from tests.simulators.ibkr.conftest import lmt
from tests.simulators.ibkr.conftest import recv_json
from tests.simulators.ibkr.conftest import recv_until

Sockets = list[websocket.WebSocket]
SNAPSHOT = "/iserver/marketdata/snapshot"


def test_end_maintenance_lets_reauthenticate_work_before_the_window_ends(gw: SimulatedGateway, api: Api) -> None:
    gw.nightly_reset(maintenance_seconds=300)
    assert api.get("/iserver/accounts").status_code == 503
    assert gw.state()["in_maintenance"] is True
    gw.end_maintenance()
    assert gw.state()["in_maintenance"] is False
    status = api.get("/iserver/auth/status").json()
    assert (status["authenticated"], status["connected"], status["message"]) == (False, True, "")
    assert api.get("/iserver/accounts").status_code == 401  # expired, no longer 503
    assert api.post("/iserver/reauthenticate").json() == {"message": "triggered"}
    gw.advance(3)
    assert api.get("/iserver/accounts").status_code == 200


def test_clear_faults_disarms_http_faults_maintenance_and_stalls(gw: SimulatedGateway, api: Api,
                                                                 sockets: Sockets) -> None:
    ws = authenticated_ws(gw, sockets)
    gw.delay(seconds=30.0, path="/tickle")
    gw.drop_after_commit(path="/iserver/auth/status")
    gw.nightly_reset(maintenance_seconds=600)
    gw.ws_stall()
    gw.clear_faults()
    assert api.post("/tickle", timeout=5).status_code == 200  # the 30 s delay would time out
    status = api.get("/iserver/auth/status")  # the drop would raise ConnectionError
    assert status.json()["connected"] is True  # maintenance over
    assert gw.state()["in_maintenance"] is False
    ws.send("tic")
    assert recv_until(ws, lambda m: m.get("topic") == "tic", limit=3)  # the socket is no longer stalled


def test_clear_faults_counts_down_nothing_left_armed(gw: SimulatedGateway, api: Api) -> None:
    gw.drop_after_commit(path="/tickle", count=5)
    gw.clear_faults()
    for _ in range(5):
        assert api.get("/tickle").status_code == 200


def test_pacing_reset_lifts_the_penalty_box_at_once(gw: SimulatedGateway, api: Api) -> None:
    gw.configure(pacing_enabled=True)
    for _ in range(11):
        api.post("/tickle")
    assert gw.state()["penalty_box"] is True
    assert api.get("/iserver/auth/status").status_code == 429
    gw.pacing_reset()
    assert gw.state()["penalty_box"] is False
    assert api.get("/iserver/auth/status").status_code == 200  # no clock movement needed
    assert api.post("/tickle").status_code == 200  # per-endpoint windows forgotten too


def test_ws_stall_false_resumes_the_open_sockets(gw: SimulatedGateway, sockets: Sockets) -> None:
    ws = authenticated_ws(gw, sockets)
    gw.ws_stall()
    gw.advance(20)  # two heartbeats dropped, not queued
    gw.ws_stall(stalled=False)
    ws.send("ech+hb")
    assert recv_json(ws)["topic"] == "ech+hb"  # nothing from the stalled period is delivered late
    gw.advance(10)
    assert recv_json(ws)["topic"] == "system"  # heartbeats flow again


def test_snapshot_warmup_withholds_data_until_the_clock_passes_it(gw: SimulatedGateway, api: Api) -> None:
    api.prime()
    gw.configure(snapshot_warmup=2.0)
    params = {"conids": "265598", "fields": "31,84"}
    ident = [{"conid": 265598, "conidEx": "265598"}]
    assert api.get(SNAPSHOT, params=params).json() == ident  # pre-flight
    gw.advance(1.9)
    assert api.get(SNAPSHOT, params=params).json() == ident  # still warming up
    gw.advance(0.1)
    row = api.get(SNAPSHOT, params=params).json()[0]
    assert {"31", "84"} <= set(row)


def _sor_frames(ws: websocket.WebSocket) -> list[dict[str, object]]:
    """Collect ``sor`` messages up to the reply of a sentinel ``tic``."""
    ws.send("tic")
    found = []
    for _ in range(20):
        message = recv_json(ws)
        if message.get("topic") == "tic":
            return found
        if message.get("topic") == "sor":
            found.append(message)
    raise AssertionError("tic reply not received")


def _order_with_sor(gw: SimulatedGateway, api: Api, sockets: Sockets) -> websocket.WebSocket:
    api.prime()
    gw.configure(warn_no_market_data=False)
    gw.set_quote("AAPL", bid="189.90", ask="190.00", last="189.95")
    ws = authenticated_ws(gw, sockets)
    ws.send("sor+{}")
    assert _sor_frames(ws) == []
    api.get("/iserver/account/orders")  # cache warm-up
    return ws


def test_filters_silence_sor_until_force_true(gw: SimulatedGateway, api: Api, sockets: Sockets) -> None:
    ws = _order_with_sor(gw, api, sockets)
    api.get("/iserver/account/orders", params={"filters": "submitted"})
    api.place_confirmed(lmt(189.0, cOID="quiet"))
    gw.advance(0.05)
    assert _sor_frames(ws) == []
    assert api.get("/iserver/account/orders", params={"force": "true"}).json()["orders"] == []
    api.place_confirmed(lmt(189.0, cOID="loud"))
    frames = _sor_frames(ws)
    assert frames[0]["args"][0]["order_ref"] == "loud"  # type: ignore[index]
    assert [f["args"][0]["status"] for f in frames] == ["PendingSubmit", "PreSubmitted"]  # type: ignore[index]


def test_filters_do_not_silence_sor_when_switched_off(gw: SimulatedGateway, api: Api, sockets: Sockets) -> None:
    ws = _order_with_sor(gw, api, sockets)
    gw.configure(filters_silence_sor=False)
    api.get("/iserver/account/orders", params={"filters": "submitted"})
    api.place_confirmed(lmt(189.0, cOID="heard"))
    assert len(_sor_frames(ws)) == 2

