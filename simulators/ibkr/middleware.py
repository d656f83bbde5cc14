"""Request pipeline for ``/v1/api`` and ``/v1/portal``: clock jobs, pacing, session gate, faults.

Order per request: run due clock jobs, number the arrival and record placement POSTs per ``cOID``
(read-only test aids: a test can prove no order was posted twice, 429s included, and which placements
arrived after a given instant), check pacing (429), hold the request if a ``before_processing`` hold
rule matches, check the session (401 / 400 "no bridge" / 503 maintenance / priming), record activity,
call the handler, then apply armed faults (hold the answer until released, delay it, or drop the
connection after the work is committed). :func:`isolate_errors` is the single place where an
unexpected exception becomes a 500 JSON body instead of killing the connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re

from aiohttp import web

from simulators.ibkr.config import SessionState
from simulators.ibkr.config import UnauthorizedBody
from simulators.ibkr.core import GatewayCore
from simulators.ibkr.holds import Arrival
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
    """Return the path relative to ``/v1/api`` (or ``/v1/portal``), or ``None`` for other paths.

    A trailing slash is dropped (``/iserver/account/trades/`` is ``/iserver/account/trades``), as the
    real gateway accepts both, so pacing and the session rules see one endpoint.
    """
    for prefix in API_PREFIXES:
        if path.startswith(prefix + "/"):
            relative = path[len(prefix):]
            return relative[:-1] if len(relative) > 1 and relative.endswith("/") else relative
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


UNAUTHORIZED_PAGE = "<html><head><title>401 Unauthorized</title></head><body><h1>Unauthorized</h1></body></html>"


def unauthorized(core: GatewayCore) -> web.Response:
    """A 401 answer with the body form ``unauthorized_body`` selects: JSON error, empty, or an HTML page."""
    form = core.config.unauthorized_body
    if form is UnauthorizedBody.EMPTY:
        return web.Response(status=401)
    if form is UnauthorizedBody.HTML:
        return web.Response(status=401, text=UNAUTHORIZED_PAGE, content_type="text/html")
    return error(401, "not authenticated")


def session_gate(core: GatewayCore, path: str) -> web.Response | None:
    """Return the refusal for a request the current session state does not allow, else ``None``."""
    if core.session.state is SessionState.LOGGED_OUT:
        if path == "/tickle" and core.config.tickle_no_session_body:
            return reply({"error": "no session"})
        return unauthorized(core)
    if not path.startswith("/iserver/") or path in AUTH_ROUTES:
        return None
    refusal = _iserver_refusal(core, path)
    if refusal is None:
        return None
    return unauthorized(core) if refusal[0] == 401 else error(*refusal)


def placement_coids(raw: bytes) -> list[str]:
    """Return the ``cOID`` values of a placement body in order (none when the body is not JSON)."""
    try:
        body = json.loads(raw)
    except ValueError:
        return []  # the handler answers 400 (or pacing 429); there is no cOID to count
    tickets = body.get("orders") if isinstance(body, dict) else body
    coids = []
    for ticket in tickets if isinstance(tickets, list) else []:
        coid = ticket.get("cOID") if isinstance(ticket, dict) else None
        if coid is not None:
            coids.append(str(coid))
    return coids


def count_placement(core: GatewayCore, raw: bytes, seq: int) -> tuple[str, ...]:
    """Record one placement POST that arrived as request ``seq`` and return its ``cOID`` values.

    Each ``cOID`` in the body counts once in ``core.placement_posts`` (429s included) and appends
    ``(seq, cOID)`` to ``core.placement_arrivals``; a body without any ``cOID`` appends ``(seq, None)``.
    """
    coids = placement_coids(raw)
    for coid in coids:
        core.placement_posts[coid] = core.placement_posts.get(coid, 0) + 1
    named: list[str | None] = list(coids)
    core.placement_arrivals.extend((seq, coid) for coid in named or [None])
    return tuple(coids)


async def arrive(core: GatewayCore, request: web.Request, path: str) -> Arrival:
    """Number an API request on arrival (a placement once its body is read) and record placement POSTs."""
    placement = request.method == "POST" and PLACEMENT_PATH.match(path) is not None
    raw = await request.read() if placement else b""
    # No await from here on: arrival numbers and placement_arrivals stay in the same order.
    core.request_seq += 1
    coids = count_placement(core, raw, core.request_seq) if placement else ()
    return Arrival(request.method, path, core.request_seq, coids)


def _connected(request: web.Request) -> bool:
    transport = request.transport
    return transport is not None and not transport.is_closing()


async def hold_if_armed(core: GatewayCore, request: web.Request, arrival: Arrival,
                        response: web.StreamResponse | None) -> None:
    """Hold the request until released when a hold rule for this stage matches (consuming one use).

    ``response`` is ``None`` before processing and the withheld answer after it.
    """
    before = response is None
    if not core.faults.take_hold(arrival.method, arrival.path, before_processing=before):
        return
    log.info("fault: holding %s %s (%s processing)", arrival.method, arrival.path, "before" if before else "after")
    await core.faults.held.hold(arrival, before_processing=before, status=None if response is None else response.status,
                                connected=lambda: _connected(request))


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
    arrival = await arrive(core, request, path)
    if not core.pacer.admit(request.method, path):
        return error(429, "Too many requests")
    await hold_if_armed(core, request, arrival, None)
    refusal = session_gate(core, path)
    if refusal is not None:
        return refusal
    core.session.touch()
    response = await handler(request)
    await hold_if_armed(core, request, arrival, response)
    delay = core.faults.take_delay(request.method, path)
    if delay > 0:
        await asyncio.sleep(delay)
    if core.faults.take_drop(request.method, path) and request.transport is not None:
        log.info("fault: dropping connection after committing %s %s", request.method, path)
        request.transport.abort()
    return response
