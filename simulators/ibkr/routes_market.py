"""Market-data endpoints: snapshot (with pre-flight), history, hmds history and unsubscribe.

A snapshot for a conid first opens a stream and answers only ``conid``/``conidEx``; later calls read
the stream. The fields requested are remembered per conid, so later calls may omit ``fields``.
Unknown conids never produce data, as on the real gateway.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from simulators.ibkr import fields
from simulators.ibkr import history
from simulators.ibkr.config import HistoryAnchor
from simulators.ibkr.core import GatewayCore
from simulators.ibkr.http_json import BadRequestError
from simulators.ibkr.http_json import Route
from simulators.ibkr.http_json import body_json
from simulators.ibkr.http_json import core_of
from simulators.ibkr.http_json import error
from simulators.ibkr.http_json import flag
from simulators.ibkr.http_json import int_param
from simulators.ibkr.http_json import reply


def _conids(text: str | None) -> list[int]:
    items = [part.strip() for part in (text or "").split(",") if part.strip()]
    if not items:
        raise BadRequestError("Bad Request: conids required")
    return [int_param(item, "conid") for item in items]


def _snapshot_row(core: GatewayCore, conid: int, requested: list[str], index: int) -> dict[str, Any]:
    ident: dict[str, Any] = {"conid": conid, "conidEx": str(conid)}
    if core.instrument(conid) is None:
        return ident
    streams = core.session.scope.streams
    now = core.clock.monotonic()
    stream = streams.get(conid)
    if stream is None:
        streams[conid] = (requested or list(fields.DEFAULT_FIELDS), now)
        if core.config.snapshot_preflight:
            return ident
        stream = streams[conid]
    remembered = stream[0] + [code for code in requested if code not in stream[0]]
    streams[conid] = (remembered, stream[1])
    if now - stream[1] < core.config.snapshot_warmup:
        return ident
    rendered = core.rendered(conid)
    server_id = f"q{index}"
    return {**fields.select(rendered, remembered), "6119": server_id, "6509": rendered["6509"],
            "_updated": core.now_ms(), "server_id": server_id, **ident}


async def snapshot(request: web.Request) -> web.Response:
    """``GET /iserver/marketdata/snapshot?conids=...&fields=...``."""
    core = core_of(request)
    conids = _conids(request.query.get("conids"))
    requested = [code.strip() for code in request.query.get("fields", "").split(",") if code.strip()]
    return reply([_snapshot_row(core, conid, requested, i) for i, conid in enumerate(conids)])


def _bars(core: GatewayCore, conid: int, query: Mapping[str, str], *, forward: bool) -> tuple[list[history.Bar], int]:
    """Bars for a history request: ``period``, ``bar``, ``outsideRth`` and ``startTime`` (default: now)."""
    inst = core.instrument(conid)
    quote = core.market.quote(conid)
    if inst is None or quote is None:
        raise BadRequestError(f"Invalid conid: {conid}", 500)
    try:
        count, size = history.bar_count(query.get("period", "1d"), query.get("bar", "5min"))
        text = query.get("startTime")
        reference = history.parse_start_time(text) if text else None
    except history.HistoryError as e:
        raise BadRequestError(str(e)) from e
    if inst.symbol in {b.symbol for b in core.bars}:
        rows = core.market.history.get(conid, [])
        return history.resample(rows, size, count, reference=reference, forward=forward), size
    now = core.clock.now()
    keep = core.sessions.history_filter(size, flag(query.get("outsideRth")))
    starts = history.bar_starts(reference or now, count, size, forward=forward and reference is not None,
                                keep=keep, latest=now)
    return history.generate(core.config.seed, inst, last=quote.last, starts=starts, size=size), size


async def market_history(request: web.Request) -> web.Response:
    """``GET /iserver/marketdata/history``: at most 5 concurrent requests, 1000 bars.

    Each request stays in flight for ``history_latency`` clock seconds, which is what lets
    concurrent requests overlap and the sixth one see 429.
    """
    core = core_of(request)
    if core.history_in_flight >= core.config.history_max_concurrent:
        return error(429, "Too many requests")
    core.history_in_flight += 1
    try:
        conid = int_param(request.query.get("conid"), "conid")
        period = request.query.get("period", "1d")
        forward = core.config.history_start_time is HistoryAnchor.START
        bars, size = _bars(core, conid, request.query, forward=forward)
        await core.wait(core.config.history_latency)  # invalid requests are refused at once
    finally:
        core.history_in_flight -= 1
    if not bars:
        return error(500, "No data.")
    inst = core.instrument(conid)
    assert inst is not None  # checked by _bars
    return reply(history.response(inst, bars, period=period, size=size,
                                  outside_rth=flag(request.query.get("outsideRth")),
                                  in_hundreds=core.config.history_volume_in_hundreds,
                                  server_id=str(100000 + conid % 900000)))


async def hmds_history(request: web.Request) -> web.Response:
    """``GET /hmds/history``: 404 on the first call of a session while the service "starts"."""
    core = core_of(request)
    if core.config.history_first_call_404 and not core.session.scope.hmds_ready:
        core.session.scope.hmds_ready = True
        return error(404, "HMDS service not ready")
    core.session.scope.hmds_ready = True
    conid = int_param(request.query.get("conid"), "conid")
    bars, _ = _bars(core, conid, request.query, forward=request.query.get("direction", "1").strip() == "-1")
    return reply(history.hmds_response(bars)) if bars else error(500, "No data.")


async def unsubscribe(request: web.Request) -> web.Response:
    """``POST /iserver/marketdata/unsubscribe`` with ``{"conid": n}``: 404 when not streaming."""
    core = core_of(request)
    body = await body_json(request, {})
    conid = int_param(str(body.get("conid")) if isinstance(body, dict) else None, "conid")
    if core.session.scope.streams.pop(conid, None) is None:
        return error(404, f"No subscription for conid {conid}")
    return reply({"success": True})


async def unsubscribe_legacy(request: web.Request) -> web.Response:
    """``GET /iserver/marketdata/{conid}/unsubscribe`` (2022 form)."""
    core = core_of(request)
    conid = int_param(request.match_info["conid"], "conid")
    core.session.scope.streams.pop(conid, None)
    return reply({"confirmed": "success"})


async def unsubscribe_all(request: web.Request) -> web.Response:
    """``GET /iserver/marketdata/unsubscribeall``."""
    core_of(request).session.scope.streams.clear()
    return reply({"unsubscribed": True})


ROUTES: list[Route] = [
    ("GET", "/iserver/marketdata/snapshot", snapshot),
    ("GET", "/iserver/marketdata/history", market_history),
    ("GET", "/hmds/history", hmds_history),
    ("POST", "/iserver/marketdata/unsubscribe", unsubscribe),
    ("GET", "/iserver/marketdata/unsubscribeall", unsubscribe_all),
    ("GET", "/iserver/marketdata/{conid}/unsubscribe", unsubscribe_legacy),
]
