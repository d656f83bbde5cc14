"""The ``hold`` fault: requests held unanswered until the test releases them, with no sleeps.

A held call runs on a worker thread; the test waits for the gateway to report it held
(``gw.wait_held``, event-driven on the server), acts, releases, then collects the answer.
"""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Iterator
from concurrent.futures import Future
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
import websocket

from simulators.ibkr import GatewayProcess
from simulators.ibkr import SimulatedGateway
from tests.simulators.ibkr.conftest import ACCOUNT
from tests.simulators.ibkr.conftest import BASE_CONFIG
from tests.simulators.ibkr.conftest import Api
from tests.simulators.ibkr.conftest import authenticated_ws
from tests.simulators.ibkr.conftest import lmt
from tests.simulators.ibkr.conftest import recv_json
from tests.simulators.ibkr.conftest import recv_until
from tests.simulators.ibkr.conftest import status_of

Sockets = list[websocket.WebSocket]
ORDERS = f"/iserver/account/{ACCOUNT}/orders"
ANSWER_TIMEOUT = 10.0  # a bound for a hung test, never a measurement


@pytest.fixture
def pool(gw: SimulatedGateway) -> Iterator[ThreadPoolExecutor]:
    executor = ThreadPoolExecutor(max_workers=4)
    yield executor
    gw.clear_faults()  # a failed test must not leave a worker waiting on a held answer
    executor.shutdown(wait=True)


def place_in_background(pool: ThreadPoolExecutor, gw: SimulatedGateway, *orders: dict[str, Any]
                        ) -> Future[requests.Response]:
    """Post a placement from a worker thread with its own HTTP session."""

    def post() -> requests.Response:
        client = Api(gw)
        try:
            return client.place(*orders)
        finally:
            client.close()

    return pool.submit(post)


def test_held_placement_is_committed_but_unanswered_until_released(
        gw: SimulatedGateway, ready: Api, pool: ThreadPoolExecutor, sockets: Sockets) -> None:
    ws = authenticated_ws(gw, sockets)
    ws.send('smd+265598+{"fields":["84"]}')
    assert recv_json(ws)["topic"] == "smd+265598"
    gw.hold(path=ORDERS, method="POST")
    pending = place_in_background(pool, gw, lmt(185.0, cOID="held-1"))
    [held] = gw.wait_held()
    assert (held["method"], held["path"], held["coids"]) == ("POST", ORDERS, ["held-1"])
    assert (held["before_processing"], held["status"], held["client_connected"]) == (False, 200, True)
    assert gw.state()["orders"] == 1  # committed in the ledger while the answer is held
    assert ready.get("/iserver/account/orders").status_code == 200  # other requests are answered
    ws.send("tic")
    assert recv_until(ws, lambda m: m.get("topic") == "tic")["topic"] == "tic"
    gw.advance(10)
    assert recv_until(ws, lambda m: m.get("topic") == "system")["hb"] > 0  # clock jobs keep running
    gw.set_quote("AAPL", bid="189.80")
    assert recv_until(ws, lambda m: m.get("topic") == "smd+265598")["84"] == "189.80"  # quotes keep flowing
    assert not pending.done()
    assert gw.release_held() == [held["id"]]
    answer = pending.result(timeout=ANSWER_TIMEOUT)
    assert answer.status_code == 200
    assert "order_id" in answer.json()[0]
    assert gw.held() == []


def test_cancel_of_another_order_goes_through_while_a_placement_is_held(
        gw: SimulatedGateway, ready: Api, pool: ThreadPoolExecutor) -> None:
    working = ready.place_confirmed(lmt(180.0, cOID="working-1"))[0]["order_id"]
    gw.hold(path=ORDERS, method="POST")
    pending = place_in_background(pool, gw, lmt(185.0, cOID="held-1"))
    gw.wait_held()
    cancel = ready.delete(f"/iserver/account/{ACCOUNT}/order/{working}")
    assert cancel.json()["msg"] == "Request was submitted"
    gw.advance(0.05)
    assert status_of(ready, working)["order_status"] == "Cancelled"
    assert not pending.done()
    gw.release_held()
    assert pending.result(timeout=ANSWER_TIMEOUT).status_code == 200


