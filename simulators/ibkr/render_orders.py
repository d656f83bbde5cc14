"""Order and execution JSON in the gateway's shapes (spec 6.8-6.10, 7.5, 7.6).

Types follow the recorded payloads exactly: live orders have ``price`` as a string and quantities as
floats; order status has sizes as strings and ``side`` as ``B``/``S``; trades have ``conid``,
``price`` and ``commission`` as strings but ``size`` and ``net_amount`` as numbers.
"""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from decimal import Decimal
from typing import Any

from simulators.ibkr.account import Execution
from simulators.ibkr.instruments import Instrument
from simulators.ibkr.orders import Order
from simulators.ibkr.orders import OrderStatus

TYPE_TEXT = {
    "MKT": ("Market", "MARKET"), "LMT": ("Limit", "LIMIT"), "STP": ("Stop", "STOP"),
    "STOP_LIMIT": ("Stop Limit", "STOP_LIMIT"), "TRAIL": ("Trail", "TRAILING STOP"),
    "TRAILLMT": ("Trail Limit", "TRAILING STOP LIMIT"), "MIDPRICE": ("Mid Price", "MIDPRICE"),
}
COLORS = {
    OrderStatus.PENDING_SUBMIT: ("#FFFFFF", "#3399CC"), OrderStatus.PRE_SUBMITTED: ("#FFFFFF", "#0000CC"),
    OrderStatus.SUBMITTED: ("#000000", "#00F000"), OrderStatus.FILLED: ("#FFFFFF", "#000000"),
    OrderStatus.PENDING_CANCEL: ("#FFFFFF", "#FF0000"), OrderStatus.CANCELLED: ("#FFFFFF", "#AAAAAA"),
    OrderStatus.INACTIVE: ("#FFFFFF", "#AAAAAA"),
}
STATUS_DESCRIPTION = {
    OrderStatus.PENDING_SUBMIT: "Order Pending Submission", OrderStatus.PRE_SUBMITTED: "Order Submitted",
    OrderStatus.SUBMITTED: "Order Submitted", OrderStatus.FILLED: "Order Filled",
    OrderStatus.PENDING_CANCEL: "Order Pending Cancel", OrderStatus.CANCELLED: "Order Cancelled",
    OrderStatus.INACTIVE: "Order Inactive",
}


def quantity_text(value: Decimal) -> str:
    """Format a share count without a trailing ``.0`` (``100``, ``0.5``)."""
    return f"{value.normalize():f}" if value != value.to_integral() else str(int(value))


def short_time(ms: int) -> str:
    """Format epoch ms as ``YYMMDDhhmmss`` UTC (``lastExecutionTime``, ``order_time``)."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%y%m%d%H%M%S")


def _price_part(order: Order) -> str:
    ticket = order.ticket
    if ticket.order_type in ("LMT", "STOP_LIMIT", "MIDPRICE") and ticket.price is not None:
        return f" {ticket.price:.2f}"
    if ticket.order_type == "STP" and ticket.price is not None:
        return f" {ticket.price:.2f}"
    return ""


def describe(order: Order) -> str:
    """Return IBKR's order description, e.g. ``Buy 100 Limit 170.00, DAY``."""
    ticket = order.ticket
    if order.status is OrderStatus.FILLED:
        verb = "Bought" if ticket.side == "BUY" else "Sold"
    else:
        verb = "Buy" if ticket.side == "BUY" else "Sell"
    kind = TYPE_TEXT[ticket.order_type][0]
    return f"{verb} {quantity_text(ticket.quantity)} {kind}{_price_part(order)}, {ticket.tif}"


def size_and_fills(order: Order) -> str:
    """Return ``filled/total`` while working, just ``total`` once complete."""
    total = quantity_text(order.ticket.quantity)
    if order.working:
        return f"{quantity_text(order.filled)}/{total}"
    return total


def live_order(order: Order, inst: Instrument) -> dict[str, Any]:
    """Return the ``/iserver/account/orders`` element (also the full ``sor`` object)."""
    ticket = order.ticket
    bg, fg = COLORS[order.status]
    body: dict[str, Any] = {
        "acct": order.account, "account": order.account, "conid": ticket.conid, "conidex": str(ticket.conid),
        "orderId": order.order_id, "cashCcy": "USD", "sizeAndFills": size_and_fills(order),
        "orderDesc": describe(order), "description1": inst.symbol, "ticker": inst.symbol, "secType": "STK",
        "listingExchange": inst.listing_exchange, "remainingQuantity": float(order.remaining),
        "filledQuantity": float(order.filled), "totalSize": float(ticket.quantity), "companyName": inst.name,
        "status": str(order.status), "order_ccp_status": str(order.status),
        "origOrderType": TYPE_TEXT[ticket.order_type][1], "supportsTaxOpt": "1",
        "lastExecutionTime": short_time(order.last_change_ms), "lastExecutionTime_r": order.last_change_ms,
        "orderType": TYPE_TEXT[ticket.order_type][0], "side": ticket.side, "timeInForce": ticket.tif,
        "outsideRTH": ticket.outside_rth, "bgColor": bg, "fgColor": fg,
    }
    body["order_ref"] = ticket.client_order_id if ticket.client_order_id is not None else str(order.order_id)
    if ticket.price is not None and ticket.order_type != "STP":
        body["price"] = f"{ticket.price:.2f}"
    if order.stop_price is not None:
        body["auxPrice"] = f"{order.stop_price:.2f}"
    if order.avg_price is not None:
        body["avgPrice"] = f"{order.avg_price:.2f}"
    if order.parent_id is not None:
        body["parentId"] = order.parent_id
    return body


