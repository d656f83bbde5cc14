"""Every fault switch of the control API, driven through the Python methods and over HTTP."""

from __future__ import annotations

import json

import pytest
import requests
import websocket

from simulators.ibkr import SimulatedGateway
from tests.simulators.ibkr.conftest import ACCOUNT
from tests.simulators.ibkr.conftest import Api
from tests.simulators.ibkr.conftest import authenticated_ws
from tests.simulators.ibkr.conftest import lmt
from tests.simulators.ibkr.conftest import open_ws
from tests.simulators.ibkr.conftest import recv_json
from tests.simulators.ibkr.conftest import recv_until

Sockets = list[websocket.WebSocket]


def test_expire_pushes_sts_and_blocks_iserver(gw: SimulatedGateway, api: Api, sockets: Sockets) -> None:
    ws = authenticated_ws(gw, sockets)
    gw.expire()
    assert recv_json(ws) == {"topic": "sts", "args": {"authenticated": False}}
    assert api.get("/iserver/accounts").status_code == 401


def test_competing_pushes_sts_competing(gw: SimulatedGateway, sockets: Sockets) -> None:
    ws = authenticated_ws(gw, sockets)
    gw.compete()
    assert recv_json(ws) == {"topic": "sts", "args": {"competing": True}}
    assert recv_json(ws) == {"topic": "sts", "args": {"authenticated": False}}


def test_logout_closes_sockets(gw: SimulatedGateway, sockets: Sockets) -> None:
    ws = authenticated_ws(gw, sockets)
    gw.logout()
    assert recv_json(ws)["args"] == {"authenticated": False}
    assert ws.recv_data(control_frame=True)[0] == websocket.ABNF.OPCODE_CLOSE


def test_close_ws_on_auth_loss_setting(gw: SimulatedGateway, sockets: Sockets) -> None:
    gw.configure(close_ws_on_auth_loss=True)
    ws = authenticated_ws(gw, sockets)
    gw.expire()
    recv_json(ws)
    assert ws.recv_data(control_frame=True)[0] == websocket.ABNF.OPCODE_CLOSE


def test_nightly_reset_maintenance_503_then_reauth(gw: SimulatedGateway, api: Api) -> None:
    api.prime()
    gw.nightly_reset(maintenance_seconds=300)
    response = api.get("/iserver/accounts")
    assert response.status_code == 503
    assert response.json()["statusCode"] == 503
    assert api.post("/iserver/reauthenticate").status_code == 503
    status = api.get("/iserver/auth/status").json()
    assert status["authenticated"] is False
    assert status["connected"] is False
    gw.advance(301)
    api.post("/iserver/reauthenticate")
    gw.advance(3)
    assert api.get("/iserver/auth/status").json()["authenticated"] is True
    assert api.get("/iserver/account/orders").json()["error"] == "please query /accounts first"


def test_ws_drop_abort_without_close_frame(gw: SimulatedGateway, sockets: Sockets) -> None:
    ws = authenticated_ws(gw, sockets)
    gw.ws_drop()
    with pytest.raises((websocket.WebSocketConnectionClosedException, ConnectionError)):
        ws.recv()


def test_ws_drop_with_close_frame(gw: SimulatedGateway, sockets: Sockets) -> None:
    ws = authenticated_ws(gw, sockets)
    gw.ws_drop(mode="close")
    opcode, _ = ws.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE


def test_ws_stall_silences_everything_including_heartbeats(gw: SimulatedGateway, sockets: Sockets) -> None:
    ws = authenticated_ws(gw, sockets)
    gw.ws_stall()
    gw.advance(30)
    ws.send("tic")
    ws.settimeout(0.3)
    with pytest.raises(websocket.WebSocketTimeoutException):
        ws.recv()
    fresh = authenticated_ws(gw, sockets)  # new connections are healthy
    gw.advance(10)
    assert recv_json(fresh)["topic"] == "system"


def test_restart_gives_new_session_id_and_drops_sockets(gw: SimulatedGateway, api: Api, sockets: Sockets) -> None:
    api.prime()
    old = gw.session_id
    ws = authenticated_ws(gw, sockets)
    gw.restart()
    assert gw.session_id != old
    with pytest.raises((websocket.WebSocketConnectionClosedException, ConnectionError)):
        ws.recv()
    assert api.post("/tickle").json()["session"] == gw.session_id
    assert api.get("/iserver/account/orders").status_code == 500  # priming lost
    stale = open_ws(gw, sockets, cookie=None)
    recv_json(stale)
    stale.send(json.dumps({"session": old}))
    assert recv_json(stale) == {"message": "waiting for session"}


