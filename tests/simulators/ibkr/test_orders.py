"""Orders: the reply dialogue, cOID, matching of every order type, brackets, OCA, cancel, modify, views."""

from __future__ import annotations

from decimal import Decimal

import pytest

from simulators.ibkr import SimulatedGateway
from tests.simulators.ibkr.conftest import AAPL
from tests.simulators.ibkr.conftest import ACCOUNT
from tests.simulators.ibkr.conftest import Api
from tests.simulators.ibkr.conftest import lmt
from tests.simulators.ibkr.conftest import mkt
from tests.simulators.ibkr.conftest import status_of

ORDERS = f"/iserver/account/{ACCOUNT}/orders"


def test_o354_asked_without_market_data_with_real_text(gw: SimulatedGateway, api: Api) -> None:
    api.prime()
    body = api.place(mkt()).json()
    assert body[0]["messageIds"] == ["o354"]
    assert body[0]["isSuppressed"] is False
    assert body[0]["message"][0].startswith("You are submitting an order without market data.")
    assert len(body[0]["id"]) == 36


def test_o163_price_constraint_then_chained_o383_and_single_use_reply(ready: Api) -> None:
    body = ready.place(lmt(150.0, quantity=600)).json()
    assert body[0]["messageIds"] == ["o163"]
    assert 'The following order "BUY 600 AAPL NASDAQ.NMS @ 150.0" price exceeds \nthe Percentage constraint of 3%.' \
        in body[0]["message"][0]
    first_id = body[0]["id"]
    second = ready.post(f"/iserver/reply/{first_id}", json={"confirmed": True}).json()
    assert second[0]["messageIds"] == ["o383"]
    assert "size exceeds the Size Limit of 500" in second[0]["message"][0]
    reused = ready.post(f"/iserver/reply/{first_id}", json={"confirmed": True})
    assert reused.status_code == 400
    assert "not found" in reused.json()["error"]
    done = ready.post(f"/iserver/reply/{second[0]['id']}", json={"confirmed": True}).json()
    assert set(done[0]) == {"order_id", "order_status", "encrypt_message"}
    assert done[0]["order_id"].isdigit()


def test_o451_value_limit_and_decline(ready: Api) -> None:
    body = ready.place({**lmt(415.20, quantity=300), "conid": 272093}).json()
    assert body[0]["messageIds"] == ["o451"]
    assert "exceeds \nthe Total Value Limit of 100,000 USD" in \
        body[0]["message"][0]
    declined = ready.post(f"/iserver/reply/{body[0]['id']}", json={"confirmed": False})
    assert declined.status_code == 200
    assert declined.json()["error"] == "order not confirmed"
    ready.get("/iserver/account/orders")
    assert ready.get("/iserver/account/orders").json()["orders"] == []


def test_stop_and_marketable_questions(gw: SimulatedGateway, ready: Api) -> None:
    gw.configure(warn_stop_orders=True, warn_marketable=True)
    stop = ready.place({"conid": AAPL, "orderType": "STP", "side": "SELL", "tif": "GTC", "quantity": 1,
                        "price": 185.0}).json()
    assert stop[0]["messageIds"] == ["o10331"]
    assert stop[0]["message"][0].startswith("You are about to submit a stop order.")
    marketable = ready.place(lmt(190.05)).json()
    assert marketable[0]["messageIds"] == ["o403"]


def test_suppression_skips_questions_and_reset_restores(gw: SimulatedGateway, api: Api) -> None:
    api.prime()
    assert api.post("/iserver/questions/suppress", json={"messageIds": ["o354", "o163"]}).json() == {
        "status": "submitted"}
    body = api.place(lmt(150.0)).json()
    assert "order_id" in body[0]
    assert api.post("/iserver/questions/suppress/reset").json() == {"status": "submitted"}
    assert "id" in api.place(lmt(150.0)).json()[0]


