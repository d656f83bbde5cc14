"""What can go wrong in a soak: one entry per fault kind, each naming the reliability item it exercises.

A kind's ``inject`` does the damage through the simulated gateway's control API (or, for a process
restart, by killing the gateway) and returns a :class:`Fault`: how long the damage lasts, in wall
seconds, and how it ends (a human logging in again, the other session going away, a switch turned
off). Durations are drawn in simulated seconds and compressed by the soak's speed.

====================  ====  =======================================================================
kind                  R id  what happens
====================  ====  =======================================================================
ws_abort, ws_close    R1    the websocket is cut (TCP abort without a close frame / a close frame)
ws_stall              R2    the websocket goes silent, TCP open, until the stall watchdog acts
ws_malformed          R3    1-20 unreadable frames (bad UTF-8, torn JSON, not JSON, binary, unknown topic)
rate_squeeze          R4    the gateway allows 1 request/s for a while: 429 answers
penalty_box           R4    a neighbour's burst puts the whole gateway in the penalty box (all 429)
ambiguous_drop        R6    the next placement is committed, then its connection dropped unanswered
ambiguous_delay       R6    the next placement is answered late (past the adapter's timeout, or not)
reply_lost            R6    the next answer to a precaution question is committed, then dropped
modify_lost           R6    the next modification is committed, then dropped
held_ack              R12   the next placement's answer is withheld while the order works and fills
cancel_lost           R14   the next cancel is committed, then dropped
session_expire        R8    the brokerage session expires (the adapter re-authenticates)
logout                R8    the SSO session ends (401) until a human logs in again
compete               R9    another platform takes the session until it goes away
nightly_reset         R10   maintenance: ``/iserver`` answers 503, the session expires
restart_session       R7    the gateway restarts in place: new session id, sockets aborted
restart_down          R7    as above, then logged out for a while: orders fill while the adapter is blind
restart_process       R7    the gateway process is SIGKILLed, down for 5-30 s, started again (books kept)
reply_prompts         R11   unknown precaution questions (``p12``, ``o10152``): those orders are declined
partial_fills         R13   fills are cut to the displayed size for a while
stale_positions       R15   the gateway serves cached positions for 10 minutes
====================  ====  =======================================================================
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass

from tradebus.soak.gateway import SoakGateway
from tradebus.soak.settings import SoakConfig

MALFORMED_KINDS = ("invalid_utf8", "truncated_json", "not_json", "binary_garbage", "unknown_topic")
NEIGHBOUR_REQUESTS = 14  # tickles allow 1/s: 13 refused, over the 10 violations that open the box


@dataclass(frozen=True)
class FaultContext:
    """What a fault works with.

    Attributes:
        config: The soak's options (the time scale).
        gateway: The simulated gateway.
        account: The account id (paths of order requests).
        read_timeout: The adapter's HTTP read timeout, wall seconds.
        stall_timeout: The adapter's websocket stall timeout, wall seconds.
        stop: Set when the soak ends (long waits end early).
    """

    config: SoakConfig
    gateway: SoakGateway
    account: str
    read_timeout: float
    stall_timeout: float
    stop: threading.Event

    @property
    def orders_path(self) -> str:
        """Placement path (``POST``)."""
        return f"/iserver/account/{self.account}/orders"

    @property
    def order_path(self) -> str:
        """Prefix of one order's path (``POST`` modifies, ``DELETE`` cancels)."""
        return f"/iserver/account/{self.account}/order/"


@dataclass(frozen=True)
class Fault:
    """An injected fault.

    Attributes:
        detail: What was done, for the log.
        lasts: Wall seconds until it is healed (0: it needs no healing).
        heal: What ends it (None: it ends by itself or needs nothing).
        armed: It armed a one-shot HTTP rule, which may or may not have fired by the time it is healed.
    """

    detail: str = ""
    lasts: float = 0.0
    heal: Callable[[], object] | None = None
    armed: bool = False


Inject = Callable[[FaultContext, random.Random], Fault]