def test_restart_into_logged_out(gw: SimulatedGateway, api: Api) -> None:
    gw.restart(state="logged_out")
    assert api.get("/iserver/auth/status").status_code == 401


def test_delay_past_client_timeout_still_commits(gw: SimulatedGateway, api: Api) -> None:
    api.prime()
    gw.configure(warn_no_market_data=False)
    gw.delay(seconds=1.0, path=f"/iserver/account/{ACCOUNT}/orders", method="POST")
    with pytest.raises(requests.exceptions.ReadTimeout):
        api.post(f"/iserver/account/{ACCOUNT}/orders", json={"orders": [lmt(185.0, cOID="slow-1")]}, timeout=0.3)
    assert gw.state()["orders"] == 1
    body = api.place(lmt(185.0, cOID="slow-1")).json()
    assert "already registered" in body["error"]


def test_commit_then_drop_connection(gw: SimulatedGateway, api: Api) -> None:
    api.prime()
    gw.configure(warn_no_market_data=False)
    gw.drop_after_commit(path=f"/iserver/account/{ACCOUNT}/orders")
    assert gw.state()["armed"] == {"delays": 0, "drops": 1, "holds": 0}
    with pytest.raises(requests.exceptions.ConnectionError):
        api.place(lmt(185.0, cOID="lost-1"))
    assert gw.state()["armed"] == {"delays": 0, "drops": 0, "holds": 0}  # the rule fired
    assert gw.state()["orders"] == 1
    api.get("/iserver/account/orders")
    orders = api.get("/iserver/account/orders").json()["orders"]
    assert [o["order_ref"] for o in orders] == ["lost-1"]


@pytest.mark.parametrize("kind", ["invalid_utf8", "truncated_json", "not_json", "binary_garbage", "unknown_topic"])
def test_malformed_frames_reach_client_and_stream_continues(gw: SimulatedGateway, sockets: Sockets,
                                                            kind: str) -> None:
    ws = open_ws(gw, sockets, skip_utf8_validation=True)
    for _ in range(4):
        recv_json(ws)
    gw.ws_malformed(kind=kind)
    _, data = ws.recv_data()
    if kind == "unknown_topic":
        assert json.loads(data)["topic"] == "zzz"
    else:
        with pytest.raises(ValueError, match=r"(codec|Expecting|Unterminated|Extra data)"):
            json.loads(data.decode("utf-8"))
    ws.send("tic")
    assert recv_until(ws, lambda m: m.get("topic") == "tic")["topic"] == "tic"


def test_invalid_utf8_breaks_strict_clients(gw: SimulatedGateway, sockets: Sockets) -> None:
    ws = authenticated_ws(gw, sockets)
    gw.ws_malformed(kind="invalid_utf8")
    with pytest.raises(websocket.WebSocketPayloadException):
        ws.recv()


def test_http_control_api_and_errors(gw: SimulatedGateway, api: Api) -> None:
    url = gw.root_url + "/sim/control/"
    assert api.session.post(url + "compete", json={}, timeout=10).json()["session_state"] == "competing"
    assert api.session.post(url + "set_session", json={"state": "authenticated"}, timeout=10).status_code == 200
    bad = api.session.post(url + "no_such_action", json={}, timeout=10)
    assert bad.status_code == 400
    assert "unknown control action" in bad.json()["error"]
    bad_config = api.session.post(url + "configure", json={"idle_timeout": -1}, timeout=10)
    assert bad_config.status_code == 400
    assert api.session.get(gw.root_url + "/sim/state", timeout=10).json()["session_state"] == "authenticated"


def test_bad_requests_never_crash(api: Api) -> None:
    api.prime()
    assert api.post("/iserver/reply/nope", data=b"\xff\xfe", headers={"Content-Type": "application/json"}
                    ).status_code == 400
    assert api.post("/iserver/questions/suppress", json={"messageIds": "o163"}).status_code == 400
    assert api.get("/iserver/account/order/status/abc").status_code == 400
    assert api.get("/iserver/marketdata/history", params={"conid": "x"}).status_code == 400
    assert api.post("/iserver/secdef/search", json=[1, 2]).status_code == 400
    assert api.get("/iserver/auth/status").status_code == 200