def test_bare_array_body_and_bad_bodies(ready: Api) -> None:
    assert "order_id" in ready.post(ORDERS, json=[lmt(185.0)]).json()[0]
    bad_json = ready.post(ORDERS, data=b"{not json", headers={"Content-Type": "application/json"})
    assert bad_json.status_code == 400
    assert bad_json.json()["error"].startswith("Bad Request")
    for ticket in ({"conid": AAPL, "orderType": "LMT", "side": "BUY", "tif": "DAY", "quantity": 1},
                   {**mkt(), "side": "HOLD"}, {**mkt(), "quantity": -5}, {**mkt(), "conid": 1}):
        response = ready.place(ticket)
        assert response.status_code == 400
        assert set(response.json()) == {"error", "statusCode"}
    assert ready.get("/iserver/auth/status").status_code == 200


def test_duplicate_coid_refused(ready: Api) -> None:
    assert "order_id" in ready.place(lmt(185.0, cOID="dup-1")).json()[0]
    body = ready.place(lmt(186.0, cOID="dup-1")).json()
    assert body == {"error": "Order couldn't be submitted: Local order ID=dup-1 is already registered."}


def test_market_order_fills_at_ask_with_commission_and_books(gw: SimulatedGateway, ready: Api) -> None:
    ack = ready.place_confirmed(mkt(quantity=100, cOID="m-1"))
    assert ack[0]["order_status"] == "PreSubmitted"
    gw.advance(0.05)
    status = status_of(ready, ack[0]["order_id"])
    assert status["order_status"] == "Filled"
    assert status["average_price"] == "190.00"
    assert status["side"] == "B"
    assert status["cum_fill"] == "100.0"
    assert status["size"] == "0.0"
    trades = ready.get("/iserver/account/trades").json()
    assert trades[0]["order_ref"] == "m-1"
    assert trades[0]["price"] == "190.00"
    assert trades[0]["commission"] == "1.00"
    assert trades[0]["size"] == 100
    assert trades[0]["conid"] == "265598"
    assert trades[0]["side"] == "B"
    ledger = ready.get(f"/portfolio/{ACCOUNT}/ledger").json()
    assert Decimal(str(ledger["BASE"]["cashbalance"])) == Decimal("1000000") - Decimal("19000") - Decimal("1")


def test_sell_market_fills_at_bid_and_realizes_pnl(gw: SimulatedGateway, ready: Api) -> None:
    ready.place_confirmed(mkt(quantity=10))
    gw.advance(0.05)
    gw.set_quote("AAPL", bid="195.00", ask="195.10", last="195.05")
    ack = ready.place_confirmed(mkt(side="SELL", quantity=10))
    gw.advance(0.05)
    assert status_of(ready, ack[0]["order_id"])["average_price"] == "195.00"
    ledger = ready.get(f"/portfolio/{ACCOUNT}/ledger").json()["BASE"]
    assert ledger["realizedpnl"] == pytest.approx(50.0)


def test_limit_rests_until_marketable(gw: SimulatedGateway, ready: Api) -> None:
    ack = ready.place_confirmed(lmt(189.50))
    gw.advance(0.05)
    assert status_of(ready, ack[0]["order_id"])["order_status"] == "Submitted"
    gw.set_quote("AAPL", bid="189.30", ask="189.40", last="189.35")
    status = status_of(ready, ack[0]["order_id"])
    assert status["order_status"] == "Filled"
    assert status["average_price"] == "189.40"


def test_stop_triggers_on_last_and_stays_presubmitted_before(gw: SimulatedGateway, ready: Api) -> None:
    ack = ready.place_confirmed({"conid": AAPL, "orderType": "STP", "side": "SELL", "tif": "GTC", "quantity": 5,
                                 "price": 189.00})
    gw.advance(0.05)
    assert status_of(ready, ack[0]["order_id"])["order_status"] == "PreSubmitted"
    gw.set_quote("AAPL", bid="188.80", ask="188.90", last="188.95")
    status = status_of(ready, ack[0]["order_id"])
    assert status["order_status"] == "Filled"
    assert status["average_price"] == "188.80"


