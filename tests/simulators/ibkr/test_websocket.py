"""Websocket: both auth ways, greeting, heartbeat on the clock, smd deltas, sor/str/spl, tic/ech."""

from __future__ import annotations

import json

import websocket

from simulators.ibkr import SimulatedGateway
from tests.simulators.ibkr.conftest import AAPL
from tests.simulators.ibkr.conftest import ACCOUNT
from tests.simulators.ibkr.conftest import Api
from tests.simulators.ibkr.conftest import authenticated_ws
from tests.simulators.ibkr.conftest import lmt
from tests.simulators.ibkr.conftest import mkt
from tests.simulators.ibkr.conftest import open_ws
from tests.simulators.ibkr.conftest import recv_json
from tests.simulators.ibkr.conftest import recv_until

Sockets = list[websocket.WebSocket]


def test_cookie_auth_sends_sts_system_act(gw: SimulatedGateway, sockets: Sockets) -> None:
    ws = open_ws(gw, sockets, cookie="raw")
    assert recv_json(ws) == {"topic": "sts", "args": {"authenticated": True}}
    assert recv_json(ws)["success"] == "simuser1"
    act = recv_json(ws)
    assert act["topic"] == "act"
    assert act["args"]["accounts"] == [ACCOUNT]
    assert recv_json(ws) == {"topic": "sts", "args": {"competing": False}}


def test_json_cookie_form_is_accepted(gw: SimulatedGateway, sockets: Sockets) -> None:
    ws = open_ws(gw, sockets, cookie="json")
    assert recv_json(ws)["args"] == {"authenticated": True}


def test_session_message_auth_after_waiting(gw: SimulatedGateway, sockets: Sockets) -> None:
    ws = open_ws(gw, sockets, cookie=None)
    assert recv_json(ws) == {"message": "waiting for session"}
    ws.send("smd+265598+{}")
    assert recv_json(ws) == {"message": "waiting for session"}
    ws.send(json.dumps({"session": gw.session_id}))
    assert recv_json(ws)["topic"] == "sts"


def test_wrong_session_keeps_waiting(gw: SimulatedGateway, sockets: Sockets) -> None:
    ws = open_ws(gw, sockets, cookie=None)
    recv_json(ws)
    ws.send(json.dumps({"session": "0" * 32}))
    assert recv_json(ws) == {"message": "waiting for session"}


def test_heartbeat_every_ten_seconds_of_clock(gw: SimulatedGateway, sockets: Sockets) -> None:
    ws = authenticated_ws(gw, sockets)
    gw.advance(20)
    first, second = recv_json(ws), recv_json(ws)
    assert first["topic"] == "system"
    assert second["topic"] == "system"
    assert second["hb"] - first["hb"] == 10_000


def test_smd_sends_only_changed_fields(gw: SimulatedGateway, sockets: Sockets) -> None:
    ws = authenticated_ws(gw, sockets)
    ws.send('smd+265598+{"fields":["31","84","86","88"]}')
    first = recv_json(ws)
    assert first["topic"] == "smd+265598"
    assert first["conid"] == AAPL
    assert "84" in first
    assert "_updated" in first
    gw.set_quote("AAPL", bid="189.00")
    update = recv_json(ws)
    assert set(update) == {"topic", "conid", "_updated", "84"}
    assert update["84"] == "189.00"
    ws.send('smd+265598+{"fields":["7762"]}')  # re-subscribe adds a field
    assert "7762" in recv_json(ws)
    ws.send("umd+265598+{}")
    ws.send("tic")
    assert recv_json(ws)["topic"] == "tic"  # the unsubscribe has been processed
    gw.set_quote("AAPL", bid="188.00")
    ws.send("tic")
    assert recv_json(ws)["topic"] == "tic"  # nothing from smd in between


