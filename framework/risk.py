"""Pre-trade risk checks, the same in backtest, paper and live.

:class:`RiskEngine` is a :class:`~framework.checks.PreTradeCheck` (register it with
``Engine.add_check``): it is called for every new order and modification before the broker sees it,
with read-only state only, and a refusal becomes ``OrderDenied`` with the reason. Limits apply
globally and, tighter where configured, per strategy id. Every limit is optional (None = off).

Conventions (conservative where a choice exists):

* the reference price is the last trade, bar close or quote mid the engine saw; a market order for
  an instrument with no reference price is denied when a notional, exposure or band limit is set;
* position and exposure limits count the order as if it filled, plus this instrument's other
  working orders on the same side (a modification is checked as the full replacement ticket, in
  place of the order it replaces);
* the daily loss is equity now against equity at the first check of the trading day (in
  ``day_timezone``); once it reaches the limit, only orders that reduce a position pass;
* the order rate counts submissions in the last second of engine-clock time;
* trading hours (``outside_hours``): an order that may not trade now on its instrument's exchange
  calendar (:mod:`framework.trading_hours`; regular hours, and pre-market and after-hours for a
  limit or stop-limit order with ``outside_rth``, as at IBKR) is let through (``allow``, the
  default: the venue holds it until its session, or refuses it), let through with a warning naming
  the session and when the order may trade (``warn``), or denied with that text (``deny``).
"""

from __future__ import annotations

import logging
from collections import deque
from datetime import date
from datetime import datetime
from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from pydantic import Field

from framework.checks import TradingState
from framework.config import FrozenConfig
from framework.config import TimeZoneName
from framework.models import OrderRequest
from framework.models import OrderType
from framework.trading_hours import allowed
from framework.trading_hours import hours_for
from framework.trading_hours import trades_outside_rth

log = logging.getLogger(__name__)

ZERO = Decimal(0)


class OutsideHours(StrEnum):
    """What the pre-trade check does with an order that may not trade now (``outside_hours``)."""

    ALLOW = "allow"
    WARN = "warn"
    DENY = "deny"


class RiskLimits(FrozenConfig):
    """One set of limits (None disables a limit).

    Attributes:
        max_order_quantity: Largest quantity of one order.
        max_order_notional: Largest quantity x reference price of one order.
        max_position: Largest absolute position per instrument after the order.
        max_gross_exposure: Largest sum of absolute position values after the order.
        max_orders_per_second: Most new orders in any one second.
        daily_loss_limit: Loss (positive amount) from the day's starting equity that stops new risk.
        allowed_instruments: Symbols that may be traded; None allows all.
        price_band_percent: Furthest a limit or stop price may be from the reference price, in percent.
        outside_hours: An order that may not trade now on its exchange's calendar: ``allow``, ``warn``
            (logged, then sent) or ``deny``.
    """

    max_order_quantity: Decimal | None = Field(default=None, gt=0)
    max_order_notional: Decimal | None = Field(default=None, gt=0)
    max_position: Decimal | None = Field(default=None, ge=0)
    max_gross_exposure: Decimal | None = Field(default=None, ge=0)
    max_orders_per_second: int | None = Field(default=None, ge=1)
    daily_loss_limit: Decimal | None = Field(default=None, gt=0)
    allowed_instruments: frozenset[str] | None = None
    price_band_percent: Decimal | None = Field(default=None, gt=0)
    outside_hours: OutsideHours = OutsideHours.ALLOW


class RiskConfig(RiskLimits):
    """Global limits plus per-strategy limits (the ``[risk]`` settings section).

    Attributes:
        strategies: Limits per strategy id, applied in addition to the global ones.
        day_timezone: Time zone whose midnight starts a new trading day for the loss limit.
    """

    strategies: dict[str, RiskLimits] = Field(default_factory=dict)
    day_timezone: TimeZoneName = "America/New_York"


