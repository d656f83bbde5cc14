"""Order rules: OCA membership, cOID on modify, the p12/o10152 questions, decline status, cancel-all."""

from __future__ import annotations

from typing import Any

import pytest

from simulators.ibkr import SimulatedGateway
from tests.simulators.ibkr.conftest import AAPL
from tests.simulators.ibkr.conftest import ACCOUNT
from tests.simulators.ibkr.conftest import Api
from tests.simulators.ibkr.conftest import lmt
from tests.simulators.ibkr.conftest import mkt
from tests.simulators.ibkr.conftest import status_of

ORDER = f"/iserver/account/{ACCOUNT}/order"
STOP = {"conid": AAPL, "orderType": "STP", "side": "SELL", "tif": "GTC", "quantity": 1, "price": 185.0}


def question_ids(api: Api, ticket: dict[str, Any]) -> list[str]:
    """Place ``ticket`` and confirm every question; return the message ids in the order asked."""
    asked = []
    body = api.place(ticket).json()
    while isinstance(body, list) and body and "id" in body[0]:
        asked += body[0]["messageIds"]
        body = api.post(f"/iserver/reply/{body[0]['id']}", json={"confirmed": True}).json()
    assert "order_id" in body[0]
    return asked


# -- OCA ------------------------------------------------------------------------------------------

def test_only_flagged_tickets_join_the_oca_group(gw: SimulatedGateway, ready: Api) -> None:
    ack = ready.place_confirmed({**lmt(185.0), "isSingleGroup": True}, {**lmt(186.0), "isSingleGroup": True},
                                lmt(184.0, cOID="not-oca"))
    first, second, plain = (row["order_id"] for row in ack)
    gw.advance(0.05)
    assert status_of(ready, first)["oca_group_id"] == status_of(ready, second)["oca_group_id"]
    assert "oca_group_id" not in status_of(ready, plain)
    gw.set_quote("AAPL", bid="185.90", ask="186.00", last="185.95")
    assert status_of(ready, second)["order_status"] == "Filled"
    assert status_of(ready, first)["order_status"] == "Cancelled"
    assert status_of(ready, plain)["order_status"] == "Submitted"  # untouched by the OCA fill


# -- cOID on modify -------------------------------------------------------------------------------

def test_modify_refuses_a_coid_of_another_order(gw: SimulatedGateway, ready: Api) -> None:
    ready.place_confirmed(lmt(180.0, cOID="coid-a"))
    other = ready.place_confirmed(lmt(181.0, cOID="coid-b"))[0]["order_id"]
    gw.advance(0.05)
    refused = ready.post(f"{ORDER}/{other}", json=lmt(182.0, cOID="coid-a"))
    assert refused.json() == {"error": "Order couldn't be submitted: Local order ID=coid-a is already registered."}
    assert status_of(ready, other)["limit_price"] == "181.00"  # nothing changed
    ready.get("/iserver/account/orders")
    refs = {o["orderId"]: o["order_ref"] for o in ready.get("/iserver/account/orders").json()["orders"]}
    assert refs[int(other)] == "coid-b"


def test_modify_keeps_or_renames_its_own_coid(gw: SimulatedGateway, ready: Api) -> None:
    order_id = ready.place_confirmed(lmt(188.0, cOID="own-1"))[0]["order_id"]
    gw.advance(0.05)
    for price, coid in ((188.5, "own-1"), (188.6, "own-2"), (188.7, "own-1")):
        body = ready.post(f"{ORDER}/{order_id}", json=lmt(price, cOID=coid)).json()
        assert body[0]["order_id"] == order_id
    assert status_of(ready, order_id)["limit_price"] == "188.70"
    # The renamed-to id is registered now, so a new order cannot take it.
    assert "already registered" in ready.place(lmt(188.0, cOID="own-2")).json()["error"]


# -- o10152 and p12 -------------------------------------------------------------------------------

def test_stop_orders_ask_o10331_only_by_default(gw: SimulatedGateway, ready: Api) -> None:
    gw.configure(warn_stop_orders=True)
    assert question_ids(ready, STOP) == ["o10331"]