def test_sor_full_object_then_deltas(gw: SimulatedGateway, api: Api, sockets: Sockets) -> None:
    api.prime()
    gw.configure(warn_no_market_data=False)
    ws = authenticated_ws(gw, sockets)
    ws.send("sor+{}")
    ws.send("tic")
    assert recv_json(ws)["topic"] == "tic"  # subscribed before the order exists
    api.place_confirmed(lmt(185.0, cOID="ws-1"))
    created = recv_json(ws)["args"][0]
    assert created["status"] == "PendingSubmit"
    assert created["order_ref"] == "ws-1"
    assert "conid" in created
    presubmitted = recv_json(ws)["args"][0]
    assert presubmitted["status"] == "PreSubmitted"
    assert "conid" not in presubmitted
    assert set(presubmitted) >= {"acct", "orderId", "status"}
    gw.advance(0.05)
    assert recv_until(ws, lambda m: m.get("topic") == "sor")["args"][0]["status"] == "Submitted"


def test_str_and_spl(gw: SimulatedGateway, api: Api, sockets: Sockets) -> None:
    api.prime()
    gw.configure(warn_no_market_data=False)
    ws = authenticated_ws(gw, sockets)
    ws.send('str+{"realtimeUpdatesOnly":true}')
    ws.send("spl+{}")
    spl = recv_json(ws)
    assert spl["topic"] == "spl"
    assert set(spl["args"][f"{ACCOUNT}.Core"]) == {"rowType", "dpl", "nl", "upl", "el",
                                                                            "mv"}
    api.place_confirmed(mkt(cOID="ws-fill"))
    gw.advance(0.05)
    trade = recv_until(ws, lambda m: m.get("topic") == "str")["args"][0]
    assert trade["order_ref"] == "ws-fill"
    assert trade["side"] == "B"
    assert isinstance(trade["price"], str)
    gw.advance(1)
    assert recv_until(ws, lambda m: m.get("topic") == "spl")["args"][f"{ACCOUNT}.Core"]["mv"] > 0


def test_str_sends_history_first(gw: SimulatedGateway, api: Api, sockets: Sockets) -> None:
    api.prime()
    gw.configure(warn_no_market_data=False)
    api.place_confirmed(mkt(cOID="before"))
    gw.advance(0.05)
    ws = authenticated_ws(gw, sockets)
    ws.send("str+{}")
    assert recv_json(ws)["args"][0]["order_ref"] == "before"


def test_tic_ech_unknown_commands_and_account_streams(gw: SimulatedGateway, sockets: Sockets) -> None:
    ws = authenticated_ws(gw, sockets)
    ws.send("zzz+{}")
    ws.send("smd+notanumber+{garbage")
    ws.send("tic")
    tic = recv_json(ws)
    assert tic["topic"] == "tic"
    assert isinstance(tic["lastAccessed"], int)
    ws.send("ech+hb")
    assert recv_json(ws)["topic"] == "ech+hb"
    ws.send(f"ssd+{ACCOUNT}")
    assert recv_json(ws)["result"][0] == {"key": "AccountCode", "value": ACCOUNT, "timestamp": recv_ts(gw)}
    ws.send(f"usd+{ACCOUNT}")
    assert recv_json(ws) == {"result": "unsubscribed from summary"}
    ws.send(f"sld+{ACCOUNT}")
    assert recv_json(ws)["topic"] == f"sld+{ACCOUNT}"


def recv_ts(gw: SimulatedGateway) -> int:
    return int(gw.clock.now().timestamp())


def test_smh_history_stream(gw: SimulatedGateway, sockets: Sockets) -> None:
    ws = authenticated_ws(gw, sockets)
    ws.send('smh+265598+{"period":"1d","bar":"1h","outsideRth":false}')
    body = recv_json(ws)
    assert body["topic"] == "smh+265598"
    assert len(body["data"]) == 24
    ws.send(f"umh+{body['serverId']}")
    assert recv_json(ws) == {"message": f"Unsubscribed {body['serverId']}"}


def test_binary_frames_setting(gw: SimulatedGateway, sockets: Sockets) -> None:
    gw.configure(ws_binary_frames=True)
    ws = open_ws(gw, sockets)
    opcode, data = ws.recv_data()
    assert opcode == websocket.ABNF.OPCODE_BINARY
    assert json.loads(data)["topic"] == "sts"
