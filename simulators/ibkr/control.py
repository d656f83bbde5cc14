"""The control API: test hooks and fault switches, one implementation for Python and HTTP.

Each action is a function ``(core, params) -> dict`` in :data:`ACTIONS`, or a coroutine function in
:data:`ASYNC_ACTIONS` for actions that wait for the gateway (``wait_held``). The context manager's
methods and ``POST /sim/control/<action>`` (JSON body = params) both call :func:`run_action_async` on
the server's event loop. Unknown actions or bad parameters raise :class:`ControlError` (HTTP 400).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from framework.clock import SimulatedClock
from simulators.ibkr.config import SessionState
from simulators.ibkr.core import GatewayCore
from simulators.ibkr.faults import FaultRule
from simulators.ibkr.hub import FrameKind
from simulators.ibkr.orders import flag

Params = dict[str, Any]
Action = Callable[[GatewayCore, Params], dict[str, Any]]
AsyncAction = Callable[[GatewayCore, Params], Awaitable[dict[str, Any]]]

MALFORMED_FRAMES: dict[str, tuple[FrameKind, bytes]] = {
    "invalid_utf8": (FrameKind.RAW_TEXT, b'{"topic":"system","hb":1,"note":"\x99\xff"}'),
    "truncated_json": (FrameKind.RAW_TEXT, b'{"topic":"smd+265598","conid":2655'),
    "not_json": (FrameKind.RAW_TEXT, b"this is not json"),
    "binary_garbage": (FrameKind.BINARY, b"\x00\x01\x02\xfe\xff"),
    "unknown_topic": (FrameKind.RAW_TEXT, b'{"topic":"zzz","args":{}}'),
}


class ControlError(ValueError):
    """A control action was unknown or given bad parameters."""


def _state(core: GatewayCore, params: Params) -> dict[str, Any]:
    session = core.session
    return {
        "session_state": str(session.state), "session_id": session.session_id,
        "authenticated": session.authenticated, "primed": session.scope.primed, "epoch": session.scope.epoch,
        "in_maintenance": session.in_maintenance, "penalty_box": core.pacer.in_penalty_box(),
        "penalty_box_arrivals": core.pacer.boxed_arrivals,
        "orders": len(core.trading.orders), "executions": len(core.ledger.executions),
        "working_orders": sum(1 for o in core.trading.orders.values() if o.working),
        "cancel_requests": core.cancel_requests,
        "placement_posts": dict(core.placement_posts), "request_seq": core.request_seq,
        "placement_arrivals": [list(pair) for pair in core.placement_arrivals],
        "held": core.faults.held.describe(), "armed": core.faults.armed(),
        "ws_clients": len(core.hub.clients), "ws_refusing": core.hub.refusing, "cash": str(core.ledger.cash),
        "config": core.config.model_dump(mode="json"),
    }


def _ledger(core: GatewayCore, params: Params) -> dict[str, Any]:
    """The account's books: orders (all, or those with a ``cOID`` in ``coids``), executions from index ``since``."""
    since = int(params.get("since", 0))
    wanted = params.get("coids")
    if wanted is not None and not isinstance(wanted, list):
        raise ControlError(f"ledger: coids must be a list of client order ids, not {wanted!r}")
    chosen = set(map(str, wanted)) if wanted is not None else None
    symbols = {inst.conid: inst.symbol for inst in core.universe.all()}
    orders = [
        {"order_id": o.order_id, "coid": o.ticket.client_order_id, "symbol": symbols.get(o.ticket.conid),
         "conid": o.ticket.conid, "side": o.ticket.side, "order_type": o.ticket.order_type,
         "quantity": str(o.ticket.quantity), "price": None if o.ticket.price is None else str(o.ticket.price),
         "aux_price": None if o.ticket.aux_price is None else str(o.ticket.aux_price), "filled": str(o.filled),
         "avg_price": None if o.avg_price is None else str(o.avg_price), "status": str(o.status),
         "working": o.working, "parent_id": o.parent_id, "last_change_ms": o.last_change_ms}
        for o in core.trading.orders.values() if chosen is None or o.ticket.client_order_id in chosen
    ]
    executions = [
        {"execution_id": e.execution_id, "order_id": e.order_id, "order_ref": e.order_ref,
         "symbol": symbols.get(e.conid), "conid": e.conid, "side": e.side, "size": str(e.size),
         "price": str(e.price), "commission": str(e.commission), "time": e.time.isoformat()}
        for e in core.ledger.executions[since:]
    ]
    positions = {symbols.get(conid, str(conid)): str(p.quantity) for conid, p in core.ledger.positions.items()}
    return {"orders": orders, "executions": executions, "execution_count": len(core.ledger.executions),
            "positions": positions, "cash": str(core.ledger.cash)}


def _reset(core: GatewayCore, params: Params) -> dict[str, Any]:
    core.reset(core.initial_config.with_updates(params))
    return _state(core, {})


