"""Websocket commands from clients (spec 7.2-7.9): session handshake, subscriptions, keep-alives.

Commands are ``TOPIC+ARG+{json}`` text. Argument spellings vary between IBKR's docs and clients
(``outsideRth``/``outsideRTH``/``outside_rth``, ``realtimeUpdatesOnly``/``realtime_updates_only``), so
all are accepted. Unknown or malformed commands are ignored, as the gateway is lenient too.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from brokers.ibkr.simulator import fields
from brokers.ibkr.simulator import history
from brokers.ibkr.simulator import render_portfolio as rp
from brokers.ibkr.simulator.core import GatewayCore
from brokers.ibkr.simulator.hub import MarketSubscription
from brokers.ibkr.simulator.hub import WsClient
from brokers.ibkr.simulator.render_orders import live_order
from brokers.ibkr.simulator.render_orders import trade

log = logging.getLogger(__name__)


def session_from_cookie(header: str | None) -> str | None:
    """Extract the session id from a ``Cookie`` header: ``api=<id>`` or ``api={"session": "<id>"}``."""
    for part in (header or "").split(";"):
        name, _, value = part.strip().partition("=")
        if name != "api":
            continue
        value = value.strip()
        if value.startswith("{"):
            try:
                parsed = json.loads(value)
            except json.JSONDecodeError:
                return None
            return str(parsed.get("session")) if isinstance(parsed, dict) else None
        return value.strip('"')
    return None


def authenticate(core: GatewayCore, client: WsClient, session_id: str | None) -> bool:
    """Accept the socket if ``session_id`` is the gateway's current session; send the greeting."""
    session = core.session
    if session_id != session.session_id or session.state == "logged_out":
        core.hub.send(client, {"message": "waiting for session"})
        return False
    client.authenticated = True
    send = core.hub.send
    send(client, {"topic": "sts", "args": {"authenticated": session.authenticated}})
    send(client, {"topic": "system", "success": core.config.username, "isFT": False, "isPaper": core.config.paper})
    marker = f"{session.session_id[:8]}.{session.scope.epoch:08x}"
    send(client, {"topic": "act", "args": rp.iserver_accounts(core.config, marker)})
    send(client, {"topic": "sts", "args": {"competing": session.state == "competing"}})
    return True


