"""Execution ids are never reused, across a reset, an in-process restart, or a new gateway process.

IBKR's execution ids are globally unique; a simulator that started over at the same id after a
restart would hand a client a "repeat" of an execution it already booked for another order.
"""

from __future__ import annotations

import re
import time
from typing import Any

import requests

from simulators.ibkr import GatewayProcess
from simulators.ibkr import SimulatedGateway
from tests.simulators.ibkr.conftest import ACCOUNT
from tests.simulators.ibkr.conftest import Api
from tests.simulators.ibkr.conftest import mkt

ID_SHAPE = re.compile(r"^[0-9a-f]{8}\.[0-9a-f]{8}\.01\.01$")  # IBKR's shape: 0000e0d5.60cf1bd1.01.01
DEADLINE = 20.0  # seconds; a bound for a stuck gateway, never reached by a healthy one


def trade_ids(api: Api) -> list[str]:
    return [t["execution_id"] for t in api.get("/iserver/account/trades").json()]


def buy_and_fill(gw: SimulatedGateway, api: Api, coid: str) -> set[str]:
    """Buy 10 AAPL at market; return the ids of the trades the gateway reports afterwards."""
    api.prime()
    gw.configure(warn_no_market_data=False, warn_stop_orders=False, warn_marketable=False)
    gw.set_quote("AAPL", bid="189.90", ask="190.00", last="189.95")
    api.place_confirmed(mkt(quantity=10, cOID=coid))
    gw.advance(0.05)
    return set(trade_ids(api))


def test_ids_after_a_reset_or_an_in_process_restart_were_never_issued_before(gw: SimulatedGateway,
                                                                            api: Api) -> None:
    first = buy_and_fill(gw, api, "first")
    gw.reset()  # a freshly started gateway: its books start over
    second = buy_and_fill(gw, api, "second")
    gw.restart()  # a new session of the same gateway (its books stay)
    third = buy_and_fill(gw, api, "third") - second
    assert len(first) == len(second) == len(third) == 1
    assert first.isdisjoint(second)
    assert third.isdisjoint(first | second)
    assert all(ID_SHAPE.match(i) for i in first | second | third)


def _post(session: requests.Session, proc: GatewayProcess, path: str, body: Any) -> Any:
    return session.post(proc.base_url + path, json=body, timeout=10).json()


def _fill_one(proc: GatewayProcess, coid: str) -> str:
    session = requests.Session()
    session.verify = str(proc.ca_file)
    session.trust_env = False
    try:
        assert session.get(proc.base_url + "/iserver/accounts", timeout=10).status_code == 200
        assert session.get(proc.base_url + "/portfolio/accounts", timeout=10).status_code == 200
        proc.control("configure", warn_no_market_data=False, warn_stop_orders=False, warn_marketable=False)
        body = _post(session, proc, f"/iserver/account/{ACCOUNT}/orders", {"orders": [mkt(quantity=10, cOID=coid)]})
        for _ in range(10):  # answer any question with yes
            if not (isinstance(body, list) and body and "id" in body[0]):
                break
            body = _post(session, proc, f"/iserver/reply/{body[0]['id']}", {"confirmed": True})
        deadline = time.monotonic() + DEADLINE
        while True:
            trades = session.get(proc.base_url + "/iserver/account/trades", timeout=10).json()
            if trades:
                return str(trades[0]["execution_id"])
            assert time.monotonic() < deadline, "the order did not fill"
            time.sleep(0.02)  # the gateway fills on its own clock
    finally:
        session.close()


def test_a_new_gateway_process_on_the_same_settings_issues_new_execution_ids() -> None:
    with GatewayProcess(port=0, args=["--no-pacing", "--seed", "3"]) as proc:
        before = _fill_one(proc, "first")
        proc.kill()
        proc.restart()  # same seed, same market, empty books: the ids must still be new
        after = _fill_one(proc, "first")
    assert before != after
    assert ID_SHAPE.match(before)
    assert ID_SHAPE.match(after)