def _configure(core: GatewayCore, params: Params) -> dict[str, Any]:
    core.reconfigure(core.config.with_updates(params))
    return _state(core, {})


def _advance(core: GatewayCore, params: Params) -> dict[str, Any]:
    clock = core.clock
    if not isinstance(clock, SimulatedClock):
        raise ControlError("advance needs a SimulatedClock; this gateway runs on the system clock")
    target = clock.monotonic() + float(params.get("seconds", 0.0))
    # Step through due jobs one by one so each runs at its own due time (heartbeat timestamps etc.).
    while True:
        core.session.check_idle()
        due = core.scheduler.next_due()
        if due is None or due > target:
            break
        clock.advance(_ceil_delta(due - clock.monotonic()))
        core.scheduler.run_due()
    clock.advance(_ceil_delta(target - clock.monotonic()))
    core.pump()
    return {"now": clock.now().isoformat()}


def _ceil_delta(seconds: float) -> timedelta:
    # Round up to whole microseconds so the clock really reaches the due time.
    return timedelta(microseconds=max(0, math.ceil(seconds * 1_000_000)))


def _step_market(core: GatewayCore, params: Params) -> dict[str, Any]:
    core.step_market(int(params.get("n", 1)))
    return {}


def _conid(core: GatewayCore, params: Params) -> int:
    if "symbol" in params:
        inst = core.universe.by_symbol(str(params["symbol"]))
        if inst is None:
            raise ControlError(f"unknown symbol {params['symbol']!r}")
        return inst.conid
    return int(params["conid"])


def _set_quote(core: GatewayCore, params: Params) -> dict[str, Any]:
    conid = _conid(core, params)
    values: dict[str, Decimal | int | bool] = {}
    for name, value in params.items():
        if name in ("conid", "symbol"):
            continue
        if name.endswith("_size") or name == "volume":
            values[name] = int(value)
        elif name in ("halted", "traded"):
            values[name] = flag(value)
        else:
            values[name] = Decimal(str(value))
    try:
        quote = core.market.set_quote(conid, **values)
    except (KeyError, AttributeError) as e:
        raise ControlError(str(e)) from e
    core.market_changed([conid])
    return {"bid": str(quote.bid), "ask": str(quote.ask), "last": str(quote.last)}


def _quote(core: GatewayCore, params: Params) -> dict[str, Any]:
    quote = core.market.quote(_conid(core, params))
    if quote is None:
        raise ControlError(f"no quote for {params}")
    return {"bid": str(quote.bid), "ask": str(quote.ask), "last": str(quote.last)}


def _session_action(method: str) -> Action:
    def action(core: GatewayCore, params: Params) -> dict[str, Any]:
        getattr(core.session, method)()
        return _state(core, {})

    return action


def _set_session(core: GatewayCore, params: Params) -> dict[str, Any]:
    core.session.force(SessionState(str(params.get("state"))))
    return _state(core, {})


def _nightly_reset(core: GatewayCore, params: Params) -> dict[str, Any]:
    core.session.nightly_reset(float(params.get("maintenance_seconds", 300.0)))
    return _state(core, {})


def _restart(core: GatewayCore, params: Params) -> dict[str, Any]:
    for client in list(core.hub.clients):
        core.hub.send_raw(client, FrameKind.ABORT)
    core.replies.clear()
    core.session.restart(SessionState(str(params.get("state", SessionState.AUTHENTICATED))))
    return _state(core, {})


WS_DROP_MODES: dict[str, FrameKind | None] = {
    "abort": FrameKind.ABORT, "close": FrameKind.CLOSE, "reset": FrameKind.RESET, "half_open": None,
}
"""How ``ws_drop`` ends the open websockets (``half_open``: they stay open and go silent, as ``ws_stall``)."""


def _ws_drop(core: GatewayCore, params: Params) -> dict[str, Any]:
    mode = str(params.get("mode", "abort"))
    if mode not in WS_DROP_MODES:
        raise ControlError(f"ws_drop: unknown mode {mode!r}; choose from {sorted(WS_DROP_MODES)}")
    kind = WS_DROP_MODES[mode]
    clients = list(core.hub.clients)
    for client in clients:
        if kind is None:
            client.stalled = True
        else:
            core.hub.send_raw(client, kind)
    return {"dropped": len(clients), "mode": mode}


def _ws_refuse(core: GatewayCore, params: Params) -> dict[str, Any]:
    core.hub.refusing = bool(params.get("refused", True))
    return {"refusing": core.hub.refusing}


def _ws_connections(core: GatewayCore, params: Params) -> dict[str, Any]:
    since = int(params.get("since", 0))
    return {"connections": [c.describe() for c in core.hub.history if c.client_id >= since]}


def _ws_stall(core: GatewayCore, params: Params) -> dict[str, Any]:
    stalled = bool(params.get("stalled", True))
    for client in core.hub.clients:
        client.stalled = stalled
    return {"stalled": len(core.hub.clients) if stalled else 0}


