"""Read-only order endpoints: live orders, single order status and trades.

Live orders behave like IBKR's cache: the first call of a brokerage session may come back empty,
``force=true`` answers an empty list and clears the cache, and a ``filters`` call silences ``sor``
until the next ``force=true`` (both switchable).
"""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from simulators.ibkr.http_json import BadRequestError
from simulators.ibkr.http_json import Route
from simulators.ibkr.http_json import check_account
from simulators.ibkr.http_json import core_of
from simulators.ibkr.http_json import flag
from simulators.ibkr.http_json import int_param
from simulators.ibkr.http_json import reply
from simulators.ibkr.render_orders import live_order
from simulators.ibkr.render_orders import order_status
from simulators.ibkr.render_orders import trade
from simulators.ibkr.routes_orders import find_order

FILTERS = {
    "inactive": "Inactive", "pending_submit": "PendingSubmit", "pre_submitted": "PreSubmitted",
    "submitted": "Submitted", "filled": "Filled", "pending_cancel": "PendingCancel", "cancelled": "Cancelled",
    "warn_state": "WarnState",
}


async def live_orders(request: web.Request) -> web.Response:
    """``GET /iserver/account/orders?force=&filters=&accountId=``."""
    core = core_of(request)
    scope = core.session.scope
    if request.query.get("accountId"):
        check_account(core, request.query["accountId"])
    if flag(request.query.get("force")):
        scope.orders_warm, scope.sor_silenced = True, False
        return reply({"orders": [], "snapshot": True})
    if core.config.live_orders_preflight and not scope.orders_warm:
        scope.orders_warm = True
        return reply({"orders": [], "snapshot": True})
    orders = [o for o in core.trading.orders.values() if o.working or o.epoch == scope.epoch]
    names = [n.strip().lower() for n in request.query.get("filters", "").split(",") if n.strip()]
    if names:
        wanted = {FILTERS[n] for n in names if n in FILTERS}
        orders = [o for o in orders if str(o.status) in wanted]
        scope.sor_silenced = core.config.filters_silence_sor
        if "sort_by_time" in names:
            orders.sort(key=lambda o: o.last_change_ms, reverse=True)
    rows = []
    for order in orders:
        inst = core.instrument(order.ticket.conid)
        if inst is not None:
            rows.append(live_order(order, inst))
    return reply({"orders": rows, "snapshot": True})


async def status(request: web.Request) -> web.Response:
    """``GET /iserver/account/order/status/{id}``."""
    core = core_of(request)
    order = find_order(core, request.match_info["id"])
    inst = core.instrument(order.ticket.conid)
    assert inst is not None  # orders are only created for known instruments
    return reply(order_status(order, inst))


async def trades(request: web.Request) -> web.Response:
    """``GET /iserver/account/trades?days=N``: today only by default, at most 7 days."""
    core = core_of(request)
    days = int_param(request.query.get("days", "1"), "days")
    if not 1 <= days <= 7:
        raise BadRequestError("Bad Request: days must be 1-7")
    if request.query.get("accountId"):
        check_account(core, request.query["accountId"])
    now = core.clock.now()
    since = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days - 1)
    rows = []
    for execution in core.ledger.executions:
        inst = core.instrument(execution.conid)
        if inst is not None and execution.time >= since:
            rows.append(trade(execution, inst, core.config.username))
    return reply(rows)


ROUTES: list[Route] = [
    ("GET", "/iserver/account/orders", live_orders),
    ("GET", "/iserver/account/order/status/{id}", status),
    ("GET", "/iserver/account/trades", trades),
]