class RiskEngine:
    """Checks orders against :class:`RiskConfig` (a :class:`~framework.checks.PreTradeCheck`).

    Args:
        config: The limits.
    """

    def __init__(self, config: RiskConfig) -> None:
        self.config = config
        self._tz = ZoneInfo(config.day_timezone)
        self._recent: dict[str, deque[datetime]] = {}
        self._day: date | None = None
        self._day_start_equity = ZERO

    def __call__(self, request: OrderRequest, state: TradingState) -> str | None:
        """Return why ``request`` breaks a limit, or None."""
        now = state.now()
        scopes: list[tuple[str, RiskLimits]] = [("global", self.config)]
        own = self.config.strategies.get(request.strategy_id)
        if own is not None:
            scopes.append((f"strategy {request.strategy_id}", own))
        for scope, limits in scopes:
            reason = self._check(request, state, limits, now, scope)
            if reason is not None:
                return f"{reason} ({scope} limit)"
        for scope, _ in scopes:
            self._recent.setdefault(scope, deque()).append(now)
        return None

    def _check(self, req: OrderRequest, state: TradingState, limits: RiskLimits, now: datetime,
               scope: str) -> str | None:
        checks = (
            self._instrument_and_size(req, limits),
            self._rate(limits, now, scope),
            self._price_and_notional(req, state, limits),
            self._position_and_exposure(req, state, limits),
            self._daily_loss(req, state, limits, now),
            _trading_hours(req, limits, now, scope),
        )
        return next((reason for reason in checks if reason is not None), None)

    @staticmethod
    def _instrument_and_size(req: OrderRequest, limits: RiskLimits) -> str | None:
        if limits.allowed_instruments is not None and req.symbol not in limits.allowed_instruments:
            return f"instrument {req.symbol} is not in allowed_instruments"
        if limits.max_order_quantity is not None and req.quantity > limits.max_order_quantity:
            return f"quantity {req.quantity} exceeds max_order_quantity {limits.max_order_quantity}"
        return None

    def _rate(self, limits: RiskLimits, now: datetime, scope: str) -> str | None:
        if limits.max_orders_per_second is None:
            return None
        recent = self._recent.setdefault(scope, deque())
        while recent and now - recent[0] >= timedelta(seconds=1):
            recent.popleft()
        if len(recent) >= limits.max_orders_per_second:
            return f"more than max_orders_per_second {limits.max_orders_per_second}"
        return None

    @staticmethod
    def _price_and_notional(req: OrderRequest, state: TradingState, limits: RiskLimits) -> str | None:
        needs_price = limits.max_order_notional is not None or limits.price_band_percent is not None
        if not needs_price:
            return None
        reference = state.reference_price(req.symbol)
        if reference is None:
            return f"no reference price for {req.symbol}"
        if limits.price_band_percent is not None:
            for name, price in (("limit_price", req.limit_price), ("stop_price", req.stop_price)):
                if price is not None and abs(price - reference) / reference * 100 > limits.price_band_percent:
                    return f"{name} {price} is more than {limits.price_band_percent}% from the last price {reference}"
        if limits.max_order_notional is not None:
            notional = req.quantity * _order_price(req, reference) * req.instrument.multiplier
            if notional > limits.max_order_notional:
                return f"notional {notional} exceeds max_order_notional {limits.max_order_notional}"
        return None

    @staticmethod
    def _position_and_exposure(req: OrderRequest, state: TradingState, limits: RiskLimits) -> str | None:
        if limits.max_position is None and limits.max_gross_exposure is None:
            return None
        held = state.portfolio.quantity(req.symbol)
        working = sum(
            (
                o.remaining_quantity
                for o in state.orders.open()
                if o.request.symbol == req.symbol and o.request.side is req.side
                and o.client_order_id != req.client_order_id  # a modification replaces its own order
            ),
            ZERO,
        )
        projected = held + req.side.sign * (req.quantity + working)
        if limits.max_position is not None and abs(projected) > limits.max_position and abs(projected) > abs(held):
            return f"position would reach {projected}, above max_position {limits.max_position}"
        if limits.max_gross_exposure is not None:
            reference = state.reference_price(req.symbol)
            if reference is None:
                return f"no reference price for {req.symbol}"
            value = reference * req.instrument.multiplier
            gross = state.portfolio.gross_exposure - abs(held * value) + abs(projected * value)
            if gross > limits.max_gross_exposure and abs(projected) > abs(held):
                return f"gross exposure would reach {gross}, above max_gross_exposure {limits.max_gross_exposure}"
        return None

    def _daily_loss(self, req: OrderRequest, state: TradingState, limits: RiskLimits, now: datetime) -> str | None:
        today = now.astimezone(self._tz).date()
        if today != self._day:
            self._day = today
            self._day_start_equity = state.portfolio.equity
        if limits.daily_loss_limit is None:
            return None
        loss = self._day_start_equity - state.portfolio.equity
        if loss < limits.daily_loss_limit:
            return None
        held = state.portfolio.quantity(req.symbol)
        reduces = held != 0 and req.side.sign * held < 0 and req.quantity <= abs(held)
        if reduces:
            return None
        return f"daily loss {loss} reached daily_loss_limit {limits.daily_loss_limit}; only reducing orders pass"


def _trading_hours(req: OrderRequest, limits: RiskLimits, now: datetime, scope: str) -> str | None:
    if limits.outside_hours is OutsideHours.ALLOW:
        return None
    hours = hours_for(req.instrument.exchange)
    extended = trades_outside_rth(req.outside_rth, req.order_type)
    phase = hours.phase(now)
    if allowed(phase, extended):
        return None
    session = phase.replace("_", "-")
    reason = (f"{req.symbol} may not trade now ({session} on the {hours.spec.name} calendar); this order may "
              f"trade from {hours.next_open(now, extended).isoformat()}")
    if req.outside_rth and not extended:
        reason += f" (outside_rth applies to limit and stop-limit orders, not {req.order_type} ones)"
    if limits.outside_hours is OutsideHours.DENY:
        return reason
    log.warning("order %s: %s (%s outside_hours = warn: sent anyway)", req.client_order_id, reason, scope)
    return None


def _order_price(req: OrderRequest, reference: Decimal) -> Decimal:
    if req.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and req.limit_price is not None:
        return req.limit_price
    if req.order_type is OrderType.STOP and req.stop_price is not None:
        return req.stop_price
    return reference