@dataclass(frozen=True)
class FaultKind:
    """One kind of fault.

    Attributes:
        name: Its name (``--faults`` takes these).
        rid: The reliability item it exercises.
        inject: Does the damage.
    """

    name: str
    rid: str
    inject: Inject


def _control(ctx: FaultContext, action: str, **params: object) -> Callable[[], object]:
    return lambda: ctx.gateway.control(action, **params)


def _ws_drop(mode: str) -> Inject:
    def inject(ctx: FaultContext, rng: random.Random) -> Fault:
        ctx.gateway.control("ws_drop", mode=mode)
        return Fault(mode)

    return inject


def _ws_stall(ctx: FaultContext, rng: random.Random) -> Fault:
    ctx.gateway.control("ws_stall", stalled=True)
    return Fault("silent socket", ctx.stall_timeout * 1.5, _control(ctx, "ws_stall", stalled=False))


def _ws_malformed(ctx: FaultContext, rng: random.Random) -> Fault:
    kind, count = rng.choice(MALFORMED_KINDS), rng.randint(1, 20)
    ctx.gateway.control("ws_malformed", kind=kind, count=count)
    return Fault(f"{count} x {kind}")


def _rate_squeeze(ctx: FaultContext, rng: random.Random) -> Fault:
    ctx.gateway.control("configure", global_rate=1)
    return Fault("1 request/s", ctx.config.sim(rng.uniform(20, 60), 2.0), _control(ctx, "configure", global_rate=10))


def _penalty_box(ctx: FaultContext, rng: random.Random) -> Fault:
    refused = ctx.gateway.neighbour_burst(NEIGHBOUR_REQUESTS)
    box = float(ctx.gateway.settings()["penalty_box_seconds"])
    return Fault(f"neighbour burst, {refused} refused", box)  # the box lifts by itself


def _armed(action: str, method: str, path: Callable[[FaultContext], str]) -> Inject:
    def inject(ctx: FaultContext, rng: random.Random) -> Fault:
        ctx.gateway.control(action, path=path(ctx), method=method, count=1)
        # disarmed (if nothing used it) once the adapter has had time to look the outcome up
        return Fault(f"{method} {path(ctx)}", ctx.config.sim(60.0, 10.0), _control(ctx, "clear_faults"), armed=True)

    return inject


def _ambiguous_delay(ctx: FaultContext, rng: random.Random) -> Fault:
    seconds = ctx.read_timeout * rng.choice((0.5, 1.5))  # late but in time, or past the timeout
    ctx.gateway.control("delay", seconds=seconds, path=ctx.orders_path, method="POST", count=1)
    return Fault(f"placement answered {seconds:.1f}s late", seconds + ctx.config.sim(60.0, 10.0),
                 _control(ctx, "clear_faults"), armed=True)


def _held_ack(ctx: FaultContext, rng: random.Random) -> Fault:
    ctx.gateway.control("hold", path=ctx.orders_path, method="POST", count=1)
    held = rng.uniform(0.3, ctx.read_timeout * 0.6)  # released before the adapter gives up on it
    return Fault(f"placement answer held {held:.1f}s", held, _control(ctx, "clear_faults"), armed=True)


def _session(action: str, then: str | None, low: float, high: float, **params: object) -> Inject:
    def inject(ctx: FaultContext, rng: random.Random) -> Fault:
        ctx.gateway.control(action, **params)
        if then is None:
            return Fault(action)
        heal = _control(ctx, "login") if then == "login" else _control(ctx, "set_session", state=then)
        return Fault(action, ctx.config.sim(rng.uniform(low, high), 1.0), heal)

    return inject


def _nightly_reset(ctx: FaultContext, rng: random.Random) -> Fault:
    seconds = ctx.config.sim(rng.uniform(60, 300), 2.0)
    ctx.gateway.control("nightly_reset", maintenance_seconds=seconds)
    return Fault(f"maintenance {seconds:.1f}s", seconds)


def _restart_process(ctx: FaultContext, rng: random.Random) -> Fault:
    down = ctx.config.sim(rng.uniform(5, 30), 0.5)
    state = rng.choice(("authenticated", "sso_only"))
    ctx.gateway.restart(down, state, ctx.stop)
    return Fault(f"down {down:.1f}s, back {state}")


