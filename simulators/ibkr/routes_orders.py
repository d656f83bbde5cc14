"""Order endpoints: place (with the reply dialogue), whatif, reply, suppress, modify, cancel.

Placement accepts both documented bodies, ``{"orders": [...]}`` and a bare array. Tickets are
validated, duplicate ``cOID`` values are refused, and precaution questions that are not suppressed
are asked one per round before anything is committed.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aiohttp import web

from simulators.ibkr.account import order_commission
from simulators.ibkr.config import OutsideRthOrders
from simulators.ibkr.core import GatewayCore
from simulators.ibkr.http_json import BadRequestError
from simulators.ibkr.http_json import Route
from simulators.ibkr.http_json import body_json
from simulators.ibkr.http_json import check_account
from simulators.ibkr.http_json import core_of
from simulators.ibkr.http_json import flag
from simulators.ibkr.http_json import int_param
from simulators.ibkr.http_json import reply
from simulators.ibkr.matching import is_marketable
from simulators.ibkr.orders import Order
from simulators.ibkr.orders import Ticket
from simulators.ibkr.orders import TicketError
from simulators.ibkr.orders import parse_ticket
from simulators.ibkr.questions import Commit
from simulators.ibkr.questions import Question
from simulators.ibkr.questions import precautions
from simulators.ibkr.sessions import OUTSIDE_RTH_ERROR


def _tickets(core: GatewayCore, account: str, body: Any) -> list[Ticket]:
    raw = body.get("orders") if isinstance(body, dict) else body
    if not isinstance(raw, list) or not raw:
        raise BadRequestError('Bad Request: body must be {"orders": [...]} or a non-empty array')
    try:
        tickets = [parse_ticket(item) for item in raw]
    except TicketError as e:
        raise BadRequestError(str(e)) from e
    coids = {t.client_order_id for t in tickets if t.client_order_id is not None}
    for ticket in tickets:
        if ticket.account is not None and ticket.account != account:
            raise BadRequestError(f"Invalid account: {ticket.account}")
        if core.instrument(ticket.conid) is None:
            raise BadRequestError(f"Invalid conid: {ticket.conid}")
        if ticket.parent_client_id is not None and ticket.parent_client_id not in coids:
            raise BadRequestError(f"Parent order {ticket.parent_client_id} not found in request")
    return tickets


def _has_market_data(core: GatewayCore, conid: int) -> bool:
    if conid in core.session.scope.streams:
        return True
    return any(conid in client.market for client in core.hub.clients)


def _questions(core: GatewayCore, account: str, tickets: list[Ticket]) -> list[Question]:
    found: dict[str, Question] = {}
    for ticket in tickets:
        inst, quote = core.instrument(ticket.conid), core.market.quote(ticket.conid)
        assert inst is not None  # validated by _tickets
        assert quote is not None
        probe = Order(0, account, ticket, 0, 0, stop_price=ticket.stop_trigger)
        for question in precautions(ticket, inst, quote, core.config,
                                    has_market_data=_has_market_data(core, ticket.conid),
                                    marketable=is_marketable(probe, quote)):
            found.setdefault(question.message_id, question)
    suppressed = core.session.scope.suppressed
    return [q for q in found.values() if q.message_id not in suppressed]


def _duplicate(coid: str) -> tuple[int, Any]:
    return 200, {"error": f"Order couldn't be submitted: Local order ID={coid} is already registered."}


def _dialogue(core: GatewayCore, questions: list[Question], commit: Commit) -> web.Response:
    if questions:
        return reply(core.replies.ask(questions, commit))
    status, body = commit()
    return reply(body, status)


async def place_orders(request: web.Request) -> web.Response:
    """``POST /iserver/account/{acct}/orders``."""
    core = core_of(request)
    account = request.match_info["acct"]
    check_account(core, account)
    tickets = _tickets(core, account, await body_json(request))
    duplicate = core.trading.duplicate_coid(tickets)
    if duplicate is not None:
        status, body = _duplicate(duplicate)
        return reply(body, status)
    if core.config.outside_rth_orders is OutsideRthOrders.REJECT and not all(
            t.parent_client_id is not None or core.sessions.may_trade(t) for t in tickets):
        return reply({"error": OUTSIDE_RTH_ERROR})  # bracket children are held anyway: only parents count
    epoch = core.session.scope.epoch

    def commit() -> tuple[int, Any]:
        again = core.trading.duplicate_coid(tickets)
        if again is not None:
            return _duplicate(again)
        return 200, core.trading.submit(account, tickets, epoch)

    return _dialogue(core, _questions(core, account, tickets), commit)


def _money(value: Decimal) -> str:
    return f"{value:,.2f} USD"


async def whatif(request: web.Request) -> web.Response:
    """``POST /iserver/account/{acct}/orders/whatif``: formatted-string projections, nothing placed."""
    core = core_of(request)
    account = request.match_info["acct"]
    check_account(core, account)
    ticket = _tickets(core, account, await body_json(request))[0]
    quote = core.market.quote(ticket.conid)
    assert quote is not None  # validated by _tickets
    price = ticket.price or (quote.ask if ticket.side == "BUY" else quote.bid)
    value = ticket.quantity * price
    config = core.config
    commission = order_commission(ticket.quantity, value, config.commission_per_share, config.commission_minimum,
                                  config.commission_max_pct)
    totals = core.totals()
    held = core.ledger.positions.get(ticket.conid)
    current = held.quantity if held is not None else Decimal(0)
    change = ticket.quantity if ticket.side == "BUY" else -ticket.quantity
    margin = value * Decimal("0.25")

    def row(now: Decimal, delta: Decimal) -> dict[str, str]:
        return {"current": f"{now:,.0f}", "change": f"{delta:,.0f}", "after": f"{now + delta:,.0f}"}

    too_big = value * Decimal("0.25") > totals.available
    return reply({
        "amount": {"amount": _money(value), "commission": _money(commission), "total": _money(value + commission)},
        "equity": row(totals.net_liquidation, -commission), "initial": row(totals.initial, margin),
        "maintenance": row(totals.maintenance, margin), "position": row(current, change),
        "warn": None, "error": "Insufficient buying power" if too_big else None,
    })


async def answer(request: web.Request) -> web.Response:
    """``POST /iserver/reply/{id}`` with ``{"confirmed": bool}``; reply ids are single-use."""
    core = core_of(request)
    body = await body_json(request, {})
    confirmed = body.get("confirmed") if isinstance(body, dict) else None
    if isinstance(confirmed, str) and confirmed.strip().lower() in ("true", "false"):
        confirmed = flag(confirmed)  # a string boolean: "false" means false
    if not isinstance(confirmed, bool):
        raise BadRequestError('Bad Request: body must be {"confirmed": true|false}')
    status, result = core.replies.answer(request.match_info["id"], confirmed, core.config.reply_decline_status)
    return reply(result, status)


async def suppress(request: web.Request) -> web.Response:
    """``POST /iserver/questions/suppress`` with ``{"messageIds": [...]}``."""
    core = core_of(request)
    body = await body_json(request, {})
    ids = body.get("messageIds") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise BadRequestError('Bad Request: body must be {"messageIds": [...]}')
    core.session.scope.suppressed.update(ids)
    return reply({"status": "submitted"})


async def suppress_reset(request: web.Request) -> web.Response:
    """``POST /iserver/questions/suppress/reset``."""
    core_of(request).session.scope.suppressed.clear()
    return reply({"status": "submitted"})


def find_order(core: GatewayCore, text: str) -> Order:
    """Return an order by id.

    Raises:
        BadRequestError: When no such order exists.
    """
    order = core.trading.orders.get(int_param(text, "orderId"))
    if order is None:
        raise BadRequestError(f"OrderID {text} doesn't exist")
    return order


async def modify(request: web.Request) -> web.Response:
    """``POST /iserver/account/{acct}/order/{id}``: a full, unwrapped ticket; same order id."""
    core = core_of(request)
    account = request.match_info["acct"]
    check_account(core, account)
    order = find_order(core, request.match_info["id"])
    if not order.working or order.status == "PendingCancel":
        raise BadRequestError(f"Order {order.order_id} cannot be modified: {order.status}")
    ticket = _tickets(core, account, [await body_json(request)])[0]
    if ticket.conid != order.ticket.conid or ticket.side != order.ticket.side:
        raise BadRequestError("Bad Request: conid and side of a modified order must not change")
    if ticket.quantity < order.filled:
        raise BadRequestError("Bad Request: quantity is below the filled quantity")
    duplicate = core.trading.duplicate_coid([ticket], owner=order.order_id)
    if duplicate is not None:
        status, body = _duplicate(duplicate)
        return reply(body, status)

    def commit() -> tuple[int, Any]:
        if not order.working:
            return 400, {"error": f"Order {order.order_id} is no longer working", "statusCode": 400}
        again = core.trading.duplicate_coid([ticket], owner=order.order_id)
        if again is not None:
            return _duplicate(again)
        return 200, core.trading.modify(order, ticket)

    return _dialogue(core, _questions(core, account, [ticket]), commit)


async def cancel(request: web.Request) -> web.Response:
    """``DELETE /iserver/account/{acct}/order/{id}`` (``-1`` cancels every working order)."""
    core = core_of(request)
    account = request.match_info["acct"]
    check_account(core, account)
    core.cancel_requests += 1
    if request.match_info["id"] == "-1":
        for order in core.trading.working_orders():
            core.trading.cancel(order)
        return reply({"msg": "Request was submitted", "order_id": -1, "conid": -1, "account": account})
    order = find_order(core, request.match_info["id"])
    if not order.working:
        raise BadRequestError(f"OrderID {order.order_id} doesn't exist")
    if order.status != "PendingCancel":
        core.trading.cancel(order)
    return reply({"msg": "Request was submitted", "order_id": order.order_id, "conid": order.ticket.conid,
                  "account": account})


ROUTES: list[Route] = [
    ("POST", "/iserver/account/{acct}/orders/whatif", whatif),
    ("POST", "/iserver/account/{acct}/orders", place_orders),
    ("POST", "/iserver/reply/{id}", answer),
    ("POST", "/iserver/questions/suppress/reset", suppress_reset),
    ("POST", "/iserver/questions/suppress", suppress),
    ("POST", "/iserver/account/{acct}/order/{id}", modify),
    ("DELETE", "/iserver/account/{acct}/order/{id}", cancel),
]
