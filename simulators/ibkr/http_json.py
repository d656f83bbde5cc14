"""JSON plumbing shared by the route modules: responses, error shapes, request bodies, route tables.

Error bodies use the gateway's documented shape ``{"error": "...", "statusCode": n}``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable
from collections.abc import Callable
from typing import Any

from aiohttp import web

from simulators.ibkr import orders
from simulators.ibkr.core import GatewayCore

CORE: web.AppKey[GatewayCore] = web.AppKey("core", GatewayCore)
API_PREFIXES = ("/v1/api", "/v1/portal")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Route = tuple[str, str, Handler]


class BadRequestError(Exception):
    """Raised by helpers to answer 400 with an error body."""

    def __init__(self, text: str, status: int = 400) -> None:
        super().__init__(text)
        self.text = text
        self.status = status


def reply(body: Any, status: int = 200) -> web.Response:
    """Return a JSON response."""
    return web.Response(text=json.dumps(body, separators=(",", ":")), status=status,
                        content_type="application/json")


def error(status: int, text: str) -> web.Response:
    """Return ``{"error": text, "statusCode": status}`` with that HTTP status."""
    return reply({"error": text, "statusCode": status}, status)


def core_of(request: web.Request) -> GatewayCore:
    """Return the gateway core serving this request."""
    return request.app[CORE]


async def body_json(request: web.Request, default: Any = None) -> Any:
    """Return the parsed JSON body, ``default`` when empty.

    Raises:
        BadRequestError: If the body is not valid JSON.
    """
    raw = await request.read()
    if not raw.strip():
        return default
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BadRequestError("Bad Request: invalid JSON body") from e


def flag(value: Any) -> bool:
    """Parse a query-string or JSON boolean: ``"false"`` is false (:func:`simulators.ibkr.orders.flag`)."""
    return orders.flag(value)


def int_param(text: str | None, name: str) -> int:
    """Parse an integer path or query parameter.

    Raises:
        BadRequestError: If it is missing or not an integer.
    """
    try:
        return int(str(text))
    except ValueError as e:
        raise BadRequestError(f"invalid {name}: {text!r}") from e


def check_account(core: GatewayCore, account: str) -> None:
    """Reject requests for an account other than the simulated one.

    Raises:
        BadRequestError: With IBKR-style text when the account is unknown.
    """
    if account != core.config.account_id:
        raise BadRequestError(f"Invalid account: {account}")