def test_o10152_alongside_o10331(gw: SimulatedGateway, ready: Api) -> None:
    gw.configure(warn_stop_orders=True, warn_stop_activation=True)
    body = ready.place(STOP).json()
    assert body[0]["messageIds"] == ["o10331"]
    second = ready.post(f"/iserver/reply/{body[0]['id']}", json={"confirmed": True}).json()
    assert second[0]["messageIds"] == ["o10152"]
    text = second[0]["message"][0]
    assert "stop price" in text
    assert text.endswith("Are you sure you want to submit this order?")
    done = ready.post(f"/iserver/reply/{second[0]['id']}", json={"confirmed": True}).json()
    assert "order_id" in done[0]


@pytest.mark.parametrize("order_type", ["STP", "STOP_LIMIT", "TRAIL", "TRAILLMT"])
def test_o10152_instead_of_o10331_for_every_stop_type(gw: SimulatedGateway, ready: Api, order_type: str) -> None:
    gw.configure(warn_stop_orders=False, warn_stop_activation=True)
    ticket = {**STOP, "orderType": order_type, "auxPrice": 185.0, "trailingAmt": 1.0, "price": 185.0}
    assert question_ids(ready, ticket) == ["o10152"]


def test_o10152_not_asked_for_limit_orders(gw: SimulatedGateway, ready: Api) -> None:
    gw.configure(warn_stop_activation=True)
    assert question_ids(ready, lmt(189.0)) == []


def test_p12_is_off_by_default(ready: Api) -> None:
    assert question_ids(ready, lmt(185.0)) == []  # 2.6 % from the last price


def test_p12_for_a_limit_far_from_the_reference_price(gw: SimulatedGateway, ready: Api) -> None:
    gw.configure(warn_price_management=True, price_management_pct=2)
    body = ready.place(lmt(185.0)).json()
    assert body[0]["messageIds"] == ["p12"]
    assert body[0]["message"][0].endswith("Use the Price Management Algo?")
    assert "too far from the reference price" in body[0]["message"][0]
    assert question_ids(ready, lmt(188.0)) == []  # 1 % away: inside the threshold
    assert question_ids(ready, {**lmt(185.0), "useAdaptive": True}) == []  # already uses the algo
    assert question_ids(ready, mkt()) == []  # no limit price


def test_p12_chains_after_o163_and_can_be_suppressed(gw: SimulatedGateway, ready: Api) -> None:
    gw.configure(warn_price_management=True)
    assert question_ids(ready, lmt(150.0)) == ["o163", "p12"]
    ready.post("/iserver/questions/suppress", json={"messageIds": ["p12"]})
    assert question_ids(ready, lmt(150.0)) == ["o163"]


# -- reply decline status -------------------------------------------------------------------------

def test_reply_decline_status_400(gw: SimulatedGateway, ready: Api) -> None:
    gw.configure(reply_decline_status=400)
    body = ready.place(lmt(150.0)).json()
    declined = ready.post(f"/iserver/reply/{body[0]['id']}", json={"confirmed": False})
    assert declined.status_code == 400
    assert declined.json() == {"error": "order not confirmed", "statusCode": 400}
    assert gw.state()["orders"] == 0


# -- cancel all -----------------------------------------------------------------------------------

def test_cancel_all_with_order_id_minus_one(gw: SimulatedGateway, ready: Api) -> None:
    resting = [ready.place_confirmed(lmt(price))[0]["order_id"] for price in (180.0, 181.0)]
    filled = ready.place_confirmed(mkt())[0]["order_id"]
    gw.advance(0.05)
    assert status_of(ready, filled)["order_status"] == "Filled"
    body = ready.delete(f"{ORDER}/-1").json()
    assert body == {"msg": "Request was submitted", "order_id": -1, "conid": -1, "account": ACCOUNT}
    assert [status_of(ready, o)["order_status"] for o in resting] == ["PendingCancel"] * 2
    gw.advance(0.05)
    assert [status_of(ready, o)["order_status"] for o in resting] == ["Cancelled"] * 2
    assert status_of(ready, filled)["order_status"] == "Filled"
    assert ready.delete(f"{ORDER}/-1").status_code == 200  # nothing left to cancel is not an error
