"""What a real gateway accepts and sends: history startTime, string booleans, trailing slashes, ``sor``
price numbers, ``outsideRTH`` in live orders, and the [U] forms that are settings (401 body, secdef
without a match, reply ids, the ``ech`` answer)."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime

import pytest
import websocket

from simulators.ibkr import SimulatedGateway
from tests.simulators.ibkr.conftest import AAPL
from tests.simulators.ibkr.conftest import ACCOUNT
from tests.simulators.ibkr.conftest import Api
from tests.simulators.ibkr.conftest import authenticated_ws
from tests.simulators.ibkr.conftest import lmt
from tests.simulators.ibkr.conftest import mkt
from tests.simulators.ibkr.conftest import recv_json
from tests.simulators.ibkr.conftest import recv_until
from tests.simulators.ibkr.conftest import status_of

Sockets = list[websocket.WebSocket]
HISTORY = "/iserver/marketdata/history"


def bar_times(body: dict[str, object]) -> list[datetime]:
    rows = body["data"]
    assert isinstance(rows, list)
    return [datetime.fromtimestamp(row["t"] / 1000, UTC) for row in rows]


def test_history_start_time_is_the_end_of_the_window_by_default(gw: SimulatedGateway, api: Api) -> None:
    query = {"conid": AAPL, "period": "1h", "bar": "5min", "startTime": "20231229-15:00:00"}
    times = bar_times(api.get(HISTORY, params=query).json())
    assert len(times) == 12
    assert times[-1] == datetime(2023, 12, 29, 15, 0, tzinfo=UTC)
    assert times[0] == datetime(2023, 12, 29, 14, 5, tzinfo=UTC)
    now = bar_times(api.get(HISTORY, params={**query, "startTime": ""}).json())
    assert now[-1] == datetime(2024, 1, 2, 14, 30, tzinfo=UTC)  # no startTime: up to now


def test_history_start_time_can_begin_the_window_and_never_reaches_the_future(gw: SimulatedGateway,
                                                                             api: Api) -> None:
    gw.configure(history_start_time="start")
    query = {"conid": AAPL, "period": "1h", "bar": "5min", "startTime": "20231229-15:00:00"}
    times = bar_times(api.get(HISTORY, params=query).json())
    assert (times[0], len(times)) == (datetime(2023, 12, 29, 15, 0, tzinfo=UTC), 12)
    late = bar_times(api.get(HISTORY, params={**query, "startTime": "20240102-14:00:00"}).json())
    assert late[-1] == datetime(2024, 1, 2, 14, 30, tzinfo=UTC)  # the clock's now: 7 bars, not 12
    assert len(late) == 7


def test_hmds_history_reads_start_time_and_direction(gw: SimulatedGateway, api: Api) -> None:
    gw.configure(history_first_call_404=False)
    query = {"conid": AAPL, "period": "1h", "bar": "5min", "startTime": "20231229-15:00:00"}
    backward = api.get("/hmds/history", params=query).json()
    forward = api.get("/hmds/history", params={**query, "direction": "-1"}).json()
    assert backward["endTime"] == "20231229-15:00:00"
    assert forward["startTime"] == "20231229-15:00:00"


def test_a_malformed_start_time_is_refused_naming_the_form(api: Api) -> None:
    answer = api.get(HISTORY, params={"conid": AAPL, "period": "1h", "bar": "5min", "startTime": "2023-12-29"})
    assert answer.status_code == 400
    assert "YYYYMMDD-hh:mm:ss" in answer.json()["error"]


@pytest.mark.parametrize(("sent", "read"), [("false", False), ("true", True), ("0", False), (False, False)])
def test_string_booleans_in_a_ticket_are_read_as_what_they_say(ready: Api, sent: object, read: bool) -> None:
    ack = ready.place_confirmed(lmt(185.0, outsideRTH=sent, isSingleGroup="false"))
    assert status_of(ready, ack[0]["order_id"])["outside_rth"] is read
    ready.get("/iserver/account/orders")
    rows = ready.get("/iserver/account/orders").json()["orders"]
    assert rows[-1]["outsideRTH"] is read


def test_a_string_false_does_not_confirm_a_question(ready: Api, gw: SimulatedGateway) -> None:
    gw.configure(warn_marketable=True)
    question = ready.place(lmt(191.0)).json()
    declined = ready.post(f"/iserver/reply/{question[0]['id']}", json={"confirmed": "false"})
    assert declined.json()["error"] == "order not confirmed"


def test_a_trailing_slash_reaches_the_same_endpoint(ready: Api, gw: SimulatedGateway) -> None:
    ready.place_confirmed(mkt(cOID="slash"))
    gw.advance(0.05)
    trades = ready.get("/iserver/account/trades/")
    assert trades.status_code == 200
    assert trades.json()[0]["order_ref"] == "slash"
    assert ready.get("/iserver/accounts/").json()["accounts"] == [ACCOUNT]
    gw.configure(pacing_enabled=True)
    gw.control("pacing_reset")
    assert ready.get("/iserver/account/trades").status_code == 200
    assert ready.get("/iserver/account/trades/").status_code == 429  # one endpoint: paced as one


def test_sor_sends_prices_as_numbers_and_rest_as_strings(ready: Api, gw: SimulatedGateway, sockets: Sockets) -> None:
    ws = authenticated_ws(gw, sockets)
    ws.send("sor+{}")
    ready.place_confirmed(lmt(191.0, cOID="numbers", outsideRTH=True))
    created = recv_json(ws)["args"][0]
    assert created["price"] == 191.0
    assert created["outsideRTH"] is True
    gw.advance(0.05)
    filled = recv_until(ws, lambda m: m.get("topic") == "sor" and m["args"][0].get("status") == "Filled")
    assert filled["args"][0]["avgPrice"] == "190.00"  # a string, as in IBKR's own sor example
    ready.get("/iserver/account/orders")
    row = ready.get("/iserver/account/orders").json()["orders"][0]
    assert row["price"] == "191.00"


@pytest.mark.parametrize(("form", "content_type", "body"), [
    ("json", "application/json", '{"error":"not authenticated","statusCode":401}'),
    ("empty", "application/octet-stream", ""),
    ("html", "text/html", "<html>"),
])
def test_the_401_body_form_is_a_setting(gw: SimulatedGateway, api: Api, form: str, content_type: str,
                                        body: str) -> None:
    gw.configure(unauthorized_body=form)
    gw.logout()
    answer = api.get("/iserver/accounts")
    assert answer.status_code == 401
    assert answer.headers.get("Content-Type", "application/octet-stream").startswith(content_type)
    assert answer.text.startswith(body)


def test_secdef_search_without_a_match_answers_per_setting(gw: SimulatedGateway, api: Api) -> None:
    api.prime()
    assert api.get("/iserver/secdef/search", params={"symbol": "NOSUCH"}).json() == []
    gw.configure(secdef_no_match="error")
    answer = api.get("/iserver/secdef/search", params={"symbol": "NOSUCH"})
    assert answer.status_code == 500
    assert "NOSUCH" in answer.json()["error"]


@pytest.mark.parametrize(("form", "kind"), [("uuid", str), ("hex", str), ("number", int)])
def test_reply_id_format_is_a_setting_and_every_form_answers(ready: Api, gw: SimulatedGateway, form: str,
                                                             kind: type) -> None:
    gw.configure(reply_id_format=form, warn_marketable=True)
    question = ready.place(lmt(191.0)).json()[0]
    assert isinstance(question["id"], kind)
    if form == "hex":
        assert len(question["id"]) == 32
    done = ready.post(f"/iserver/reply/{question['id']}", json={"confirmed": True}).json()
    assert done[0]["order_id"].isdigit()


def test_the_echo_answer_form_is_a_setting(gw: SimulatedGateway, sockets: Sockets) -> None:
    gw.configure(echo_form="text")
    ws = authenticated_ws(gw, sockets)
    ws.send("ech+hb")
    assert ws.recv() == "ech+hb"
