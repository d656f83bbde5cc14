"""Websocket commands from clients (spec 7.2-7.9): session handshake, subscriptions, keep-alives.

Commands are ``TOPIC+ARG+{json}`` text. Argument spellings vary between IBKR's docs and clients
(``outsideRth``/``outsideRTH``/``outside_rth``, ``realtimeUpdatesOnly``/``realtime_updates_only``), so
all are accepted. Handling is lenient, as the gateway is: unknown commands are ignored; an unusable
argument of a known command (bad JSON, ``fields`` not a list of ids, ``days`` out of range) is ignored
and its default applies; a command whose target is unusable (conid not a number or unknown, another
account) is ignored. Either way the connection stays open, and with ``ws_command_errors`` the client
is told with ``{"error": "..."}``. Invalid ``smh`` parameters get the documented empty response.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from simulators.ibkr import fields
from simulators.ibkr import history
from simulators.ibkr import render_portfolio as rp
from simulators.ibkr.config import EchoForm
from simulators.ibkr.config import SessionState
from simulators.ibkr.core import GatewayCore
from simulators.ibkr.hub import FrameKind
from simulators.ibkr.hub import MarketSubscription
from simulators.ibkr.hub import WsClient
from simulators.ibkr.render_orders import live_order
from simulators.ibkr.render_orders import sor_fields
from simulators.ibkr.render_orders import trade

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
    if session_id is None or session_id != session.session_id or session.state is SessionState.LOGGED_OUT:
        core.hub.send(client, {"message": "waiting for session"})
        return False
    client.authenticated = True
    client.authenticated_at = core.clock.monotonic()
    send = core.hub.send
    send(client, {"topic": "sts", "args": {"authenticated": session.authenticated}})
    send(client, {"topic": "system", "success": core.config.username, "isFT": False, "isPaper": core.config.paper})
    marker = f"{session.session_id[:8]}.{session.scope.epoch:08x}"
    send(client, {"topic": "act", "args": rp.iserver_accounts(core.config, marker)})
    send(client, {"topic": "sts", "args": {"competing": session.state is SessionState.COMPETING}})
    return True


class CommandError(ValueError):
    """A known command cannot be applied (unusable target); it is ignored and the socket stays open."""


@dataclass
class Call:
    """One parsed client command and where it came from.

    Attributes:
        core: The gateway.
        client: The sending connection.
        text: The command as received (stripped).
        topic: ``smd``, ``sor``, ``ssd`` ...
        ids: The ``+``-separated parts after the topic (``["265598"]`` for ``smd+265598+{...}``).
        args: The JSON arguments (``{}`` when absent or unusable).
    """

    core: GatewayCore
    client: WsClient
    text: str
    topic: str
    ids: list[str]
    args: dict[str, Any]

    def ignore(self, problem: str) -> None:
        """Report an unusable argument or command (debug log; an ``error`` frame if configured)."""
        log.debug("websocket command %r: %s", self.text[:80], problem)
        if self.core.config.ws_command_errors:
            self.core.hub.send(self.client, {"error": f"{self.text[:80]}: {problem}"})


def _json_arg(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _parse(core: GatewayCore, client: WsClient, command: str) -> tuple[Call, bool]:
    """Split ``smd+265598+{...}`` into a call; the flag says whether the JSON part was usable."""
    head, brace, rest = command.partition("{")
    parts = [p for p in head.split("+") if p]
    args = _json_arg(brace + rest) if brace else {}
    call = Call(core, client, command, parts[0] if parts else "", parts[1:], args or {})
    return call, args is not None


def _flag(call: Call, *names: str) -> bool:
    # First of the alternative spellings present; JSON booleans, 0/1 and "true"/"false" are understood.
    for name in names:
        if name not in call.args:
            continue
        value = call.args[name]
        if isinstance(value, bool):
            return value
        if value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        call.ignore(f"{name} must be a boolean; ignored")
        return False
    return False


def _conid(call: Call) -> int:
    if not call.ids:
        raise CommandError("conid required; command ignored")
    try:
        conid = int(call.ids[0].split("@", 1)[0])
    except ValueError as e:
        raise CommandError(f"invalid conid {call.ids[0]!r}; command ignored") from e
    if call.core.instrument(conid) is None:
        raise CommandError(f"unknown conid {conid}; command ignored")
    return conid


def _requested_fields(call: Call) -> list[str]:
    value = call.args.get("fields", [])
    valid = isinstance(value, list) and all(isinstance(c, str | int) and not isinstance(c, bool) for c in value)
    if not valid:
        call.ignore("fields must be a list of field ids; ignored")
        return []
    return [str(code) for code in value]


def _subscribe_market(call: Call) -> None:
    core, client = call.core, call.client
    conid = _conid(call)
    requested = _requested_fields(call)
    sub = client.market.get(conid)
    if sub is None:
        sub = client.market[conid] = MarketSubscription(requested or list(fields.DEFAULT_FIELDS))
    else:
        sub.fields += [code for code in requested if code not in sub.fields]
    rendered = core.rendered(conid)
    current = fields.select(rendered, sub.fields)
    changed = {k: v for k, v in current.items() if sub.sent.get(k) != v}
    sub.sent.update(changed)
    core.hub.send(client, {"topic": f"smd+{conid}", "conid": conid, "conidEx": call.ids[0], "_updated": core.now_ms(),
                           "server_id": "q0", "6119": "q0", "6509": rendered["6509"], **changed})


def _unsubscribe_market(call: Call) -> None:
    call.client.market.pop(_conid(call), None)


def _subscribe_orders(call: Call) -> None:
    core = call.core
    call.client.orders = True
    rows = []
    for order in core.trading.orders.values():
        inst = core.instrument(order.ticket.conid)
        if inst is not None and (order.working or order.epoch == core.session.scope.epoch):
            rows.append(sor_fields(live_order(order, inst)))
    if rows:
        core.hub.send(call.client, {"topic": "sor", "args": rows})


def _days(call: Call) -> int:
    days = call.args.get("days", 7)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 7:
        call.ignore("days must be 1-7; ignored")
        return 7
    return days


def _subscribe_trades(call: Call) -> None:
    core = call.core
    call.client.trades = True
    if _flag(call, "realtimeUpdatesOnly", "realtime_updates_only"):
        return
    since = core.clock.now() - timedelta(days=_days(call))
    rows = []
    for execution in core.ledger.executions:
        inst = core.instrument(execution.conid)
        if inst is not None and execution.time >= since:
            rows.append(trade(execution, inst, core.config.username))
    if rows:
        core.hub.send(call.client, {"topic": "str", "args": rows})


def _subscribe_pnl(call: Call) -> None:
    call.client.pnl = True
    call.core.hub.send(call.client, {"topic": "spl", "args": call.core.pnl()})


def _account(call: Call) -> str:
    account = call.ids[0] if call.ids else call.core.config.account_id
    if account != call.core.config.account_id:
        raise CommandError(f"unknown account {account!r}; command ignored")
    return account


def _account_streams(call: Call) -> None:
    # keys/fields filters ([U] shape) are not applied: every subscriber gets the full result list.
    core, account = call.core, _account(call)
    totals, ts = core.totals(), core.now_ms() // 1000
    if call.topic == "ssd":
        call.client.summary.add(account)
        core.hub.send(call.client, rp.summary_stream(account, totals, ts))
    else:
        call.client.ledger.add(account)
        core.hub.send(call.client, rp.ledger_stream(account, totals, ts))


def _history_stream(call: Call) -> None:
    core, client = call.core, call.client
    conid = _conid(call)
    try:
        count, size = history.bar_count(str(call.args.get("period", "1d")), str(call.args.get("bar", "5min")))
    except history.HistoryError:
        # Documented: invalid smh parameters are ignored and a default (empty) response is returned.
        core.hub.send(client, {"topic": f"smh+{conid}", "data": [], "points": 0})
        return
    inst, quote = core.instrument(conid), core.market.quote(conid)
    assert inst is not None  # checked by _conid
    assert quote is not None
    server_id = str(client.next_history_id)
    client.next_history_id += 1
    client.history.add(server_id)
    outside = _flag(call, "outsideRth", "outsideRTH", "outside_rth")
    starts = history.bar_starts(core.clock.now(), count, size, keep=core.sessions.history_filter(size, outside))
    bars = history.generate(core.config.seed, inst, last=quote.last, starts=starts, size=size)
    if not bars:
        core.hub.send(client, {"topic": f"smh+{conid}", "data": [], "points": 0})
        return
    body = history.response(inst, bars, period=f"{count * size}s", size=size, outside_rth=outside,
                            in_hundreds=core.config.history_volume_in_hundreds, server_id=server_id)
    core.hub.send(client, {**body, "topic": f"smh+{conid}"})


def _unsubscribe_history(call: Call) -> None:
    if not call.ids:
        raise CommandError("server id required; command ignored")
    call.client.history.discard(call.ids[0])
    call.core.hub.send(call.client, {"message": f"Unsubscribed {call.ids[0]}"})


def _unsubscribe_account(call: Call) -> None:
    subscribed, what = (call.client.summary, "summary") if call.topic == "usd" else (call.client.ledger, "ledger")
    subscribed.discard(call.ids[0] if call.ids else call.core.config.account_id)
    call.core.hub.send(call.client, {"result": f"unsubscribed from {what}"})


def _keepalive(call: Call) -> None:
    core = call.core
    if call.topic == "tic":
        core.session.touch()
        core.hub.send(call.client, {"topic": "tic", "lastAccessed": core.now_ms(),
                                    "isAuthenticated": core.session.authenticated})
    elif core.config.echo_form is EchoForm.TEXT:
        core.hub.send_raw(call.client, FrameKind.RAW_TEXT, call.text.encode())  # the command echoed as sent
    else:
        core.hub.send(call.client, {"topic": "ech+hb", "hb": core.now_ms()})


def _stop(attribute: str) -> Callable[[Call], None]:
    def stop(call: Call) -> None:
        setattr(call.client, attribute, False)

    return stop


COMMANDS: dict[str, Callable[[Call], None]] = {
    "tic": _keepalive, "ech": _keepalive,
    "smd": _subscribe_market, "umd": _unsubscribe_market,
    "sor": _subscribe_orders, "uor": _stop("orders"),
    "str": _subscribe_trades, "utr": _stop("trades"),
    "spl": _subscribe_pnl, "upl": _stop("pnl"),
    "ssd": _account_streams, "usd": _unsubscribe_account,
    "sld": _account_streams, "uld": _unsubscribe_account,
    "smh": _history_stream, "umh": _unsubscribe_history,
}


SUBSCRIPTIONS = frozenset({"smd", "sor", "str", "spl", "ssd", "sld", "smh"})
"""Commands that start a subscription (recorded in the connection's ``subscribed_at``)."""


def _session_message(text: str) -> str | None:
    parsed = _json_arg(text)
    return None if parsed is None or parsed.get("session") is None else str(parsed["session"])


def handle(core: GatewayCore, client: WsClient, text: str) -> None:
    """Apply one client message; never raises for bad input (the connection must survive it)."""
    command = text.strip()
    if command.startswith("{"):
        authenticate(core, client, _session_message(command))
        return
    if not client.authenticated:
        core.hub.send(client, {"message": "waiting for session"})
        return
    call, args_usable = _parse(core, client, command)
    handler = COMMANDS.get(call.topic)
    if handler is None:
        log.debug("ignoring unknown websocket command %r", command[:80])
        return
    if not args_usable:
        call.ignore("arguments are not a JSON object; ignored")
    try:
        handler(call)
    except CommandError as e:
        call.ignore(str(e))
        return
    if call.topic in SUBSCRIPTIONS:  # the connection log: when each subscription was first applied
        key = f"smd+{call.ids[0].split('@', 1)[0]}" if call.topic == "smd" and call.ids else call.topic
        client.subscribed_at.setdefault(key, core.clock.monotonic())