def test_stop_limit_elected_then_limited(gw: SimulatedGateway, ready: Api) -> None:
    ack = ready.place_confirmed({"conid": AAPL, "orderType": "STOP_LIMIT", "side": "BUY", "tif": "DAY",
                                 "quantity": 5, "auxPrice": 191.00, "price": 191.20})
    gw.advance(0.05)
    gw.set_quote("AAPL", bid="191.30", ask="191.40", last="191.35")  # elected, but ask above limit
    assert status_of(ready, ack[0]["order_id"])["order_status"] == "Submitted"
    gw.set_quote("AAPL", bid="191.10", ask="191.15", last="191.12")
    assert status_of(ready, ack[0]["order_id"])["average_price"] == "191.15"


def test_trailing_stop_ratchets_and_triggers(gw: SimulatedGateway, ready: Api) -> None:
    ack = ready.place_confirmed({"conid": AAPL, "orderType": "TRAIL", "side": "SELL", "tif": "GTC", "quantity": 5,
                                 "trailingAmt": 1.0, "trailingType": "amt"})
    gw.advance(0.05)
    assert status_of(ready, ack[0]["order_id"])["stop_price"] == "188.95"
    gw.set_quote("AAPL", bid="192.90", ask="193.00", last="192.95")
    assert status_of(ready, ack[0]["order_id"])["stop_price"] == "191.95"
    gw.set_quote("AAPL", bid="191.80", ask="191.90", last="191.85")
    status = status_of(ready, ack[0]["order_id"])
    assert status["order_status"] == "Filled"
    assert status["average_price"] == "191.80"


def test_bracket_children_wait_for_parent_then_oca(gw: SimulatedGateway, ready: Api) -> None:
    ack = ready.place_confirmed(
        {**lmt(189.00, quantity=50, cOID="brk-1"), "tif": "GTC"},
        {"conid": AAPL, "parentId": "brk-1", "orderType": "STP", "price": 185.0, "side": "SELL", "tif": "GTC",
         "quantity": 50},
        {"conid": AAPL, "parentId": "brk-1", "orderType": "LMT", "price": 195.0, "side": "SELL", "tif": "GTC",
         "quantity": 50},
    )
    parent, stop, target = (row["order_id"] for row in ack)
    gw.advance(0.05)
    assert status_of(ready, target)["order_status"] == "PreSubmitted"
    gw.set_quote("AAPL", bid="188.80", ask="188.90", last="188.85")  # parent fills
    gw.advance(0.05)
    assert status_of(ready, parent)["order_status"] == "Filled"
    assert status_of(ready, target)["order_status"] == "Submitted"
    gw.set_quote("AAPL", bid="195.10", ask="195.20", last="195.15")  # take-profit fills
    assert status_of(ready, target)["order_status"] == "Filled"
    assert status_of(ready, stop)["order_status"] == "Cancelled"


def test_oca_group_cancels_siblings(gw: SimulatedGateway, ready: Api) -> None:
    ack = ready.place_confirmed({**lmt(185.0), "isSingleGroup": True}, {**lmt(186.0), "isSingleGroup": True})
    first, second = (row["order_id"] for row in ack)
    gw.advance(0.05)
    assert status_of(ready, first)["oca_group_id"] == status_of(ready, second)["oca_group_id"]
    gw.set_quote("AAPL", bid="185.90", ask="186.00", last="185.95")
    assert status_of(ready, second)["order_status"] == "Filled"
    assert status_of(ready, first)["order_status"] == "Cancelled"