def test_state_reports_held_requests_and_placement_arrivals(
        gw: SimulatedGateway, ready: Api, pool: ThreadPoolExecutor) -> None:
    ready.place(lmt(185.0, cOID="before-1"))
    snapshot = gw.state()
    gw.hold(path=ORDERS, method="POST")
    pending = place_in_background(pool, gw, lmt(185.0, cOID="b-1"), lmt(186.0, cOID="b-2"))
    [held] = gw.wait_held()
    state = gw.state()
    assert state["held"] == [held]
    assert held["coids"] == ["b-1", "b-2"]
    later = [coid for seq, coid in state["placement_arrivals"] if seq > snapshot["request_seq"]]
    assert later == ["b-1", "b-2"]
    assert state["placement_arrivals"][: len(snapshot["placement_arrivals"])] == snapshot["placement_arrivals"]
    assert held["seq"] == state["placement_arrivals"][-1][0]
    gw.release_held()
    pending.result(timeout=ANSWER_TIMEOUT)
    assert gw.state()["held"] == []


def test_placement_without_coid_is_recorded_as_an_arrival(gw: SimulatedGateway, ready: Api) -> None:
    ready.place(lmt(185.0))
    ready.post(ORDERS, data=b"not json", headers={"Content-Type": "application/json"})
    state = gw.state()
    assert [coid for _, coid in state["placement_arrivals"]] == [None, None]
    assert state["placement_posts"] == {}
    first, second = (seq for seq, _ in state["placement_arrivals"])
    assert first < second <= state["request_seq"]


def test_count_is_honoured(gw: SimulatedGateway, ready: Api, pool: ThreadPoolExecutor) -> None:
    gw.hold(path=ORDERS, method="POST", count=2)
    first = place_in_background(pool, gw, lmt(185.0, cOID="c-1"))
    second = place_in_background(pool, gw, lmt(185.0, cOID="c-2"))
    assert len(gw.wait_held(count=2)) == 2
    assert ready.place(lmt(185.0, cOID="c-3")).status_code == 200  # the third is answered at once
    assert len(gw.release_held()) == 2
    assert first.result(timeout=ANSWER_TIMEOUT).status_code == 200
    assert second.result(timeout=ANSWER_TIMEOUT).status_code == 200


def test_release_by_count_id_and_coid(gw: SimulatedGateway, ready: Api, pool: ThreadPoolExecutor) -> None:
    gw.hold(path=ORDERS, method="POST", count=3)
    pending = {}
    for number, coid in enumerate(["r-a", "r-b", "r-c"], start=1):
        pending[coid] = place_in_background(pool, gw, lmt(185.0, cOID=coid))
        gw.wait_held(count=number)  # one at a time, so the arrival order is known
    ids = {held["coids"][0]: held["id"] for held in gw.held()}
    assert gw.release_held(coid="r-b") == [ids["r-b"]]
    assert pending["r-b"].result(timeout=ANSWER_TIMEOUT).status_code == 200
    assert gw.release_held(1) == [ids["r-a"]]  # the oldest
    assert pending["r-a"].result(timeout=ANSWER_TIMEOUT).status_code == 200
    assert not pending["r-c"].done()
    assert gw.release_held(hold_id=ids["r-c"]) == [ids["r-c"]]
    assert pending["r-c"].result(timeout=ANSWER_TIMEOUT).status_code == 200
    assert gw.release_held() == []


def test_clear_faults_releases_held_and_disarms_the_rest(
        gw: SimulatedGateway, ready: Api, pool: ThreadPoolExecutor) -> None:
    gw.hold(path=ORDERS, method="POST", count=5)
    pending = place_in_background(pool, gw, lmt(185.0, cOID="cf-1"))
    gw.wait_held()
    gw.clear_faults()
    assert pending.result(timeout=ANSWER_TIMEOUT).status_code == 200
    assert ready.place(lmt(185.0, cOID="cf-2")).status_code == 200  # not held: the rule is gone
    assert gw.held() == []


def test_hold_before_processing_commits_nothing_until_released(
        gw: SimulatedGateway, ready: Api, pool: ThreadPoolExecutor) -> None:
    gw.hold(path=ORDERS, method="POST", before_processing=True)
    pending = place_in_background(pool, gw, lmt(185.0, cOID="early-1"))
    [held] = gw.wait_held()
    assert (held["before_processing"], held["status"]) == (True, None)
    state = gw.state()
    assert (state["orders"], state["placement_posts"]) == (0, {"early-1": 1})  # arrived, not processed
    gw.release_held()
    assert "order_id" in pending.result(timeout=ANSWER_TIMEOUT).json()[0]
    assert gw.state()["orders"] == 1


