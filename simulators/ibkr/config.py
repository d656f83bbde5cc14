"""Settings of the simulated Client Portal gateway.

Every behaviour the protocol spec tags as unverified ([U]) and every timing rule is a field here, so a
test can pick the variant it needs. The model is frozen; the control API swaps in a new instance built
with :meth:`SimulatorConfig.with_updates`.
"""

from __future__ import annotations

from datetime import time
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field

from framework.config import TimeZoneName


class SessionState(StrEnum):
    """Session states of the gateway (spec section 12, item 2)."""

    LOGGED_OUT = "logged_out"
    SSO_ONLY = "sso_only"
    AUTHENTICATED = "authenticated"
    COMPETING = "competing"
    EXPIRED = "expired"


class MarketMode(StrEnum):
    """How the simulated market moves."""

    AUTO = "auto"
    MANUAL = "manual"


class MarketHours(StrEnum):
    """When the simulated market trades (see :mod:`simulators.ibkr.sessions`)."""

    ALWAYS = "always"
    EXCHANGE = "exchange"


class OutsideRthOrders(StrEnum):
    """What the gateway does with an order placed when its sessions are closed."""

    HOLD = "hold"
    REJECT = "reject"
    INACTIVE = "inactive"


class UnauthorizedBody(StrEnum):
    """Body of a 401 answer: JSON error, nothing, or an HTML page from a proxy ([U], spec 2.11 and 9.1)."""

    JSON = "json"
    EMPTY = "empty"
    HTML = "html"


class SecdefNoMatch(StrEnum):
    """``/iserver/secdef/search`` without a match: ``[]``, or a 500 error in older builds ([U], spec 4.1)."""

    EMPTY = "empty"
    ERROR = "error"


class ReplyIdFormat(StrEnum):
    """Reply ids of order questions: a UUID as documented, 32 hex digits, or a JSON number ([U])."""

    UUID = "uuid"
    HEX = "hex"
    NUMBER = "number"


class HistoryAnchor(StrEnum):
    """What a history request's ``startTime`` marks: the end of the window or its start ([U], spec 5.3)."""

    END = "end"
    START = "start"


class EchoForm(StrEnum):
    """Answer to ``ech+hb``: a JSON object or the bare text ``ech+hb`` ([U], spec 7.3)."""

    JSON = "json"
    TEXT = "text"


