"""Account and portfolio endpoints, including the priming rules and the stale positions cache.

``/portfolio/{acct}/positions/{page}`` serves a cached copy that is rebuilt only when it is older
than ``position_cache_seconds`` or after ``POST /portfolio/{acct}/positions/invalidate``;
``/portfolio2/{acct}/positions`` and the single-position endpoint are always fresh.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from simulators.ibkr import render_portfolio as rp
from simulators.ibkr.core import GatewayCore
from simulators.ibkr.http_json import BadRequestError
from simulators.ibkr.http_json import Route
from simulators.ibkr.http_json import body_json
from simulators.ibkr.http_json import check_account
from simulators.ibkr.http_json import core_of
from simulators.ibkr.http_json import int_param
from simulators.ibkr.http_json import reply

PAGE_SIZE = 100


async def iserver_accounts(request: web.Request) -> web.Response:
    """``GET /iserver/accounts``: primes the brokerage session."""
    core = core_of(request)
    core.session.scope.primed = True
    return reply(rp.iserver_accounts(core.config, f"{core.session.session_id[:8]}.{core.session.scope.epoch:08x}"))


async def select_account(request: web.Request) -> web.Response:
    """``POST /iserver/account`` with ``{"acctId": ...}``."""
    core = core_of(request)
    body = await body_json(request, {})
    account = str(body.get("acctId", "")) if isinstance(body, dict) else ""
    check_account(core, account)
    return reply({"set": True, "acctId": account})


async def portfolio_accounts(request: web.Request) -> web.Response:
    """``GET /portfolio/accounts`` (and ``/portfolio/subaccounts``): primes ``/portfolio``."""
    core = core_of(request)
    core.session.portfolio_primed = True
    return reply([rp.portfolio_account(core.config)])


def _portfolio_core(request: web.Request) -> GatewayCore:
    core = core_of(request)
    if not core.session.portfolio_primed:
        raise BadRequestError("Please query /portfolio/accounts first")
    check_account(core, request.match_info["acct"])
    return core


async def summary(request: web.Request) -> web.Response:
    """``GET /portfolio/{acct}/summary``."""
    core = _portfolio_core(request)
    return reply(rp.summary(core.config, core.totals(), core.now_ms()))


async def ledger(request: web.Request) -> web.Response:
    """``GET /portfolio/{acct}/ledger``."""
    core = _portfolio_core(request)
    return reply(rp.ledger(core.config, core.totals(), core.now_ms() // 1000))


async def meta(request: web.Request) -> web.Response:
    """``GET /portfolio/{acct}/meta``."""
    core = _portfolio_core(request)
    return reply(rp.portfolio_account(core.config))


def fresh_positions(core: GatewayCore) -> list[dict[str, Any]]:
    """Return position rows built from the books right now."""
    rows = []
    marks = core.marks()
    for conid, position in core.ledger.positions.items():
        inst = core.instrument(conid)
        if inst is not None:
            rows.append(rp.position_row(core.config, position, inst, marks.get(conid, position.avg_cost)))
    return rows


def cached_positions(core: GatewayCore) -> list[dict[str, Any]]:
    """Return the cached rows, rebuilding them when missing or older than the staleness window."""
    now = core.clock.monotonic()
    cache = core.position_cache
    if cache is None or now - cache[1] >= core.config.position_cache_seconds:
        cache = (fresh_positions(core), now)
        core.position_cache = cache
    return cache[0]


async def positions(request: web.Request) -> web.Response:
    """``GET /portfolio/{acct}/positions/{page}``: cached, 100 per page, ``[]`` past the end."""
    core = _portfolio_core(request)
    page = int_param(request.match_info["page"], "pageId")
    rows = cached_positions(core)
    return reply(rows[page * PAGE_SIZE:(page + 1) * PAGE_SIZE] if page >= 0 else [])


async def positions_fresh(request: web.Request) -> web.Response:
    """``GET /portfolio2/{acct}/positions``: near-real-time, no paging, no open-zero rows."""
    core = core_of(request)
    check_account(core, request.match_info["acct"])
    return reply([row for row in fresh_positions(core) if row["position"] != 0])


async def one_position(request: web.Request) -> web.Response:
    """``GET /portfolio/{acct}/position/{conid}``: array, empty when flat."""
    core = _portfolio_core(request)
    conid = int_param(request.match_info["conid"], "conid")
    if core.instrument(conid) is None:
        raise BadRequestError(f"Invalid conid: {conid}")
    return reply([row for row in fresh_positions(core) if row["conid"] == conid and row["position"] != 0])


async def invalidate(request: web.Request) -> web.Response:
    """``POST /portfolio/{acct}/positions/invalidate``: drop the positions cache."""
    core = _portfolio_core(request)
    core.position_cache = None
    return reply({"message": "success"})


async def pnl_partitioned(request: web.Request) -> web.Response:
    """``GET /iserver/account/pnl/partitioned``."""
    return reply({"upnl": core_of(request).pnl()})


ROUTES: list[Route] = [
    ("GET", "/iserver/accounts", iserver_accounts),
    ("POST", "/iserver/account", select_account),
    ("GET", "/portfolio/accounts", portfolio_accounts),
    ("GET", "/portfolio/subaccounts", portfolio_accounts),
    ("GET", "/portfolio/{acct}/summary", summary),
    ("GET", "/portfolio/{acct}/ledger", ledger),
    ("GET", "/portfolio/{acct}/meta", meta),
    ("POST", "/portfolio/{acct}/positions/invalidate", invalidate),
    ("GET", "/portfolio/{acct}/positions/{page}", positions),
    ("GET", "/portfolio/{acct}/position/{conid}", one_position),
    ("GET", "/portfolio2/{acct}/positions", positions_fresh),
    ("GET", "/iserver/account/pnl/partitioned", pnl_partitioned),
]
