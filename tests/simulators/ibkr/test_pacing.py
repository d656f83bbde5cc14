"""Pacing: the global budget, per-endpoint limits, the penalty box, and the off switch."""

from __future__ import annotations

from simulators.ibkr import SimulatedGateway
from tests.simulators.ibkr.conftest import Api


def test_global_limit_429_and_window_slides(gw: SimulatedGateway, api: Api) -> None:
    gw.configure(pacing_enabled=True)
    codes = [api.get("/iserver/auth/status").status_code for _ in range(11)]
    assert codes == [200] * 10 + [429]
    assert api.get("/iserver/auth/status").json() == {"error": "Too many requests", "statusCode": 429}
    gw.advance(1.01)
    assert api.get("/iserver/auth/status").status_code == 200


def test_per_endpoint_limit(gw: SimulatedGateway, api: Api) -> None:
    gw.configure(pacing_enabled=True)
    assert api.post("/tickle").status_code == 200
    assert api.post("/tickle").status_code == 429
    assert api.get("/iserver/auth/status").status_code == 200  # other endpoints unaffected
    api.get("/iserver/accounts")
    assert api.get("/iserver/account/orders").status_code == 200
    assert api.get("/iserver/account/orders").status_code == 429
    gw.advance(5.01)
    assert api.get("/iserver/account/orders").status_code == 200


def test_penalty_box_blocks_everything_for_600_seconds(gw: SimulatedGateway, api: Api) -> None:
    gw.configure(pacing_enabled=True)
    for _ in range(11):
        api.post("/tickle")
    assert gw.state()["penalty_box"] is True
    gw.advance(2)
    assert api.get("/iserver/auth/status").status_code == 429
    gw.advance(600)
    assert api.get("/iserver/auth/status").status_code == 200


def test_pacing_switch_off(gw: SimulatedGateway, api: Api) -> None:
    assert all(api.post("/tickle").status_code == 200 for _ in range(30))
