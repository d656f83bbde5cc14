"""Request pipeline for ``/v1/api`` and ``/v1/portal``: clock jobs, pacing, session gate, faults.

Order per request: run due clock jobs, count placement POSTs per ``cOID`` (a read-only test aid: a
test can prove no order was posted twice, 429s included), check pacing (429), check the session
(401 / 400 "no bridge" / 503 maintenance / priming), record activity, call the handler, then apply
armed faults (delay the answer, or drop the connection after the work is committed).
:func:`isolate_errors` is the single place where an unexpected exception becomes a 500 JSON body
instead of killing the connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re

from aiohttp import web

from simulators.ibkr.config import SessionState
from simulators.ibkr.core import GatewayCore
from simulators.ibkr.http_json import API_PREFIXES
from simulators.ibkr.http_json import BadRequestError
from simulators.ibkr.http_json import Handler
from simulators.ibkr.http_json import core_of
from simulators.ibkr.http_json import error
from simulators.ibkr.http_json import reply

log = logging.getLogger(__name__)

PLACEMENT_PATH = re.compile(r"^/iserver/account/[^/]+/orders$")
AUTH_ROUTES = frozenset({"/iserver/auth/status", "/iserver/auth/ssodh/init", "/iserver/reauthenticate"})
PRIMED_PREFIXES = ("/iserver/marketdata/snapshot", "/iserver/account/", "/iserver/reply/")


def api_path(path: str) -> str | None:
    """Return the path relative to ``/v1/api`` (or ``/v1/portal``), or ``None`` for other paths."""
    for prefix in API_PREFIXES:
        if path.startswith(prefix + "/"):
            return path[len(prefix):]
    return None


def _iserver_refusal(core: GatewayCore, path: str) -> tuple[int, str] | None:
    session = core.session
    refusals = (
        (session.in_maintenance, 503, "Service Unavailable"),
        (session.state is SessionState.SSO_ONLY, 400, "Bad Request: no bridge"),
        (not session.authenticated, 401, "not authenticated"),
        (path.startswith(PRIMED_PREFIXES) and not session.scope.primed, core.config.priming_status,
         "please query /accounts first"),
    )
    return next(((status, text) for applies, status, text in refusals if applies), None)


def session_gate(core: GatewayCore, path: str) -> web.Response | None:
    """Return the refusal for a request the current session state does not allow, else ``None``."""
    if core.session.state is SessionState.LOGGED_OUT:
        if path == "/tickle" and core.config.tickle_no_session_body:
            return reply({"error": "no session"})
        return error(401, "not authenticated")
    if not path.startswith("/iserver/") or path in AUTH_ROUTES:
        return None
    refusal = _iserver_refusal(core, path)
    return error(*refusal) if refusal is not None else None


def count_placement(core: GatewayCore, raw: bytes) -> None:
    """Count one placement POST per ``cOID`` in its body (``core.placement_posts``; 429s included)."""
    try:
        body = json.loads(raw)
    except ValueError:
        return  # the handler answers 400 (or pacing 429); there is no cOID to count
    tickets = body.get("orders") if isinstance(body, dict) else body
    for ticket in tickets if isinstance(tickets, list) else []:
        coid = ticket.get("cOID") if isinstance(ticket, dict) else None
        if coid is not None:
            core.placement_posts[str(coid)] = core.placement_posts.get(str(coid), 0) + 1


@web.middleware
async def isolate_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn expected request errors into 4xx bodies and unexpected ones into a logged 500."""
    try:
        return await handler(request)
    except BadRequestError as e:
        return error(e.status, e.text)
    except web.HTTPException as e:
        if e.status >= 400:
            return error(e.status, e.reason)
        raise
    except (asyncio.CancelledError, ConnectionError):
        raise
    except Exception as e:
        # The documented isolation point: one bad request must never take the gateway down.
        log.exception("unhandled error serving %s %s", request.method, request.path)
        return error(500, f"internal error: {type(e).__name__}")


@web.middleware
async def gateway_rules(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Apply clock jobs, pacing, the session gate and armed faults to API requests."""
    path = api_path(request.path)
    if path is None:
        return await handler(request)
    core = core_of(request)
    core.pump()
    if path == "/ws":
        return await handler(request)
    if request.method == "POST" and PLACEMENT_PATH.match(path):
        count_placement(core, await request.read())
    if not core.pacer.admit(request.method, path):
        return error(429, "Too many requests")
    refusal = session_gate(core, path)
    if refusal is not None:
        return refusal
    core.session.touch()
    response = await handler(request)
    delay = core.faults.take_delay(request.method, path)
    if delay > 0:
        await asyncio.sleep(delay)
    if core.faults.take_drop(request.method, path) and request.transport is not None:
        log.info("fault: dropping connection after committing %s %s", request.method, path)
        request.transport.abort()
    return response
