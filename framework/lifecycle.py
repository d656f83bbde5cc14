"""The one order lifecycle: every order fact and execution report, applied in one place.

On the dispatcher thread, for each order event and each ``ExecutionReported`` a broker emitted,
:class:`OrderLifecycle`:

1. applies it to the :class:`~framework.orders.OrderBook` (the only place an order's status
   changes); an execution report is first checked against its order
   (:mod:`framework.executions`);
2. writes the applied event to the journal, so it is on disk before any strategy acts on it;
3. books a fill in the one :class:`~framework.portfolio.Portfolio`, once;
4. publishes the event to the owning strategy (sender: its strategy id), then ``PositionChanged``
   for the symbol, built only when someone listens.

A report that contradicts its order is refused: nothing is booked, ``ExecutionRefused`` names the
field and both values, and the broker is marked degraded (new orders are denied, see
:class:`BrokerHealth`) until it next reports ``BrokerConnected``.

Execution ids are checked across runs too: a report whose id this run has not booked is first
looked up in the journal, which holds every earlier run's fills. A fill found there is the one the
report is compared with, as if this run had booked it: the same execution again is a duplicate,
another execution under that id is refused (field ``execution_id``), never journaled over or
dropped.

Events:
    Publishes the order events it applied, ``PositionChanged``, ``ExecutionRefused`` and
    ``BrokerDegraded`` (when a report was refused).
"""

from __future__ import annotations

import logging
import sqlite3

from framework.bus import ANY
from framework.bus import EventBus
from framework.clock import Clock
from framework.events import BrokerConnected
from framework.events import BrokerDegraded
from framework.events import ExecutionRefused
from framework.events import ExecutionReported
from framework.events import OrderEvent
from framework.events import OrderFilled
from framework.events import OrderPartiallyFilled
from framework.events import PositionChanged
from framework.executions import Contradiction
from framework.journal import Journal
from framework.models import Order
from framework.orders import OrderBook
from framework.portfolio import Portfolio

log = logging.getLogger(__name__)


class BrokerHealth:
    """Whether the engine still trusts what the broker reports (shared by the lifecycle and the gateway).

    Attributes:
        reason: Why the broker is degraded, or None while its reports agree with the books.
    """

    def __init__(self) -> None:
        self.reason: str | None = None

    def degrade(self, reason: str) -> None:
        """Stop trusting the broker until it reconnects."""
        self.reason = reason

    def clear(self) -> None:
        """Trust the broker again."""
        self.reason = None


class OrderLifecycle:
    """Applies order facts and execution reports: book, journal, portfolio, then strategies.

    Args:
        book: Order state.
        portfolio: The run's one portfolio.
        bus: Where applied events are published.
        clock: Time of events the lifecycle makes itself.
        health: Marked degraded when a report is refused.
        broker_name: Named in ``BrokerDegraded``.
        journal: Where applied events are recorded, if any.
    """

    def __init__(self, book: OrderBook, portfolio: Portfolio, bus: EventBus, *, clock: Clock, health: BrokerHealth,
                 broker_name: str, journal: Journal | None = None) -> None:
        self._book = book
        self._portfolio = portfolio
        self._bus = bus
        self._clock = clock
        self._health = health
        self._broker_name = broker_name
        self.journal = journal
        self.journal_errors = 0
        self.refused_reports = 0

    def on_order_event(self, event: OrderEvent) -> None:
        """Apply an order fact and publish what it changed."""
        applied = self._book.apply(event)
        if applied is not None:
            self._publish(applied)

    def on_execution(self, event: ExecutionReported) -> None:
        """Check an execution report, book it, and publish the fill (or the refusal)."""
        if self.journal is not None and self._book.booked(event.report.execution_id) is None:
            self._recall(event.report.execution_id)
        outcome = self._book.apply_execution(event.report, self._portfolio.account_id or None)
        if isinstance(outcome, Contradiction):
            self._refuse(event, outcome)
        elif outcome is not None:
            self._publish(outcome)

    def on_connected(self, event: BrokerConnected) -> None:
        """The broker reconnected: trust its reports again, and tell the strategies."""
        if self._health.reason is not None:
            log.warning("broker %s reconnected; execution reports trusted again", event.broker)
        self._health.clear()
        self._bus.publish(event)

    def _publish(self, event: OrderEvent) -> None:
        order = self._book.get(event.client_order_id)
        assert order is not None  # the book applied it, so it knows the order
        if self.journal is not None:
            self._journal(event, order)  # on disk before any strategy acts on it
        owner = order.request.strategy_id
        if isinstance(event, OrderFilled | OrderPartiallyFilled):
            fill = event.fill
            self._portfolio.book_fill(fill, order.request.instrument.multiplier)
            self._bus.publish(event, owner)
            if self._bus.wants(PositionChanged, fill.symbol):
                position = self._portfolio.position(fill.symbol, fill.ts)
                self._bus.publish(PositionChanged(ts=fill.ts, position=position), fill.symbol)
            return
        self._bus.publish(event, owner)

    def _recall(self, execution_id: str) -> None:
        # an earlier run may have journaled this id: the report is then checked against that fill
        assert self.journal is not None
        try:
            earlier = self.journal.fill(execution_id)
        except (OSError, sqlite3.Error) as e:
            self.journal_errors += 1
            log.error("journal lookup of execution %s failed: %s", execution_id, e)
            return
        if earlier is not None:
            self._book.remember(earlier)

    def _journal(self, event: OrderEvent, order: Order) -> None:
        assert self.journal is not None
        try:
            self.journal.record_event(event, order)
        except (OSError, sqlite3.Error) as e:
            # The broker's word still reaches order state and the portfolio; losing it there too
            # would be worse than a gap in the journal, which this error makes loud.
            self.journal_errors += 1
            log.error("journal write failed for %s %s: %s", type(event).__name__, event.client_order_id, e)

    def _refuse(self, event: ExecutionReported, found: Contradiction) -> None:
        report = event.report
        self.refused_reports += 1
        reason = (f"execution {report.execution_id} for {report.client_order_id} refused: {found.field} "
                  f"expected {found.expected}, received {found.received}")
        log.error("%s; nothing booked, broker %s marked degraded", reason, self._broker_name)
        order = self._book.get(report.client_order_id)
        owner = order.request.strategy_id if order is not None else ANY
        now = self._clock.now()
        self._bus.publish(ExecutionRefused(ts=now, client_order_id=report.client_order_id,
                                           execution_id=report.execution_id, field=found.field,
                                           expected=found.expected, received=found.received), owner)
        if self._health.reason is None:
            self._health.degrade(reason)
            self._bus.publish(BrokerDegraded(ts=now, broker=self._broker_name, reason=reason))
