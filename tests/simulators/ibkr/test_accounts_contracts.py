"""Accounts, portfolio and contract endpoints: documented shapes and error bodies."""

from __future__ import annotations

from simulators.ibkr import SimulatedGateway
from tests.simulators.ibkr.conftest import AAPL
from tests.simulators.ibkr.conftest import ACCOUNT
from tests.simulators.ibkr.conftest import Api
from tests.simulators.ibkr.conftest import mkt


def test_iserver_accounts_shape(api: Api) -> None:
    body = api.get("/iserver/accounts").json()
    assert body["accounts"] == [ACCOUNT]
    assert body["selectedAccount"] == ACCOUNT
    assert body["isPaper"] is True
    assert body["aliases"] == {ACCOUNT: ACCOUNT}
    assert body["acctProps"][ACCOUNT]["supportsFractions"] is True


def test_live_looking_account_is_a_setting(gw: SimulatedGateway, api: Api) -> None:
    gw.reset(paper=False, account_id="U7654321")
    body = api.get("/iserver/accounts").json()
    assert body["accounts"] == ["U7654321"]
    assert body["isPaper"] is False
    assert api.get("/portfolio/accounts").json()[0]["type"] == "INDIVIDUAL"
    assert api.get("/sso/validate").json()["LOGIN_TYPE"] == 1


def test_portfolio_accounts_shape(api: Api) -> None:
    body = api.get("/portfolio/accounts").json()
    assert isinstance(body, list)
    assert body[0]["id"] == ACCOUNT
    assert body[0]["type"] == "DEMO"
    assert isinstance(body[0]["accountStatus"], int)
    assert body[0]["parent"]["isMParent"] is False


def test_summary_and_ledger_shapes(api: Api) -> None:
    api.prime()
    summary = api.get(f"/portfolio/{ACCOUNT}/summary").json()
    assert summary["netliquidation"]["amount"] == 1_000_000.0
    assert summary["netliquidation"]["currency"] == "USD"
    assert summary["accountcode"]["value"] == ACCOUNT
    assert {"amount", "currency", "isNull", "timestamp", "value", "severity"} == set(summary["cushion"])
    ledger = api.get(f"/portfolio/{ACCOUNT}/ledger").json()
    assert set(ledger) == {"BASE", "USD"}
    assert ledger["USD"]["endofbundle"] == 1
    assert ledger["BASE"]["cashbalance"] == 1_000_000.0
    assert ledger["BASE"]["timestamp"] < 10_000_000_000  # epoch seconds, not ms


def test_wrong_account_gets_documented_error(api: Api) -> None:
    api.prime()
    response = api.get("/portfolio/DU999/summary")
    assert response.status_code == 400
    assert response.json() == {"error": "Invalid account: DU999", "statusCode": 400}
    response = api.post("/iserver/account/DU999/orders", json={"orders": [mkt()]})
    assert response.status_code == 400
    assert "DU999" in response.json()["error"]


def test_positions_are_cached_until_invalidate(gw: SimulatedGateway, api: Api) -> None:
    api.prime()
    assert api.get(f"/portfolio/{ACCOUNT}/positions/0").json() == []
    api.post("/iserver/questions/suppress", json={"messageIds": ["o354"]})
    api.place_confirmed(mkt(quantity=100))
    gw.advance(0.1)
    assert api.get(f"/portfolio/{ACCOUNT}/positions/0").json() == []  # stale cache
    fresh = api.get(f"/portfolio/{ACCOUNT}/position/{AAPL}").json()
    assert fresh[0]["position"] == 100.0
    assert api.post(f"/portfolio/{ACCOUNT}/positions/invalidate").status_code == 200
    rows = api.get(f"/portfolio/{ACCOUNT}/positions/0").json()
    assert rows[0]["conid"] == AAPL
    assert rows[0]["position"] == 100.0
    assert rows[0]["strike"] == "0"
    assert api.get(f"/portfolio/{ACCOUNT}/positions/1").json() == []


def test_positions_cache_expires_after_staleness_window(gw: SimulatedGateway, api: Api) -> None:
    api.prime()
    api.get(f"/portfolio/{ACCOUNT}/positions/0")
    api.post("/iserver/questions/suppress", json={"messageIds": ["o354"]})
    api.place_confirmed(mkt(quantity=5))
    gw.advance(61)
    assert api.get(f"/portfolio/{ACCOUNT}/positions/0").json()[0]["position"] == 5.0


def test_secdef_search_get_and_post_have_string_conid(api: Api) -> None:
    by_get = api.get("/iserver/secdef/search", params={"symbol": "AAPL"}).json()
    by_post = api.post("/iserver/secdef/search", json={"symbol": "AAPL", "name": False, "secType": "STK"}).json()
    assert by_get == by_post
    assert by_get[0]["conid"] == "265598"
    assert by_get[0]["description"] == "NASDAQ"
    assert api.get("/iserver/secdef/search", params={"symbol": "NOPE"}).json() == []
    by_name = api.get("/iserver/secdef/search", params={"symbol": "apple", "name": "true"}).json()
    assert by_name[0]["symbol"] == "AAPL"


def test_contract_info_and_unknown_conid(api: Api) -> None:
    body = api.get(f"/iserver/contract/{AAPL}/info").json()
    assert body["con_id"] == AAPL
    assert body["symbol"] == "AAPL"
    assert body["instrument_type"] == "STK"
    response = api.get("/iserver/contract/1/info")
    assert response.status_code == 500
    assert response.json()["error"] == "Invalid conid: 1"


def test_trsrv_stocks_is_case_sensitive(api: Api) -> None:
    body = api.get("/trsrv/stocks", params={"symbols": "AAPL,MSFT,aapl"}).json()
    assert body["AAPL"][0]["contracts"][0] == {"conid": AAPL, "exchange": "NASDAQ", "isUS": True}
    assert body["MSFT"][0]["contracts"][0]["conid"] == 272093
    assert body["aapl"] == []


def test_trsrv_secdef_both_forms(api: Api) -> None:
    got = api.get("/trsrv/secdef", params={"conids": "265598,8314"}).json()
    assert [row["ticker"] for row in got["secdef"]] == ["AAPL", "IBM"]
    posted = api.post("/trsrv/secdef", json={"conids": [265598]}).json()
    assert isinstance(posted, list)
    assert posted[0]["conid"] == AAPL
