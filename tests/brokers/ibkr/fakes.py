"""Test doubles for the IBKR adapter: a routing requests adapter and a scripted websocket."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter

from brokers.ibkr.config import IbkrConfig
from framework.clock import SimulatedClock

FIXTURES = Path(__file__).parent / "fixtures"
BASE = "https://gw.test/v1/api"


def fixture(name: str) -> Any:
    """A fixture's parsed JSON (a fresh copy each time)."""
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


@dataclass
class Reply:
    """A scripted HTTP answer: status and JSON body, or an exception to raise."""

    status: int = 200
    body: Any = None
    raises: Exception | None = None


@dataclass
class Sent:
    """One request the fake adapter received."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any


Route = Reply | Callable[[Sent], Reply]


class FakeAdapter(BaseAdapter):
    """Routes (method, path) to scripted replies; records every request.

    A route holds a list of replies consumed in order (the last one repeats) or a callable.
    """

    def __init__(self) -> None:
        super().__init__()
        self.routes: dict[tuple[str, str], list[Route]] = {}
        self.sent: list[Sent] = []

    def on(self, method: str, path: str, *replies: Route) -> None:
        self.routes[(method, path)] = list(replies)

    def ok(self, method: str, path: str, fixture_name: str) -> None:
        self.on(method, path, Reply(200, fixture(fixture_name)))

    def paths(self, method: str | None = None) -> list[str]:
        return [s.path for s in self.sent if method is None or s.method == method]

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        url = urlsplit(request.url or "")
        path = url.path.removeprefix("/v1/api")
        body = json.loads(request.body) if request.body else None
        sent = Sent(request.method or "GET", path, parse_qs(url.query), body)
        self.sent.append(sent)
        routes = self.routes.get((sent.method, path))
        if not routes:
            return _response(request, Reply(404, {"error": f"no route {sent.method} {path}"}))
        route = routes.pop(0) if len(routes) > 1 else routes[0]
        reply = route(sent) if callable(route) else route
        if reply.raises is not None:
            raise reply.raises
        return _response(request, reply)

    def close(self) -> None:
        pass


def _response(request: requests.PreparedRequest, reply: Reply) -> requests.Response:
    response = requests.Response()
    response.status_code = reply.status
    response._content = b"" if reply.body is None else json.dumps(reply.body).encode()
    response.headers["Content-Type"] = "application/json"
    response.request = request
    response.url = request.url or ""
    response.reason = "scripted"
    return response


@contextmanager
def fake_session(adapter: FakeAdapter) -> Iterator[requests.Session]:
    session = requests.Session()
    session.mount("https://", adapter)
    try:
        yield session
    finally:
        session.close()


class FakeWsConnection:
    """A scripted websocket: yields queued frames, then None (read timeout); records sent frames."""

    def __init__(self, frames: list[str | bytes | Exception] | None = None) -> None:
        self.frames: deque[str | bytes | Exception] = deque(frames or [])
        self.sent: list[str] = []
        self.closed = False

    def push(self, *frames: str | bytes | dict[str, Any] | Exception) -> None:
        for frame in frames:
            self.frames.append(json.dumps(frame) if isinstance(frame, dict) else frame)

    def send(self, text: str) -> None:
        if self.closed:
            raise ConnectionError("closed")
        self.sent.append(text)

    def recv(self) -> str | bytes | None:
        if self.closed:
            raise ConnectionError("closed")
        if not self.frames:
            return None
        frame = self.frames.popleft()
        if isinstance(frame, Exception):
            raise frame
        return frame

    def close(self) -> None:
        self.closed = True


class FakeWsFactory:
    """Hands out FakeWsConnections; records the URL and cookie of every connect."""

    def __init__(self) -> None:
        self.connections: list[FakeWsConnection] = []
        self.cookies: list[str] = []
        self.fail_next = 0

    def __call__(self, url: str, *, cookie: str) -> FakeWsConnection:
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("refused")
        self.cookies.append(cookie)
        conn = FakeWsConnection()
        self.connections.append(conn)
        return conn

    @property
    def last(self) -> FakeWsConnection:
        return self.connections[-1]


def advancing_sleep(clock: SimulatedClock) -> Callable[[float], None]:
    """A sleep that moves the simulated clock instead of waiting."""
    return lambda seconds: clock.advance(timedelta(seconds=seconds))


def make_config(**overrides: Any) -> IbkrConfig:
    values: Mapping[str, Any] = {"base_url": BASE, "ws_url": "wss://gw.test/v1/api/ws", **overrides}
    return IbkrConfig.model_validate(values)


def gateway_routes(adapter: FakeAdapter) -> None:
    """The routes of a healthy, logged-in gateway with one paper account."""
    adapter.ok("POST", "/tickle", "http_post_tickle")
    adapter.ok("POST", "/iserver/auth/status", "http_post_iserver_auth_status")
    adapter.ok("GET", "/iserver/accounts", "http_get_iserver_accounts")
    adapter.ok("GET", "/portfolio/accounts", "http_get_portfolio_accounts")
    adapter.ok("POST", "/iserver/questions/suppress", "http_post_iserver_questions_suppress")
    adapter.ok("GET", "/iserver/secdef/search", "http_get_iserver_secdef_search")
    adapter.on("GET", "/iserver/account/orders", Reply(200, {"orders": [], "snapshot": True}))
    adapter.on("GET", "/iserver/account/trades", Reply(200, []))