def _json_arg(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _split(command: str) -> tuple[str, list[str], dict[str, Any]]:
    """Split ``smd+265598+{...}`` into ``("smd", ["265598"], {...})``."""
    head, brace, rest = command.partition("{")
    parts = [p for p in head.split("+") if p]
    args = _json_arg(brace + rest) if brace else {}
    return (parts[0] if parts else ""), parts[1:], args


def _subscribe_market(core: GatewayCore, client: WsClient, ids: list[str], args: dict[str, Any]) -> None:
    if not ids:
        return
    try:
        conid = int(ids[0].split("@", 1)[0])
    except ValueError:
        return
    if core.instrument(conid) is None:
        return
    requested = [str(code) for code in args.get("fields", [])] or list(fields.DEFAULT_FIELDS)
    sub = client.market.get(conid)
    if sub is None:
        sub = client.market[conid] = MarketSubscription(requested)
    else:
        sub.fields += [code for code in requested if code not in sub.fields]
    rendered = core.rendered(conid)
    current = fields.select(rendered, sub.fields)
    changed = {k: v for k, v in current.items() if sub.sent.get(k) != v}
    sub.sent.update(changed)
    core.hub.send(client, {"topic": f"smd+{conid}", "conid": conid, "conidEx": ids[0], "_updated": core.now_ms(),
                           "server_id": "q0", "6119": "q0", "6509": rendered["6509"], **changed})


def _unsubscribe_market(client: WsClient, ids: list[str]) -> None:
    if ids:
        try:
            client.market.pop(int(ids[0].split("@", 1)[0]), None)
        except ValueError:
            return


def _subscribe_orders(core: GatewayCore, client: WsClient) -> None:
    client.orders = True
    rows = []
    for order in core.trading.orders.values():
        inst = core.instrument(order.ticket.conid)
        if inst is not None and (order.working or order.epoch == core.session.scope.epoch):
            rows.append(live_order(order, inst))
    if rows:
        core.hub.send(client, {"topic": "sor", "args": rows})


def _subscribe_trades(core: GatewayCore, client: WsClient, args: dict[str, Any]) -> None:
    client.trades = True
    if args.get("realtimeUpdatesOnly") or args.get("realtime_updates_only"):
        return
    days = args.get("days", 7)
    since = core.clock.now() - timedelta(days=days if isinstance(days, int) and 1 <= days <= 7 else 7)
    rows = []
    for execution in core.ledger.executions:
        inst = core.instrument(execution.conid)
        if inst is not None and execution.time >= since:
            rows.append(trade(execution, inst, core.config.username))
    if rows:
        core.hub.send(client, {"topic": "str", "args": rows})


def _subscribe_pnl(core: GatewayCore, client: WsClient) -> None:
    client.pnl = True
    core.hub.send(client, {"topic": "spl", "args": core.pnl()})


def _account_streams(core: GatewayCore, client: WsClient, topic: str, ids: list[str]) -> None:
    account = ids[0] if ids else core.config.account_id
    totals = core.totals()
    ts = core.now_ms() // 1000
    if topic == "ssd":
        client.summary.add(account)
        result: list[dict[str, Any]] = [
            {"key": "AccountCode", "value": account, "timestamp": ts},
            {"key": "NetLiquidation", "monetaryValue": float(totals.net_liquidation), "currency": "USD",
             "severity": 0, "timestamp": ts},
            {"key": "ExcessLiquidity-S", "monetaryValue": float(totals.excess), "currency": "USD", "severity": 0,
             "timestamp": ts},
        ]
    else:
        client.ledger.add(account)
        result = [{"acctCode": account, "key": "LedgerListBASE", "currency": "BASE",
                   "cashbalance": float(totals.cash), "netLiquidationValue": float(totals.net_liquidation),
                   "unrealizedPnl": float(totals.unrealized), "timestamp": ts}]
    core.hub.send(client, {"topic": f"{topic}+{account}", "result": result})


def _history_stream(core: GatewayCore, client: WsClient, ids: list[str], args: dict[str, Any]) -> None:
    try:
        conid = int(ids[0])
        count, size = history.bar_count(str(args.get("period", "1d")), str(args.get("bar", "5min")))
    except (IndexError, ValueError):
        return
    inst, quote = core.instrument(conid), core.market.quote(conid)
    if inst is None or quote is None:
        return
    server_id = f"{len(client.history) + 1}"
    client.history.add(server_id)
    bars = history.generate(core.config.seed, inst, last=quote.last, end=core.clock.now(), count=count, size=size)
    outside = bool(args.get("outsideRth") or args.get("outsideRTH") or args.get("outside_rth"))
    body = history.response(inst, bars, period=f"{count * size}s", size=size, outside_rth=outside,
                            in_hundreds=core.config.history_volume_in_hundreds, server_id=server_id)
    core.hub.send(client, {**body, "topic": f"smh+{conid}"})


def _keepalive(core: GatewayCore, client: WsClient, topic: str) -> None:
    if topic == "tic":
        core.session.touch()
        core.hub.send(client, {"topic": "tic", "lastAccessed": core.now_ms(),
                               "isAuthenticated": core.session.authenticated})
    else:
        core.hub.send(client, {"topic": "ech+hb", "hb": core.now_ms()})


def _unsubscribe(core: GatewayCore, client: WsClient, topic: str, ids: list[str]) -> None:
    actions: dict[str, Callable[[], None]] = {
        "umd": lambda: _unsubscribe_market(client, ids),
        "uor": lambda: setattr(client, "orders", False),
        "utr": lambda: setattr(client, "trades", False),
        "upl": lambda: setattr(client, "pnl", False),
    }
    if topic in actions:
        actions[topic]()
    elif topic == "usd":
        client.summary.discard(ids[0] if ids else "")
        core.hub.send(client, {"result": "unsubscribed from summary"})
    elif topic == "uld":
        client.ledger.discard(ids[0] if ids else "")
        core.hub.send(client, {"result": "unsubscribed from ledger"})
    elif topic == "umh" and ids:
        client.history.discard(ids[0])
        core.hub.send(client, {"message": f"Unsubscribed {ids[0]}"})


def handle(core: GatewayCore, client: WsClient, text: str) -> None:
    """Apply one client message."""
    command = text.strip()
    if command.startswith("{"):
        authenticate(core, client, str(_json_arg(command).get("session")))
        return
    if not client.authenticated:
        core.hub.send(client, {"message": "waiting for session"})
        return
    topic, ids, args = _split(command)
    commands: dict[str, Callable[[], None]] = {
        "tic": lambda: _keepalive(core, client, topic), "ech": lambda: _keepalive(core, client, topic),
        "smd": lambda: _subscribe_market(core, client, ids, args), "sor": lambda: _subscribe_orders(core, client),
        "str": lambda: _subscribe_trades(core, client, args), "spl": lambda: _subscribe_pnl(core, client),
        "ssd": lambda: _account_streams(core, client, topic, ids),
        "sld": lambda: _account_streams(core, client, topic, ids),
        "smh": lambda: _history_stream(core, client, ids, args),
    }
    if topic in commands:
        commands[topic]()
    elif topic.startswith("u"):
        _unsubscribe(core, client, topic, ids)
    else:
        log.debug("ignoring unknown websocket command %r", command[:80])