def _ws_malformed(core: GatewayCore, params: Params) -> dict[str, Any]:
    name = str(params.get("kind", "invalid_utf8"))
    if name not in MALFORMED_FRAMES:
        raise ControlError(f"unknown frame kind {name!r}; choose from {sorted(MALFORMED_FRAMES)}")
    kind, data = MALFORMED_FRAMES[name]
    for client in core.hub.clients:
        for _ in range(int(params.get("count", 1))):
            core.hub.send_raw(client, kind, data)
    return {"sent_to": len(core.hub.clients)}


def _rule(params: Params, seconds: float = 0.0, before_processing: bool = False) -> FaultRule:
    method = params.get("method")
    return FaultRule(str(method).upper() if method else None, params.get("path", params.get("path_prefix")),
                     int(params.get("count", 1)), seconds, before_processing)


def _delay(core: GatewayCore, params: Params) -> dict[str, Any]:
    core.faults.delays.append(_rule(params, float(params.get("seconds", 5.0))))
    return {}


def _drop_after_commit(core: GatewayCore, params: Params) -> dict[str, Any]:
    core.faults.drops.append(_rule(params))
    return {}


def _hold(core: GatewayCore, params: Params) -> dict[str, Any]:
    before = params.get("before_processing", False)
    if not isinstance(before, bool):
        raise ControlError(f"hold: before_processing must be true or false, not {before!r}")
    core.faults.holds.append(_rule(params, before_processing=before))
    return {}


def _optional_int(params: Params, name: str) -> int | None:
    value = params.get(name)
    return None if value is None else int(value)


def _release_held(core: GatewayCore, params: Params) -> dict[str, Any]:
    coid = params.get("coid")
    released = core.faults.held.release(_optional_int(params, "count"), _optional_int(params, "id"),
                                        None if coid is None else str(coid))
    return {"released": released, "count": len(core.faults.held)}


def _held(core: GatewayCore, params: Params) -> dict[str, Any]:
    held = core.faults.held.describe()
    return {"count": len(held), "held": held}


async def _wait_held(core: GatewayCore, params: Params) -> dict[str, Any]:
    count, timeout = int(params.get("count", 1)), float(params.get("timeout", 10.0))
    try:
        async with asyncio.timeout(timeout):
            await core.faults.held.wait_until(count)
    except TimeoutError:
        pass  # reported as reached=false; the Python helpers raise
    return {"reached": len(core.faults.held) >= count, **_held(core, {})}


def _clear_faults(core: GatewayCore, params: Params) -> dict[str, Any]:
    core.faults.clear()
    core.session.end_maintenance()
    for client in core.hub.clients:
        client.stalled = False
    core.hub.refusing = False
    return {}


def _pacing_reset(core: GatewayCore, params: Params) -> dict[str, Any]:
    core.pacer.reset()
    return {}


ACTIONS: dict[str, Action] = {
    "state": _state, "ledger": _ledger, "reset": _reset, "configure": _configure, "advance": _advance,
    "step_market": _step_market, "set_quote": _set_quote, "quote": _quote,
    "login": _session_action("login"), "logout": _session_action("logout"),
    "expire": _session_action("expire"), "compete": _session_action("compete"),
    "end_maintenance": _session_action("end_maintenance"), "set_session": _set_session,
    "nightly_reset": _nightly_reset, "restart": _restart,
    "ws_drop": _ws_drop, "ws_stall": _ws_stall, "ws_malformed": _ws_malformed, "ws_refuse": _ws_refuse,
    "ws_connections": _ws_connections,
    "delay": _delay, "drop_after_commit": _drop_after_commit, "hold": _hold, "release_held": _release_held,
    "held": _held, "clear_faults": _clear_faults, "pacing_reset": _pacing_reset,
}
ASYNC_ACTIONS: dict[str, AsyncAction] = {"wait_held": _wait_held}


def run_action(core: GatewayCore, name: str, params: Params) -> dict[str, Any]:
    """Run a control action on the event-loop thread.

    Raises:
        ControlError: If the action is unknown or its parameters are invalid.
    """
    action = ACTIONS.get(name)
    if action is None:
        raise ControlError(f"unknown control action {name!r}; choose from {sorted([*ACTIONS, *ASYNC_ACTIONS])}")
    try:
        return action(core, params)
    except (ValidationError, KeyError, TypeError, ValueError) as e:
        if isinstance(e, ControlError):
            raise
        raise ControlError(f"{name}: {e}") from e


async def run_action_async(core: GatewayCore, name: str, params: Params) -> dict[str, Any]:
    """Run a control action, awaiting it if it waits for the gateway (``wait_held``).

    Raises:
        ControlError: If the action is unknown or its parameters are invalid.
    """
    action = ASYNC_ACTIONS.get(name)
    if action is None:
        return run_action(core, name, params)
    try:
        return await action(core, params)
    except (KeyError, TypeError, ValueError) as e:
        raise ControlError(f"{name}: {e}") from e
