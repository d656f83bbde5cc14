"""Fixtures: one simulated gateway per test module, reset before every test.

The gateway runs on a SimulatedClock with a manual market and pacing off, so tests move time and
the market explicitly (``gw.advance``, ``gw.step_market``, ``gw.set_quote``) and never sleep. History
requests answer at once (``history_latency=0``): with latency they wait for the clock to advance.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from typing import Any

import pytest
import requests
import websocket

from framework.clock import SimulatedClock
from simulators.ibkr import SimulatedGateway
from simulators.ibkr import SimulatorConfig

START = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
BASE_CONFIG = SimulatorConfig(market_mode="manual", pacing_enabled=False, seed=11, history_latency=0)
ACCOUNT = "DU1234567"
AAPL = 265598


class Api:
    """A small REST client for tests: real TLS verification against the gateway's CA."""

    def __init__(self, gw: SimulatedGateway) -> None:
        self.gw = gw
        self.session = requests.Session()
        self.session.verify = str(gw.ca_file)
        self.session.trust_env = False  # ignore REQUESTS_CA_BUNDLE/proxies from the environment

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        return self.session.request(method, self.gw.base_url + path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def prime(self) -> None:
        assert self.get("/iserver/accounts").status_code == 200
        assert self.get("/portfolio/accounts").status_code == 200

    def place(self, *orders: dict[str, Any]) -> requests.Response:
        return self.post(f"/iserver/account/{ACCOUNT}/orders", json={"orders": list(orders)})

    def place_confirmed(self, *orders: dict[str, Any]) -> list[dict[str, Any]]:
        """Place and answer every question with yes; return the acknowledgement."""
        body = self.place(*orders).json()
        for _ in range(10):
            if not (isinstance(body, list) and body and "id" in body[0]):
                break
            body = self.post(f"/iserver/reply/{body[0]['id']}", json={"confirmed": True}).json()
        return body  # type: ignore[no-any-return]

    def close(self) -> None:
        self.session.close()


@pytest.fixture(scope="module")
def clock() -> SimulatedClock:
    return SimulatedClock(START)


@pytest.fixture(scope="module")
def gateway(clock: SimulatedClock) -> Iterator[SimulatedGateway]:
    with SimulatedGateway(port=0, config=BASE_CONFIG, clock=clock) as gw:
        yield gw


@pytest.fixture
def gw(gateway: SimulatedGateway) -> SimulatedGateway:
    gateway.reset()
    return gateway


@pytest.fixture
def api(gw: SimulatedGateway) -> Iterator[Api]:
    client = Api(gw)
    yield client
    client.close()


@pytest.fixture
def sockets() -> Iterator[list[websocket.WebSocket]]:
    opened: list[websocket.WebSocket] = []
    yield opened
    for ws in opened:
        ws.close()
        ws.shutdown()  # close() skips the socket when the server already dropped the connection


def open_ws(gw: SimulatedGateway, sockets: list[websocket.WebSocket], cookie: str | None = "raw",
            **options: Any) -> websocket.WebSocket:
    """Open a websocket with the ``api`` cookie (``raw`` id, ``json`` form, or none)."""
    session_id = gw.session_id
    header = {"raw": f"api={session_id}", "json": 'api={"session":"' + session_id + '"}', None: None}[cookie]
    ws = websocket.create_connection(gw.ws_url, sslopt={"ca_certs": str(gw.ca_file)}, cookie=header,
                                     timeout=5, **options)
    sockets.append(ws)
    return ws


def recv_json(ws: websocket.WebSocket) -> dict[str, Any]:
    import json

    message = ws.recv()
    return json.loads(message)  # type: ignore[no-any-return]


def recv_until(ws: websocket.WebSocket, predicate: Any, limit: int = 50) -> dict[str, Any]:
    """Receive until a message satisfies ``predicate``; fail after ``limit`` messages."""
    for _ in range(limit):
        message = recv_json(ws)
        if predicate(message):
            return message
    raise AssertionError("expected message not received")


def authenticated_ws(gw: SimulatedGateway, sockets: list[websocket.WebSocket]) -> websocket.WebSocket:
    """Open a websocket and consume the four greeting messages."""
    ws = open_ws(gw, sockets)
    topics = [recv_json(ws).get("topic") for _ in range(4)]
    assert topics == ["sts", "system", "act", "sts"]
    return ws


def mkt(side: str = "BUY", quantity: int = 10, **extra: Any) -> dict[str, Any]:
    return {"conid": AAPL, "orderType": "MKT", "side": side, "tif": "DAY", "quantity": quantity, **extra}


def lmt(price: float, side: str = "BUY", quantity: int = 10, **extra: Any) -> dict[str, Any]:
    return {"conid": AAPL, "orderType": "LMT", "side": side, "tif": "DAY", "quantity": quantity,
            "price": price, **extra}


@pytest.fixture
def ready(gw: SimulatedGateway, api: Api) -> Api:
    """Primed session with quiet precautions and a known AAPL quote (bid 189.90 / ask 190.00 / last 189.95)."""
    api.prime()
    gw.configure(warn_no_market_data=False, warn_stop_orders=False, warn_marketable=False)
    gw.set_quote("AAPL", bid="189.90", ask="190.00", last="189.95")
    return api


def status_of(api: Api, order_id: str) -> dict[str, Any]:
    return api.get(f"/iserver/account/order/status/{order_id}").json()  # type: ignore[no-any-return]
