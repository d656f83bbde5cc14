"""The websocket fault modes (reset, close 1000, abort 1006, half-open, refused upgrades), the
connection log, the order counters of ``state`` and the ``act`` push on an account change."""

from __future__ import annotations

import json
import socket
import struct

import pytest
import requests
import websocket

from simulators.ibkr import SimulatedGateway
from simulators.ibkr.control import ControlError
from tests.simulators.ibkr.conftest import AAPL
from tests.simulators.ibkr.conftest import ACCOUNT
from tests.simulators.ibkr.conftest import Api
from tests.simulators.ibkr.conftest import authenticated_ws
from tests.simulators.ibkr.conftest import lmt
from tests.simulators.ibkr.conftest import open_ws
from tests.simulators.ibkr.conftest import recv_json

Sockets = list[websocket.WebSocket]


def tcp_ending(ws: websocket.WebSocket) -> bytes:
    """Read the raw TCP socket under the TLS layer (which reports a reset as an EOF): b"" on a FIN."""
    with socket.socket(fileno=socket.dup(ws.sock.fileno())) as raw:
        raw.settimeout(5)
        return raw.recv(1)


def test_reset_mode_ends_the_connection_with_a_tcp_reset(gw: SimulatedGateway, sockets: Sockets) -> None:
    ws = authenticated_ws(gw, sockets)
    gw.ws_drop(mode="reset")
    with pytest.raises(ConnectionResetError):
        tcp_ending(ws)


def test_close_mode_sends_a_close_frame_with_code_1000(gw: SimulatedGateway, sockets: Sockets) -> None:
    ws = authenticated_ws(gw, sockets)
    gw.ws_drop(mode="close")
    opcode, data = ws.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert struct.unpack("!H", data[:2])[0] == 1000


def test_abort_mode_ends_the_connection_without_a_close_frame(gw: SimulatedGateway, sockets: Sockets) -> None:
    ws = authenticated_ws(gw, sockets)
    gw.ws_drop(mode="abort")
    assert tcp_ending(ws) == b""  # a plain end of stream, no close frame: the client sees 1006


def test_half_open_mode_keeps_the_socket_open_and_silent(gw: SimulatedGateway, sockets: Sockets) -> None:
    ws = authenticated_ws(gw, sockets)
    gw.ws_drop(mode="half_open")
    gw.advance(30)  # three heartbeats due
    ws.send("tic")  # not answered either
    ws.settimeout(0.3)
    with pytest.raises(websocket.WebSocketTimeoutException):
        ws.recv()
    assert gw.ws_connections()[-1]["stalled"] is True


def test_an_unknown_drop_mode_is_refused_naming_the_choices(gw: SimulatedGateway, api: Api) -> None:
    with pytest.raises(ControlError, match="unknown mode 'rst'; choose from"):
        gw.ws_drop(mode="rst")
    assert api.session.post(gw.root_url + "/sim/control/ws_drop", json={"mode": "rst"}, timeout=10).status_code == 400


def test_refused_upgrades_are_answered_503_until_lifted(gw: SimulatedGateway, sockets: Sockets) -> None:
    open_ws(gw, sockets)
    gw.ws_refuse()
    assert gw.state()["ws_refusing"] is True
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        open_ws(gw, sockets)
    assert refused.value.status_code == 503
    assert gw.state()["ws_clients"] == 1  # the open socket is not touched
    gw.clear_faults()
    authenticated_ws(gw, sockets)


def test_the_connection_log_records_times_subscriptions_frames_and_endings(
    gw: SimulatedGateway, sockets: Sockets
) -> None:
    first = max([c["id"] for c in gw.ws_connections()], default=0) + 1  # ids only grow across resets
    ws = authenticated_ws(gw, sockets)  # four greeting frames
    gw.advance(2)
    ws.send("smd+" + str(AAPL) + '@SMART+{"fields":["31","84"]}')  # answered with one snapshot frame
    ws.send("sor+{}")  # no orders: nothing sent
    ws.send('str+{"realtimeUpdatesOnly":true}')  # nothing sent
    ws.send("zzz+{}")  # unknown: not a subscription
    ws.send("tic")  # answered after everything before it was applied
    assert [recv_json(ws)["topic"] for _ in range(2)] == [f"smd+{AAPL}", "tic"]
    gw.advance(10)  # one heartbeat
    assert recv_json(ws)["topic"] == "system"
    gw.ws_drop(mode="close")
    ws.recv_data(control_frame=True)
    for _ in range(1000):  # the gateway notices the close on its own loop
        [entry] = gw.ws_connections(since=first)
        if entry["closed_at"] is not None:
            break
    assert entry["opened_at"] == entry["authenticated_at"]
    assert set(entry["subscribed_at"]) == {f"smd+{AAPL}", "sor", "str"}
    assert all(t == pytest.approx(entry["opened_at"] + 2) for t in entry["subscribed_at"].values())
    assert entry["frames"] == 7
    assert entry["sent"] == {"sts": 2, "system": 2, "act": 1, "smd": 1, "tic": 1}
    assert entry["ended_by"] == "close"
    assert entry["closed_at"] >= entry["opened_at"] + 12


def test_state_counts_working_orders_and_cancel_requests(ready: Api, gw: SimulatedGateway) -> None:
    acks = [ready.place_confirmed(lmt(180.0))[0]["order_id"] for _ in range(3)]
    gw.advance(1)
    assert (gw.state()["working_orders"], gw.state()["cancel_requests"]) == (3, 0)
    assert ready.delete(f"/iserver/account/{ACCOUNT}/order/{acks[0]}").status_code == 200
    gw.advance(1)
    assert (gw.state()["working_orders"], gw.state()["cancel_requests"]) == (2, 1)


def test_an_account_change_is_pushed_as_act(gw: SimulatedGateway, sockets: Sockets) -> None:
    ws = authenticated_ws(gw, sockets)
    gw.configure(spl_interval=5.0)  # no account change: nothing pushed
    gw.configure(account_id="U7654321", paper=False)
    act = recv_json(ws)
    assert act["topic"] == "act"
    assert (act["args"]["accounts"], act["args"]["selectedAccount"], act["args"]["isPaper"]) == (
        ["U7654321"], "U7654321", False)


def test_http_clients_see_the_same_log(gw: SimulatedGateway, sockets: Sockets) -> None:
    authenticated_ws(gw, sockets)
    with requests.Session() as http:
        http.verify, http.trust_env = str(gw.ca_file), False
        body = http.post(gw.root_url + "/sim/control/ws_connections", json={}, timeout=10).json()
    assert json.dumps(body["connections"][-1]) == json.dumps(gw.ws_connections()[-1])
