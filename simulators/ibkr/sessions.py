"""Trading hours of the simulated market: which orders may trade now, when DAY orders end, frozen quotes.

With ``market_hours = "exchange"`` the simulator keeps the US equity calendar of
:mod:`framework.trading_hours` (pre-market 04:00, regular 09:30-16:00, after-hours to 20:00 New York
time; holidays and early closes with the ``calendars`` extra), the calendar the paper venue uses too:

* an order trades in regular hours; one with ``outsideRTH`` also in pre-market and after-hours, if its
  type may trade there (:data:`OUTSIDE_RTH_TYPES`, IBKR's rule for US stocks; ``outsideRTH`` on a
  market or stop order is ignored, as IBKR ignores it);
* an order that may not trade now is held ``PreSubmitted`` (``outside_rth_orders = "hold"``, IBKR's
  documented behaviour), refused at placement with IBKR's text :data:`OUTSIDE_RTH_ERROR` (``"reject"``),
  or accepted as ``Inactive`` with that text as its status description (``"inactive"``);
* ``DAY`` orders are cancelled by the broker at their session's end (the regular close, or the end of
  after-hours for an order that may trade outside regular hours);
* while the market is closed, prices do not move and quotes are frozen (field ``6509`` starts with
  ``Z``, ``Y`` when delayed).

With ``market_hours = "always"`` (the default) every instant is regular trading hours: a run on the
wall clock behaves the same at any hour, and ``DAY`` orders never expire.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from datetime import timedelta

from framework.clock import Clock
from framework.trading_hours import SessionPhase
from framework.trading_hours import TradingHours
from framework.trading_hours import allowed
from framework.trading_hours import hours_for
from simulators.ibkr.orders import Ticket

OUTSIDE_RTH_ERROR = "invalid order attribute : Outside Regular Trading Hours"
"""IBKR's text for an order that may not trade outside regular trading hours."""
OUTSIDE_RTH_TYPES = frozenset({"LMT", "STOP_LIMIT"})
"""Order types that may trade in pre-market and after-hours sessions (US stocks)."""


def trades_outside_rth(ticket: Ticket) -> bool:
    """Whether the ticket may trade outside regular hours (``outsideRTH`` on a type that allows it)."""
    return ticket.outside_rth and ticket.order_type in OUTSIDE_RTH_TYPES


class MarketSessions:
    """The calendar as the simulated gateway applies it.

    Args:
        enabled: Returns whether exchange hours apply (``market_hours == "exchange"``), read per call
            because the configuration can change at run time.
        clock: The gateway's clock.
        hours: The calendar (default: the US equity calendar, shared with the rest of the process).
    """

    def __init__(self, enabled: Callable[[], bool], clock: Clock, hours: TradingHours | None = None) -> None:
        self._enabled = enabled
        self._clock = clock
        self.hours = hours or hours_for("NYSE")

    @property
    def enabled(self) -> bool:
        """Whether the exchange calendar applies."""
        return self._enabled()

    def phase(self) -> SessionPhase:
        """The session now (always regular without exchange hours)."""
        return self.hours.phase(self._clock.now()) if self._enabled() else SessionPhase.REGULAR

    @property
    def frozen(self) -> bool:
        """Whether the market is closed: prices stand still and quotes are frozen."""
        return self.phase() is SessionPhase.CLOSED

    def may_trade(self, ticket: Ticket) -> bool:
        """Whether an order with this ticket may trade now."""
        return allowed(self.phase(), trades_outside_rth(ticket))

    def day_end(self, ticket: Ticket) -> datetime | None:
        """When a ``DAY`` order placed now is cancelled by the broker; None for other orders or without hours."""
        if ticket.tif != "DAY" or not self._enabled():
            return None
        return self.hours.session_end_after(self._clock.now(), trades_outside_rth(ticket))

    def history_filter(self, size: int, outside_rth: bool) -> Callable[[datetime], bool] | None:
        """Which generated history bars exist: those in the sessions asked for (None: all, without hours).

        Intraday bars must reach into regular hours (or extended ones with ``outsideRth``); daily bars
        need a trading day; weekly and longer ones are all kept.
        """
        if not self._enabled() or size >= 7 * 86400:
            return None
        hours = self.hours
        if size >= 86400:
            return lambda start: hours.day(start.date()) is not None
        length = timedelta(seconds=size)
        return lambda start: hours.overlaps(start, start + length, outside_rth)

    def seconds_to_next_change(self) -> float:
        """Clock seconds until the session phase next changes."""
        now = self._clock.now()
        return max(0.001, (self.hours.next_change(now) - now).total_seconds())