def _switch(low: float, high: float, on: Mapping[str, object], off: Mapping[str, object]) -> Inject:
    def inject(ctx: FaultContext, rng: random.Random) -> Fault:
        ctx.gateway.control("configure", **on)
        return Fault(str(dict(on)), ctx.config.sim(rng.uniform(low, high), 2.0), _control(ctx, "configure", **off))

    return inject


def _stale_positions(ctx: FaultContext, rng: random.Random) -> Fault:
    ctx.gateway.control("configure", position_cache_seconds=ctx.config.sim(600.0))
    normal = ctx.gateway.settings()["position_cache_seconds"]
    return Fault("positions cached 600s", ctx.config.sim(rng.uniform(60, 180), 2.0),
                 _control(ctx, "configure", position_cache_seconds=normal))


PROMPTS_ON: Mapping[str, object] = {"warn_price_management": True, "price_management_pct": 0.3,
                                    "warn_stop_activation": True}
PROMPTS_OFF: Mapping[str, object] = {"warn_price_management": False, "warn_stop_activation": False}

CATALOGUE: tuple[FaultKind, ...] = (
    FaultKind("ws_abort", "R1", _ws_drop("abort")),
    FaultKind("ws_close", "R1", _ws_drop("close")),
    FaultKind("ws_stall", "R2", _ws_stall),
    FaultKind("ws_malformed", "R3", _ws_malformed),
    FaultKind("rate_squeeze", "R4", _rate_squeeze),
    FaultKind("penalty_box", "R4", _penalty_box),
    FaultKind("ambiguous_drop", "R6", _armed("drop_after_commit", "POST", lambda c: c.orders_path)),
    FaultKind("ambiguous_delay", "R6", _ambiguous_delay),
    FaultKind("reply_lost", "R6", _armed("drop_after_commit", "POST", lambda c: "/iserver/reply/")),
    FaultKind("modify_lost", "R6", _armed("drop_after_commit", "POST", lambda c: c.order_path)),
    FaultKind("held_ack", "R12", _held_ack),
    FaultKind("cancel_lost", "R14", _armed("drop_after_commit", "DELETE", lambda c: c.order_path)),
    FaultKind("session_expire", "R8", _session("expire", None, 0, 0)),
    FaultKind("logout", "R8", _session("logout", "login", 10, 60)),
    FaultKind("compete", "R9", _session("compete", "expired", 5, 30)),
    FaultKind("nightly_reset", "R10", _nightly_reset),
    FaultKind("restart_session", "R7", _session("restart", None, 0, 0, state="authenticated")),
    FaultKind("restart_down", "R7", _session("restart", "login", 10, 30, state="logged_out")),
    FaultKind("restart_process", "R7", _restart_process),
    FaultKind("reply_prompts", "R11", _switch(30, 120, PROMPTS_ON, PROMPTS_OFF)),
    FaultKind("partial_fills", "R13", _switch(60, 300, {"partial_fills": True}, {"partial_fills": False})),
    FaultKind("stale_positions", "R15", _stale_positions),
)
"""Every fault kind, in catalogue order."""


def kinds(names: tuple[str, ...] | None) -> list[FaultKind]:
    """The fault kinds named (all when None).

    Raises:
        ValueError: A name is not in the catalogue (the message lists the known ones).
    """
    if names is None:
        return list(CATALOGUE)
    known = {k.name: k for k in CATALOGUE}
    unknown = [n for n in names if n not in known]
    if unknown:
        msg = f"unknown fault kind(s) {', '.join(unknown)}; choose from {', '.join(known)}"
        raise ValueError(msg)
    return [known[n] for n in names]


def restore(ctx: FaultContext) -> None:
    """End every fault: disarm, un-stall, end maintenance, lift the penalty box, normal switches, logged in."""
    gateway = ctx.gateway
    gateway.control("clear_faults")
    gateway.control("pacing_reset")
    gateway.control("configure", global_rate=10, partial_fills=False, **PROMPTS_OFF, **gateway.settings())
    if gateway.control("state")["session_state"] != "authenticated":
        gateway.control("login")