def test_cancel_goes_pending_cancel_then_cancelled(gw: SimulatedGateway, ready: Api) -> None:
    ack = ready.place_confirmed(lmt(180.0))
    order_id = ack[0]["order_id"]
    body = ready.delete(f"/iserver/account/{ACCOUNT}/order/{order_id}").json()
    assert body == {"msg": "Request was submitted", "order_id": int(order_id), "conid": AAPL, "account": ACCOUNT}
    assert status_of(ready, order_id)["order_status"] == "PendingCancel"
    gw.advance(0.05)
    assert status_of(ready, order_id)["order_status"] == "Cancelled"
    again = ready.delete(f"/iserver/account/{ACCOUNT}/order/{order_id}")
    assert again.status_code == 400
    assert "doesn't exist" in again.json()["error"]


def test_modify_requires_full_ticket_and_keeps_id(gw: SimulatedGateway, ready: Api) -> None:
    ack = ready.place_confirmed(lmt(180.0, cOID="mod-1"))
    order_id = ack[0]["order_id"]
    gw.advance(0.05)
    body = ready.post(f"/iserver/account/{ACCOUNT}/order/{order_id}", json=lmt(189.95, quantity=20)).json()
    assert body[0]["order_id"] == order_id
    status = status_of(ready, order_id)
    assert status["limit_price"] == "189.95"
    assert status["total_size"] == "20.0"
    wrong = ready.post(f"/iserver/account/{ACCOUNT}/order/{order_id}", json=lmt(189.0, side="SELL"))
    assert wrong.status_code == 400
    gw.set_quote("AAPL", bid="189.80", ask="189.90", last="189.85")
    assert status_of(ready, order_id)["order_status"] == "Filled"


def test_live_orders_preflight_force_and_filters(gw: SimulatedGateway, ready: Api) -> None:
    ready.place_confirmed(lmt(180.0, cOID="live-1"))
    ready.place_confirmed(mkt(quantity=1))
    gw.advance(0.05)
    assert ready.get("/iserver/account/orders").json() == {"orders": [], "snapshot": True}  # cache warm-up
    orders = ready.get("/iserver/account/orders").json()["orders"]
    assert len(orders) == 2
    working = next(o for o in orders if o["order_ref"] == "live-1")
    assert working["side"] == "BUY"
    assert working["price"] == "180.00"
    assert working["orderType"] == "Limit"
    assert working["sizeAndFills"] == "0/10"
    assert isinstance(working["orderId"], int)
    filtered = ready.get("/iserver/account/orders", params={"filters": "filled"}).json()["orders"]
    assert [o["status"] for o in filtered] == ["Filled"]
    assert ready.get("/iserver/account/orders", params={"force": "true"}).json()["orders"] == []


def test_partial_fills_setting(gw: SimulatedGateway, ready: Api) -> None:
    gw.configure(partial_fills=True)
    gw.set_quote("AAPL", ask_size=300)
    ack = ready.place_confirmed(mkt(quantity=500))
    gw.advance(0.05)
    status = status_of(ready, ack[0]["order_id"])
    assert status["order_status"] == "Submitted"
    assert status["cum_fill"] == "300.0"
    gw.set_quote("AAPL", ask_size=1000)
    assert status_of(ready, ack[0]["order_id"])["order_status"] == "Filled"
    trades = ready.get("/iserver/account/trades").json()
    assert [t["size"] for t in trades] == [300, 200]
    assert sum(Decimal(t["commission"]) for t in trades) == Decimal("2.50")


def test_whatif_shape(ready: Api) -> None:
    body = ready.post(f"{ORDERS}/whatif", json={"orders": [lmt(190.0, quantity=100)]}).json()
    assert body["amount"]["amount"] == "19,000.00 USD"
    assert body["amount"]["commission"] == "1.00 USD"
    assert body["position"] == {"current": "0", "change": "100", "after": "100"}
    ready.get("/iserver/account/orders")
    assert ready.get("/iserver/account/orders").json()["orders"] == []


def test_trades_days_validation(ready: Api) -> None:
    assert ready.get("/iserver/account/trades", params={"days": "9"}).status_code == 400
