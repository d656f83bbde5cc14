"""The incoming router: the stream's typed messages applied to the adapter's state, as framework events.

The last step of the one-way incoming path::

    websocket frame -> stream (decode) -> topics (wire model -> typed messages) -> IncomingRouter -> events

:meth:`IncomingRouter.route` dispatches each message by its type through a table: market data goes to
the quote book, order updates and executions to the order tracker, P&L passes through as it is, and
a ``sts``/``act`` push that says the session is gone is reported to the session manager, and a
heartbeat's time stamp goes to the clock-skew monitor. An ``act`` push that lists an account that is
not this run's trips the account guard (:mod:`brokers.ibkr.accountguard`) and becomes
``HaltRequested``. When the stream is back after an interruption, :meth:`IncomingRouter.data_gaps`
names what may be missing (``DataGap`` per instrument). It returns the framework events; the broker
pushes them into its one event sink. It calls no function of the broker and never sees a dict.

``ssd``/``sld`` (account summary and ledger) are parsed and logged only: they lack buying power and
cash of the whole account, so they cannot make a framework ``Account`` (``AccountUpdated`` would
also reset the engine's cash); ``IbkrBroker.account()`` reads the portfolio summary instead.

Threading: :meth:`IncomingRouter.route` runs on the stream thread (or a test's); the parts it
updates are thread-safe.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from brokers.ibkr.clockskew import ClockSkewMonitor
from brokers.ibkr.parsing import Execution
from brokers.ibkr.parsing import OrderUpdate
from brokers.ibkr.parsing import QuoteTick
from brokers.ibkr.quotes import QuoteBook
from brokers.ibkr.session import SessionManager
from brokers.ibkr.topics import AccountList
from brokers.ibkr.topics import AccountSummary
from brokers.ibkr.topics import Heartbeat
from brokers.ibkr.topics import Incoming
from brokers.ibkr.topics import LedgerUpdate
from brokers.ibkr.topics import SessionStatus
from brokers.ibkr.topics import StreamError
from brokers.ibkr.tracking import OrderTracker
from framework.events import AnyEvent
from framework.events import DataGap
from framework.events import HaltRequested
from framework.events import PnlUpdated

log = logging.getLogger(__name__)

_Handler = Callable[[Any, datetime], Sequence[AnyEvent]]
_NOTHING: tuple[()] = ()


class IncomingRouter:
    """Applies typed stream messages to the quote book, the order tracker and the session.

    Args:
        quotes: Merges market data into quotes and bars.
        tracker: Order state; folds order updates and executions in.
        session: Told when a ``sts`` or ``act`` push says the session is gone; its account guard
            judges every ``act``.
        name: The broker's name, the source of ``HaltRequested``.
        skew: Compares heartbeat stamps with the local clock (none: not checked).

    Events:
        Returns ``QuoteUpdated`` and ``BarClosed`` (market data), the order events the tracker
        derives (``OrderAccepted``, ``OrderCancelled``, ``ExecutionReported`` ...), ``PnlUpdated``,
        ``HaltRequested`` (an ``act`` listing another account), ``DataGap`` (:meth:`data_gaps`) and
        ``ClockSkewDetected`` when the gateway's clock is off.
        Messages the stream acts on itself (heartbeats, ``waiting for session``, logins, refused
        rows) yield nothing here.
    """

    def __init__(self, quotes: QuoteBook, tracker: OrderTracker, session: SessionManager, name: str = "ibkr",
                 skew: ClockSkewMonitor | None = None) -> None:
        self._name = name
        self._quotes = quotes
        self._tracker = tracker
        self._session = session
        self._skew = skew
        self._handlers: dict[type, _Handler] = {
            QuoteTick: self._market_data,
            OrderUpdate: self._order_update,
            Execution: self._execution,
            PnlUpdated: self._pnl,
            SessionStatus: self._status,
            AccountList: self._accounts,
            AccountSummary: self._summary,
            LedgerUpdate: self._ledger,
            StreamError: self._error,
            Heartbeat: self._heartbeat,
        }

    def route(self, messages: Sequence[Incoming], ts: datetime) -> list[AnyEvent]:
        """Apply the messages of one frame received at ``ts``; return the events they imply, in order."""
        events: list[AnyEvent] = []
        for message in messages:
            handler = self._handlers.get(type(message))
            if handler is not None:
                events.extend(handler(message, ts))
        return events

    def data_gaps(self, start: datetime, end: datetime) -> list[AnyEvent]:
        """``DataGap`` for every instrument streamed now: its data may be missing from ``start`` to ``end``.

        The volume traded during the gap is not one trade: the volume baselines start afresh.
        """
        self._quotes.forget_volumes()
        return [DataGap(ts=end, symbol=symbol, start=start, end=end) for symbol in self._quotes.streamed_symbols()]

    def _market_data(self, tick: QuoteTick, ts: datetime) -> Sequence[AnyEvent]:
        return self._quotes.on_market_data(tick, ts)

    def _order_update(self, update: OrderUpdate, ts: datetime) -> Sequence[AnyEvent]:
        return self._tracker.apply_update(update, ts)

    def _execution(self, execution: Execution, ts: datetime) -> Sequence[AnyEvent]:
        return self._tracker.apply_execution(execution)

    def _pnl(self, event: PnlUpdated, ts: datetime) -> Sequence[AnyEvent]:
        return (event,)

    def _status(self, status: SessionStatus, ts: datetime) -> Sequence[AnyEvent]:
        if status.competing is True:
            self._session.report_failure("competing session (stream)")
        elif status.authenticated is False:
            self._session.report_failure("not authenticated (stream)")
        return _NOTHING

    def _accounts(self, accounts: AccountList, ts: datetime) -> Sequence[AnyEvent]:
        if accounts.accounts is None:
            return _NOTHING
        reason = self._session.guard.check(accounts.accounts)
        if reason is None:
            return _NOTHING
        missing = self._session.account_id not in accounts.accounts
        # recover (re-prime), which refuses the session as long as the list stays wrong
        self._session.report_failure("account missing from the stream's account list" if missing
                                     else "another account in the stream's account list")
        return (HaltRequested(ts=ts, source=self._name, reason=reason),)

    def _summary(self, summary: AccountSummary, ts: datetime) -> Sequence[AnyEvent]:
        log.debug("account summary %s: %s", summary.account_id,
                  {v.key: v.amount if v.amount is not None else v.text for v in summary.values})
        return _NOTHING

    def _ledger(self, ledger: LedgerUpdate, ts: datetime) -> Sequence[AnyEvent]:
        log.debug("ledger %s %s: cash %s, net liquidation %s, unrealized %s", ledger.account_id, ledger.currency,
                  ledger.cash_balance, ledger.net_liquidation, ledger.unrealized_pnl)
        return _NOTHING

    def _heartbeat(self, heartbeat: Heartbeat, ts: datetime) -> Sequence[AnyEvent]:
        return self._skew.observe(heartbeat.ms, ts) if self._skew is not None else _NOTHING

    def _error(self, error: StreamError, ts: datetime) -> Sequence[AnyEvent]:
        log.warning("stream error message: %s", error.text)
        return _NOTHING
