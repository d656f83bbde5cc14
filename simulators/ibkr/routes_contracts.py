"""Contract endpoints: secdef search, contract info, ``/trsrv/stocks`` and ``/trsrv/secdef``."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from simulators.ibkr import render_contracts as rc
from simulators.ibkr.config import SecdefNoMatch
from simulators.ibkr.http_json import BadRequestError
from simulators.ibkr.http_json import Route
from simulators.ibkr.http_json import body_json
from simulators.ibkr.http_json import core_of
from simulators.ibkr.http_json import error
from simulators.ibkr.http_json import flag
from simulators.ibkr.http_json import int_param
from simulators.ibkr.http_json import reply

MAX_SECDEF_CONIDS = 200


async def _params(request: web.Request) -> dict[str, Any]:
    if request.method == "POST":
        body = await body_json(request, {})
        if not isinstance(body, dict):
            raise BadRequestError("Bad Request: body must be a JSON object")
        return body
    return dict(request.query)


async def secdef_search(request: web.Request) -> web.Response:
    """``/iserver/secdef/search`` (GET query or POST body); ``conid`` is a string here."""
    core = core_of(request)
    params = await _params(request)
    symbol = params.get("symbol")
    if not isinstance(symbol, str) or not symbol.strip():
        raise BadRequestError("Bad Request: symbol required")
    by_name = flag(params.get("name"))
    sec_type = str(params.get("secType", "STK")).upper()
    if sec_type not in ("STK", "IND", "BOND"):
        raise BadRequestError(f"Bad Request: invalid secType {sec_type}")
    found = core.universe.search(symbol, by_name) if sec_type == "STK" else []
    if not found and core.config.secdef_no_match is SecdefNoMatch.ERROR:
        return error(500, f"No symbol found: {symbol.strip()}")  # older builds ([U]); current ones answer []
    return reply([rc.search_result(inst, by_name) for inst in found])


async def contract_info(request: web.Request) -> web.Response:
    """``GET /iserver/contract/{conid}/info``."""
    core = core_of(request)
    conid = int_param(request.match_info["conid"], "conid")
    inst = core.instrument(conid)
    if inst is None:
        raise BadRequestError(f"Invalid conid: {conid}", 500)
    return reply(rc.contract_info(inst))


async def stocks(request: web.Request) -> web.Response:
    """``GET /trsrv/stocks?symbols=AAPL,MSFT``: case-sensitive; unknown symbols map to ``[]``."""
    core = core_of(request)
    symbols = [s.strip() for s in request.query.get("symbols", "").split(",") if s.strip()]
    if not symbols:
        raise BadRequestError("Bad Request: symbols required")
    body: dict[str, Any] = {}
    for symbol in symbols:
        inst = core.universe.by_symbol(symbol)
        body[symbol] = rc.stocks_entry(inst) if inst is not None and inst.symbol == symbol else []
    return reply(body)


async def secdef(request: web.Request) -> web.Response:
    """``/trsrv/secdef``: GET ``?conids=`` answers ``{"secdef": [...]}``, POST a bare array."""
    core = core_of(request)
    params = await _params(request)
    raw = params.get("conids", "")
    items = raw if isinstance(raw, list) else str(raw).split(",")
    conids = [int_param(str(item).strip(), "conids") for item in items if str(item).strip()]
    if not conids:
        raise BadRequestError("Bad Request: conids required")
    if len(conids) > MAX_SECDEF_CONIDS:
        raise BadRequestError(f"Bad Request: at most {MAX_SECDEF_CONIDS} conids")
    rows = [rc.secdef(inst) for inst in (core.instrument(c) for c in conids) if inst is not None]
    return reply({"secdef": rows} if request.method == "GET" else rows)


ROUTES: list[Route] = [
    ("GET", "/iserver/secdef/search", secdef_search),
    ("POST", "/iserver/secdef/search", secdef_search),
    ("GET", "/iserver/contract/{conid}/info", contract_info),
    ("GET", "/trsrv/stocks", stocks),
    ("GET", "/trsrv/secdef", secdef),
    ("POST", "/trsrv/secdef", secdef),
]