def test_hold_before_processing_applies_the_session_gate_on_release(
        gw: SimulatedGateway, ready: Api, pool: ThreadPoolExecutor) -> None:
    gw.hold(path=ORDERS, method="POST", before_processing=True)
    pending = place_in_background(pool, gw, lmt(185.0, cOID="gate-1"))
    gw.wait_held()
    gw.expire()
    gw.release_held()
    assert pending.result(timeout=ANSWER_TIMEOUT).status_code == 401
    assert gw.state()["orders"] == 0


def raw_placement(gw: SimulatedGateway, coid: str) -> ssl.SSLSocket:
    """Send a placement POST over a bare TLS socket (so the test can close it while held)."""
    body = json.dumps({"orders": [lmt(185.0, cOID=coid)]}).encode()
    head = (f"POST /v1/api{ORDERS} HTTP/1.1\r\nHost: {gw.host}:{gw.port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    context = ssl.create_default_context(cafile=str(gw.ca_file))
    conn = context.wrap_socket(socket.create_connection((gw.host, gw.port), timeout=5), server_hostname=gw.host)
    conn.sendall(head + body)
    return conn


def test_release_after_the_client_disconnected_is_harmless(gw: SimulatedGateway, ready: Api) -> None:
    gw.hold(path=ORDERS, method="POST")
    conn = raw_placement(gw, "gone-1")
    [held] = gw.wait_held()
    conn.close()
    for _ in range(1000):  # bounded poll of the state action until the server notices the close
        if not gw.held()[0]["client_connected"]:
            break
    else:
        pytest.fail("the server never noticed the closed client connection")
    assert gw.release_held() == [held["id"]]
    assert gw.held() == []
    assert ready.get("/iserver/accounts").status_code == 200  # still serving
    assert gw.state()["orders"] == 1


def test_hold_over_http_control(gw: SimulatedGateway, api: Api, pool: ThreadPoolExecutor) -> None:
    url = gw.root_url + "/sim/control/"
    assert api.session.post(url + "hold", json={"method": "GET", "path_prefix": "/iserver/accounts"},
                            timeout=10).json() == {}
    pending = pool.submit(api.get, "/iserver/accounts")
    waited = api.session.post(url + "wait_held", json={"count": 1, "timeout": 10}, timeout=30).json()
    assert (waited["reached"], waited["count"], waited["held"][0]["path"]) == (True, 1, "/iserver/accounts")
    assert api.session.post(url + "held", json={}, timeout=10).json()["count"] == 1
    released = api.session.post(url + "release_held", json={}, timeout=10).json()
    assert released == {"released": [waited["held"][0]["id"]], "count": 0}
    assert pending.result(timeout=ANSWER_TIMEOUT).status_code == 200
    bad = api.session.post(url + "hold", json={"before_processing": "yes"}, timeout=10)
    assert bad.status_code == 400
    not_yet = api.session.post(url + "wait_held", json={"count": 1, "timeout": 0}, timeout=10).json()
    assert not_yet["reached"] is False


def test_wait_held_raises_when_nothing_is_held(gw: SimulatedGateway) -> None:
    with pytest.raises(TimeoutError, match="0 request"):
        gw.wait_held(timeout=0)


def test_stopping_the_gateway_releases_held_requests() -> None:
    with ThreadPoolExecutor(max_workers=1) as executor, SimulatedGateway(port=0, config=BASE_CONFIG) as gw:
        gw.hold(path="/tickle")
        client = Api(gw)
        pending = executor.submit(client.post, "/tickle")
        gw.wait_held()
        gw.stop()
        with pytest.raises(requests.exceptions.ConnectionError):
            pending.result(timeout=ANSWER_TIMEOUT)
        client.close()


def test_process_helper_holds_and_releases() -> None:
    with GatewayProcess(port=0, args=["--market", "manual", "--no-pacing"]) as proc, \
            ThreadPoolExecutor(max_workers=1) as executor:
        http = requests.Session()
        http.verify, http.trust_env = str(proc.ca_file), False
        proc.hold(path="/tickle", method="POST")
        pending = executor.submit(http.post, proc.base_url + "/tickle", timeout=ANSWER_TIMEOUT)
        [held] = proc.wait_held()
        assert (held["method"], held["path"]) == ("POST", "/tickle")
        assert proc.held() == [held]
        assert proc.release_held() == [held["id"]]
        assert pending.result(timeout=ANSWER_TIMEOUT).status_code == 200
        with pytest.raises(TimeoutError):
            proc.wait_held(timeout=0)
        http.close()
