"""Session tier: auth status, tickle, sso validate, logout, states, idle expiry, priming."""

from __future__ import annotations

import re

import pytest

from simulators.ibkr import SimulatedGateway
from tests.simulators.ibkr.conftest import ACCOUNT
from tests.simulators.ibkr.conftest import Api

AUTH_KEYS = {"authenticated", "competing", "connected", "established", "message", "MAC", "fail",
             "hardware_info", "prompts", "serverInfo"}


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_auth_status_shape_when_authenticated(api: Api, method: str) -> None:
    body = api.request(method, "/iserver/auth/status").json()
    assert set(body) == AUTH_KEYS
    assert body["authenticated"] is True
    assert body["connected"] is True
    assert body["competing"] is False
    assert body["prompts"] == []
    assert set(body["serverInfo"]) == {"serverName", "serverVersion"}


def test_tickle_returns_stable_32_hex_session_and_auth_snapshot(api: Api) -> None:
    first = api.post("/tickle").json()
    second = api.get("/tickle").json()
    assert re.fullmatch(r"[0-9a-f]{32}", first["session"])
    assert first["session"] == second["session"]
    assert isinstance(first["ssoExpires"], int)
    assert first["collission"] is False
    assert first["hmds"] == {"error": "no bridge"}
    assert first["iserver"]["authStatus"]["authenticated"] is True


def test_sso_expires_counts_down_with_the_clock(gw: SimulatedGateway, api: Api) -> None:
    before = api.post("/tickle").json()["ssoExpires"]
    gw.advance(60)
    assert api.post("/tickle").json()["ssoExpires"] == before - 60_000


def test_sso_validate_shape_paper(api: Api) -> None:
    body = api.get("/sso/validate").json()
    assert body["RESULT"] is True
    assert body["LOGIN_TYPE"] == 2
    assert isinstance(body["USER_ID"], int)
    assert isinstance(body["EXPIRES"], int)


def test_logout_then_every_api_call_is_401(gw: SimulatedGateway, api: Api) -> None:
    assert api.post("/logout").json() == {"status": True}
    for path in ("/iserver/auth/status", "/portfolio/accounts", "/tickle", "/sso/validate"):
        response = api.get(path)
        assert response.status_code == 401
        assert response.json() == {"error": "not authenticated", "statusCode": 401}
    gw.login()
    assert api.get("/iserver/auth/status").json()["authenticated"] is True


def test_tickle_no_session_body_setting(gw: SimulatedGateway, api: Api) -> None:
    gw.configure(tickle_no_session_body=True)
    gw.logout()
    response = api.post("/tickle")
    assert response.status_code == 200
    assert response.json() == {"error": "no session"}


def test_idle_timeout_expires_brokerage_session_then_reauthenticate_restores(gw: SimulatedGateway, api: Api) -> None:
    api.prime()
    gw.advance(301)
    status = api.get("/iserver/auth/status").json()
    assert status["authenticated"] is False
    assert status["connected"] is True
    assert api.get("/iserver/accounts").status_code == 401
    assert api.get("/portfolio/accounts").status_code == 200  # the SSO tier survives
    assert api.post("/iserver/reauthenticate").json() == {"message": "triggered"}
    assert api.get("/iserver/auth/status").json()["authenticated"] is False
    gw.advance(3)
    assert api.get("/iserver/auth/status").json()["authenticated"] is True
    # A new brokerage session must be primed again.
    assert api.get("/iserver/marketdata/snapshot", params={"conids": "265598"}).status_code == 500


def test_tickle_keeps_session_alive(gw: SimulatedGateway, api: Api) -> None:
    for _ in range(6):
        gw.advance(60)
        api.post("/tickle")
    assert api.get("/iserver/auth/status").json()["authenticated"] is True


def test_competing_state_and_ssodh_init_with_compete(gw: SimulatedGateway, api: Api) -> None:
    gw.compete()
    status = api.post("/iserver/auth/status").json()
    assert status["competing"] is True
    assert status["authenticated"] is False
    api.post("/iserver/reauthenticate")
    gw.advance(5)
    assert api.get("/iserver/auth/status").json()["competing"] is True  # no force: still competing
    body = api.post("/iserver/auth/ssodh/init", json={"publish": True, "compete": True}).json()
    assert body["authenticated"] is True
    assert body["competing"] is False


def test_reauthenticate_force_kicks_competing_session(gw: SimulatedGateway, api: Api) -> None:
    gw.compete()
    api.get("/iserver/reauthenticate", params={"force": "true"})
    gw.advance(3)
    assert api.get("/iserver/auth/status").json()["authenticated"] is True


def test_sso_only_state_gives_no_bridge(gw: SimulatedGateway, api: Api) -> None:
    gw.set_session("sso_only")
    response = api.get("/iserver/accounts")
    assert response.status_code == 400
    assert response.json() == {"error": "Bad Request: no bridge", "statusCode": 400}
    assert api.get("/portfolio/accounts").status_code == 200


def test_priming_required_for_snapshot_orders_and_trades(api: Api) -> None:
    for path in ("/iserver/marketdata/snapshot?conids=265598", "/iserver/account/orders",
                 "/iserver/account/trades"):
        response = api.get(path)
        assert response.status_code == 500
        assert response.json()["error"] == "please query /accounts first"
    api.get("/iserver/accounts")
    assert api.get("/iserver/account/trades").status_code == 200


def test_priming_status_is_a_setting(gw: SimulatedGateway, api: Api) -> None:
    gw.configure(priming_status=400)
    assert api.get("/iserver/account/orders").status_code == 400


def test_portfolio_priming_required(api: Api) -> None:
    response = api.get(f"/portfolio/{ACCOUNT}/summary")
    assert response.status_code == 400
    assert "portfolio/accounts" in response.json()["error"]
    api.get("/portfolio/accounts")
    assert api.get(f"/portfolio/{ACCOUNT}/summary").status_code == 200


def test_portal_prefix_serves_the_same_routes(gw: SimulatedGateway, api: Api) -> None:
    response = api.session.get(gw.root_url + "/v1/portal/iserver/auth/status", timeout=10)
    assert response.status_code == 200
    assert response.json()["authenticated"] is True


def test_unknown_route_is_json_404(api: Api) -> None:
    response = api.get("/no/such/route")
    assert response.status_code == 404
    assert response.json()["statusCode"] == 404


def test_landing_page_is_html(gw: SimulatedGateway, api: Api) -> None:
    response = api.session.get(gw.root_url + "/", timeout=10)
    assert response.status_code == 200
    assert "Client login succeeds" in response.text
    assert "text/html" in response.headers["Content-Type"]