class SimulatorConfig(BaseModel):
    """All switches of the simulated gateway, with defaults that mimic a paper account.

    Attributes:
        account_id: The single brokerage account (``DU...`` for paper).
        paper: Paper (``isPaper``/``DEMO``/``LOGIN_TYPE`` 2) or live-looking account.
        username: User name reported by ``/sso/validate`` and the websocket ``system`` topic.
        starting_cash: Cash in USD at start.
        initial_state: Session state at start (the gateway is normally already logged in).
        idle_timeout: Seconds without requests before the brokerage session expires (about 5 minutes).
        sso_lifetime: Seconds the SSO session lives (``ssoExpires`` counts down from this).
        enforce_sso_lifetime: When ``ssoExpires`` reaches 0 the SSO session ends: ``logged_out``, every
            ``/v1/api`` call 401 and sockets closed, until a (simulated) browser login.
        nightly_reset_at: Local time of a daily scheduled nightly reset (e.g. ``01:00``); ``None`` = off.
        nightly_reset_timezone: IANA time zone of ``nightly_reset_at`` (IBKR: 01:00 US/Eastern in North America).
        nightly_maintenance_seconds: Length of the maintenance window a scheduled nightly reset opens.
        weekly_maintenance_at: Local time of a weekly scheduled maintenance (IBKR: the weekend), which
            resets the brokerage session like a nightly reset; ``None`` = off.
        weekly_maintenance_weekday: Day of the weekly maintenance (Monday = 0 ... Saturday = 5, Sunday = 6).
        weekly_maintenance_timezone: IANA time zone of ``weekly_maintenance_at``.
        weekly_maintenance_seconds: Length of the weekly maintenance window.
        reauth_delay: Seconds between ``/iserver/reauthenticate`` and ``authenticated`` turning true.
        heartbeat_interval: Seconds between websocket ``system`` heartbeats.
        close_ws_on_auth_loss: Close websockets after pushing ``sts`` when the session is lost.
        tickle_no_session_body: When logged out, answer ``/tickle`` with 200 ``{"error":"no session"}``
            instead of 401.
        priming_status: HTTP status of ``please query /accounts first`` (500 or 400 seen in practice).
        snapshot_preflight: First snapshot per conid returns only ``conid``/``conidEx``.
        snapshot_warmup: Seconds after the pre-flight before data is served.
        sizes_in_lots: Fields 85/88 in round lots of 100 shares (US stock convention).
        history_volume_in_hundreds: History ``v`` in hundreds of shares.
        delayed_data: Report ``6509`` as ``DpB`` instead of ``RpB``.
        halted_conids: Conids whose last price (31) carries the ``H`` prefix.
        market_mode: ``auto`` ticks in the background; ``manual`` moves only on ``step_market``.
        tick_interval: Seconds between market steps in auto mode.
        seed: Seed of the random walk and id generators.
        replay_speed: Bars per second when replaying a bars CSV.
        volatility: Per-step standard deviation of the log-price walk.
        regime_switch_probability: Per-step chance that the drift regime flips (makes averages cross).
        regime_steps: Flip the drift every this many steps instead of at random: a zig-zag whose
            moving averages cross on a schedule (``tradebus demo``); None for random flips.
        trend: Drift per step, as a fraction of ``volatility``.
        pacing_enabled: Enforce the global and per-endpoint rate limits.
        global_rate: Requests per second allowed overall.
        penalty_violations: 429s within ``penalty_window`` that put the client in the penalty box.
        penalty_window: Seconds over which violations are counted.
        penalty_box_seconds: Seconds every request is refused once boxed.
        history_max_concurrent: Concurrent history requests before 429.
        history_latency: Clock seconds a history request takes; requests in flight count against
            ``history_max_concurrent`` (0 answers at once, so the limit never triggers).
        position_cache_seconds: Seconds ``/portfolio/{acct}/positions`` serves a stale cache.
        submit_latency: Seconds from placement until a working order is ``Submitted`` and may fill.
        cancel_latency: Seconds from ``PendingCancel`` to ``Cancelled``.
        partial_fills: Fill at most the displayed size at the touch per market step.
        commission_per_share: IBKR fixed commission per share.
        commission_minimum: Minimum commission per order.
        commission_max_pct: Maximum commission as a fraction of trade value.
        price_constraint_pct: Limit-price deviation from last that triggers ``o163``.
        size_limit: Order size that triggers ``o383``.
        value_limit: Order value in USD that triggers ``o451``.
        warn_no_market_data: Ask ``o354`` when no market data was requested for the conid.
        warn_stop_orders: Ask ``o10331`` for stop-type orders.
        warn_stop_activation: Ask ``o10152`` (stop-order activation risk) for stop-type orders.
        warn_price_management: Ask ``p12`` for limit orders priced more than ``price_management_pct`` from
            the last price, unless the ticket sets ``useAdaptive``.
        price_management_pct: Limit-price deviation from last that triggers ``p12``.
        warn_marketable: Ask ``o403`` for marketable limit orders.
        reply_decline_status: HTTP status for ``{"confirmed": false}`` (200 since Oct-2023, 400 before).
        live_orders_preflight: First ``/iserver/account/orders`` call of a session returns nothing.
        filters_silence_sor: A filtered live-orders call silences ``sor`` until ``force=true``.
        ws_binary_frames: Send server frames as binary instead of text.
        ws_command_errors: Answer a websocket command with unusable arguments with ``{"error": "..."}``
            (the command or argument is ignored either way).
        spl_interval: Seconds between ``spl`` pushes.
        history_first_call_404: ``/hmds/history`` answers 404 on its first call.
        market_hours: ``always``: the market never closes (a run on the wall clock behaves the same at
            any hour); ``exchange``: the US equity calendar with pre-market, regular and after-hours
            sessions, holidays and early closes, frozen quotes while closed and ``DAY`` orders
            cancelled at their session's end (:mod:`simulators.ibkr.sessions`).
        outside_rth_orders: With exchange hours, an order placed when it may not trade is held
            ``PreSubmitted`` until it may (``hold``, documented), refused with ``invalid order
            attribute : Outside Regular Trading Hours`` (``reject``), or accepted ``Inactive``
            (``inactive``).
        unauthorized_body: Body of 401 answers ([U]).
        secdef_no_match: ``/iserver/secdef/search`` without a match ([U]).
        reply_id_format: Format of order-question reply ids ([U]).
        echo_form: Answer to ``ech+hb`` ([U]).
        history_start_time: Whether ``startTime`` of ``/iserver/marketdata/history`` ends the window of
            bars (``end``, like ``/hmds/history``'s default direction) or begins it ([U]).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    account_id: str = "DU1234567"
    paper: bool = True
    username: str = "simuser1"
    starting_cash: Decimal = Decimal("1000000")
    initial_state: SessionState = SessionState.AUTHENTICATED
    idle_timeout: float = Field(default=300.0, gt=0)
    sso_lifetime: float = Field(default=86400.0, gt=0)
    enforce_sso_lifetime: bool = True
    nightly_reset_at: time | None = None
    nightly_reset_timezone: TimeZoneName = "America/New_York"
    nightly_maintenance_seconds: float = Field(default=300.0, ge=0)
    weekly_maintenance_at: time | None = None
    weekly_maintenance_weekday: int = Field(default=5, ge=0, le=6)
    weekly_maintenance_timezone: TimeZoneName = "America/New_York"
    weekly_maintenance_seconds: float = Field(default=300.0, ge=0)
    reauth_delay: float = Field(default=3.0, ge=0)
    heartbeat_interval: float = Field(default=10.0, gt=0)
    close_ws_on_auth_loss: bool = False
    tickle_no_session_body: bool = False
    priming_status: int = 500
    snapshot_preflight: bool = True
    snapshot_warmup: float = Field(default=0.0, ge=0)
    sizes_in_lots: bool = True
    history_volume_in_hundreds: bool = True
    delayed_data: bool = False
    halted_conids: frozenset[int] = frozenset()
    market_mode: MarketMode = MarketMode.AUTO
    tick_interval: float = Field(default=0.1, gt=0)
    seed: int = 7
    replay_speed: float = Field(default=10.0, gt=0)
    volatility: float = Field(default=0.0006, ge=0)
    regime_switch_probability: float = Field(default=0.02, ge=0, le=1)
    regime_steps: int | None = Field(default=None, gt=0)
    trend: float = Field(default=0.25, ge=0)
    pacing_enabled: bool = True
    global_rate: int = Field(default=10, gt=0)
    penalty_violations: int = Field(default=10, gt=0)
    penalty_window: float = Field(default=60.0, gt=0)
    penalty_box_seconds: float = Field(default=600.0, ge=0)
    history_max_concurrent: int = Field(default=5, gt=0)
    history_latency: float = Field(default=0.1, ge=0)
    position_cache_seconds: float = Field(default=60.0, ge=0)
    submit_latency: float = Field(default=0.05, ge=0)
    cancel_latency: float = Field(default=0.05, ge=0)
    partial_fills: bool = False
    commission_per_share: Decimal = Decimal("0.005")
    commission_minimum: Decimal = Decimal("1.00")
    commission_max_pct: Decimal = Decimal("0.01")
    price_constraint_pct: Decimal = Decimal("3")
    size_limit: Decimal = Decimal("500")
    value_limit: Decimal = Decimal("100000")
    warn_no_market_data: bool = True
    warn_stop_orders: bool = True
    warn_marketable: bool = True
    warn_stop_activation: bool = False
    warn_price_management: bool = False
    price_management_pct: Decimal = Decimal("3")
    reply_decline_status: int = 200
    live_orders_preflight: bool = True
    filters_silence_sor: bool = True
    ws_binary_frames: bool = False
    ws_command_errors: bool = False
    spl_interval: float = Field(default=1.0, gt=0)
    history_first_call_404: bool = True
    market_hours: MarketHours = MarketHours.ALWAYS
    outside_rth_orders: OutsideRthOrders = OutsideRthOrders.HOLD
    unauthorized_body: UnauthorizedBody = UnauthorizedBody.JSON
    secdef_no_match: SecdefNoMatch = SecdefNoMatch.EMPTY
    reply_id_format: ReplyIdFormat = ReplyIdFormat.UUID
    echo_form: EchoForm = EchoForm.JSON
    history_start_time: HistoryAnchor = HistoryAnchor.END

    def with_updates(self, updates: dict[str, Any]) -> SimulatorConfig:
        """Return a validated copy with ``updates`` applied.

        Raises:
            pydantic.ValidationError: If a field is unknown or a value is invalid.
        """
        return SimulatorConfig.model_validate({**self.model_dump(), **updates})