SOR_NUMBERS = ("price", "auxPrice")
"""Live-order fields that are strings in REST (``"457.00"``) but numbers in ``sor`` frames (``372``)."""


def sor_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """A live-order object or delta as the ``sor`` topic sends it: prices as numbers (IBKR's examples).

    ``avgPrice`` stays a string, as in IBKR's own ``sor`` example.
    """
    if not any(key in fields for key in SOR_NUMBERS):
        return fields
    return {key: float(value) if key in SOR_NUMBERS else value for key, value in fields.items()}


def order_status(order: Order, inst: Instrument) -> dict[str, Any]:
    """Return the ``/iserver/account/order/status/{id}`` body."""
    ticket = order.ticket
    bg, fg = COLORS[order.status]
    description = describe(order)
    body: dict[str, Any] = {
        "order_id": order.order_id, "conid": ticket.conid, "conidex": str(ticket.conid), "symbol": inst.symbol,
        "side": "B" if ticket.side == "BUY" else "S", "contract_description_1": inst.symbol,
        "listing_exchange": inst.listing_exchange, "company_name": inst.name, "account": order.account,
        "order_clearing_account": order.account, "currency": "USD", "sec_type": "STK",
        "size": f"{order.remaining:.1f}", "total_size": f"{ticket.quantity:.1f}", "cum_fill": f"{order.filled:.1f}",
        "size_and_fills": size_and_fills(order), "order_type": TYPE_TEXT[ticket.order_type][1],
        "tif": ticket.tif, "outside_rth": ticket.outside_rth, "order_status": str(order.status),
        "order_status_description": order.status_description or STATUS_DESCRIPTION[order.status],
        "order_ccp_status": "0",
        "order_description": description,
        "order_description_with_contract": _with_contract(description, inst.symbol),
        "order_time": short_time(order.created_ms), "request_id": str(order.order_id % 100000),
        "server_id": "0", "sub_type": None, "order_not_editable": not order.working,
        "cannot_cancel_order": not order.working, "deactivate_order": False, "editable_fields": "\u001e",
        "use_price_mgmt_algo": False, "allowed_duplicate_opposite": True, "alert_active": 1,
        "child_order_type": "3" if order.parent_id is None else "0", "option_acct": "c",
        "available_chart_periods": "#R|1", "bg_color": bg, "fg_color": fg,
        "exit_strategy_display_price": f"{ticket.price:.2f}" if ticket.price is not None else "",
        "exit_strategy_chart_description": description, "exit_strategy_tool_availability": "1",
    }
    _status_extras(order, body)
    return body


def _with_contract(description: str, symbol: str) -> str:
    verb, quantity, rest = description.split(" ", 2)
    return f"{verb} {quantity} {symbol} {rest}"


def _status_extras(order: Order, body: dict[str, Any]) -> None:
    ticket = order.ticket
    if ticket.price is not None and ticket.order_type in ("LMT", "STOP_LIMIT", "MIDPRICE"):
        body["limit_price"] = f"{ticket.price:.2f}"
    if order.stop_price is not None:
        body["stop_price"] = f"{order.stop_price:.2f}"
    if order.avg_price is not None:
        body["average_price"] = f"{order.avg_price:.2f}"
    if order.oca_group is not None:
        body["oca_group_id"] = order.oca_group
    if order.parent_id is not None:
        body["parent_order_id"] = order.parent_id


def trade(execution: Execution, inst: Instrument, username: str) -> dict[str, Any]:
    """Return one ``/iserver/account/trades`` row (same keys on the ``str`` topic)."""
    verb = "Bot" if execution.side == "BUY" else "Sld"
    size = float(execution.size) if execution.size != execution.size.to_integral() else int(execution.size)
    net = execution.size * execution.price
    return {
        "execution_id": execution.execution_id, "symbol": inst.symbol, "supports_tax_opt": "1",
        "side": "B" if execution.side == "BUY" else "S",
        "order_description": f"{verb} {quantity_text(execution.size)} @ {execution.price:.2f} on {inst.exchange}",
        "trade_time": execution.time.strftime("%Y%m%d-%H:%M:%S"),
        "trade_time_r": int(execution.time.timestamp() * 1000), "size": size,
        "price": f"{execution.price:.2f}", "order_ref": execution.order_ref, "submitter": username,
        "exchange": inst.exchange, "commission": f"{execution.commission:.2f}", "net_amount": float(net),
        "account": execution.account, "accountCode": execution.account,
        "account_allocation_name": execution.account, "company_name": inst.name,
        "contract_description_1": inst.symbol, "sec_type": "STK", "listing_exchange": inst.listing_exchange,
        "conid": str(execution.conid), "conidex": str(execution.conid), "clearing_id": "IB",
        "clearing_name": "IB", "liquidation_trade": "0", "is_event_trading": "0",
    }
