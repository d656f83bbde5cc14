"""A plain-text live view of a running engine, for the terminal.

One line per order event and fill, one per connection change, one when a strategy is stopped after
an error, and a status line with quotes, positions and P&L every few seconds of engine-clock time.
Errors themselves are not printed here: each has one log record, with its traceback (see
:mod:`framework.supervision`). It only listens on the bus (it runs on the dispatcher thread like any
handler) and never prints account secrets: every line, and the summary, pass
:func:`framework.redaction.redact` (secrets ``***``, account ids masked).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal
from typing import IO
from typing import Any

from framework.bus import Subscription
from framework.config import ErrorPolicy
from framework.engine import Engine
from framework.events import ORDER_EVENTS
from framework.events import BarClosed
from framework.events import BrokerConnected
from framework.events import BrokerDegraded
from framework.events import BrokerDisconnected
from framework.events import DataGap
from framework.events import DataStale
from framework.events import HaltRequested
from framework.events import OrderDenied
from framework.events import OrderEvent
from framework.events import OrderFilled
from framework.events import OrderPartiallyFilled
from framework.events import OrderRejected
from framework.events import OrderSubmitted
from framework.events import QuoteUpdated
from framework.events import StrategyFailed
from framework.events import TimerFired
from framework.marketdata import Quote
from framework.models import Order
from framework.models import OrderStatus
from framework.redaction import redact
from tradebus.eventlog import ticket
from tradebus.failures import output_closed

OWNER = "console-view"

log = logging.getLogger(__name__)


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


class ConsoleView:
    """Prints what happens in ``engine`` to ``out``.

    Args:
        engine: The engine to watch.
        out: Where to write (a terminal or file).
        status_every: Engine-clock interval between status lines.
    """

    def __init__(self, engine: Engine, out: IO[str], status_every: timedelta = timedelta(seconds=5)) -> None:
        self.engine = engine
        self.out = out
        self.lines = 0
        self._gone = False
        self._quotes: dict[str, Quote] = {}
        self._closes: dict[str, float] = {}
        bus = engine.bus
        self._subs: list[Subscription] = [
            bus.subscribe(QuoteUpdated, self._on_quote),
            bus.subscribe(BarClosed, self._on_bar),
            bus.subscribe(TimerFired, self._on_timer, sender=OWNER),
            *(bus.subscribe(t, self._on_order) for t in ORDER_EVENTS),
            *(bus.subscribe(t, self._on_notice) for t in (BrokerConnected, BrokerDegraded, BrokerDisconnected)),
            bus.subscribe(StrategyFailed, self._on_notice),
            bus.subscribe(DataStale, self._on_notice),
            bus.subscribe(DataGap, self._on_notice),
            bus.subscribe(HaltRequested, self._on_notice),
        ]
        engine.timers.schedule(OWNER, "status", engine.clock.now() + status_every, status_every)

    def close(self) -> None:
        """Stop listening."""
        for sub in self._subs:
            sub.cancel()
        self.engine.timers.cancel_owner(OWNER)

    def _write(self, text: str) -> None:
        if self._gone:
            return
        stamp = self.engine.clock.now().strftime("%H:%M:%S")
        try:
            self.out.write(f"{stamp}  {redact(text)}\n")  # reasons are brokers' free text
            self.out.flush()
        except BrokenPipeError:  # `tradebus paper ... | head`: the view's reader left, the run goes on
            self._gone = True
            output_closed(self.out)
            log.warning("the live view's output was closed; the run goes on without it")
            return
        self.lines += 1

    def _on_quote(self, event: QuoteUpdated) -> None:
        self._quotes[event.quote.symbol] = event.quote

    def _on_bar(self, event: BarClosed) -> None:
        self._closes[event.bar.symbol] = event.bar.close

    def _on_order(self, event: OrderEvent) -> None:
        self._write(describe_order_event(event))

    def _on_notice(self, event: Any) -> None:
        if isinstance(event, StrategyFailed):
            if event.policy != ErrorPolicy.CONTINUE:  # a state change; the error itself is in the log
                count = len(event.cancelled)
                self._write(f"STOP   strategy {event.strategy_id} stopped after an error in {event.hook} "
                            f"(see the log): {count} working order{'' if count == 1 else 's'} cancelled, "
                            "positions kept")
        elif isinstance(event, DataStale):
            self._write(f"STALE  no data for {event.symbol} since {event.last_update}")
        elif isinstance(event, DataGap):
            self._write(f"GAP    data for {event.symbol} may be missing from {event.start:%H:%M:%S} "
                        f"to {event.end:%H:%M:%S}")
        elif isinstance(event, HaltRequested):
            self._write(f"HALT   trading halted at the request of {event.source}: {redact(event.reason)}")
        else:
            reason = getattr(event, "reason", "")
            self._write(
                f"BROKER {type(event).__name__.removeprefix('Broker').lower()} {event.broker} {reason}".rstrip()
            )

    def _on_timer(self, event: TimerFired) -> None:
        self._write(self.status_line())

    def status_line(self) -> str:
        """Quotes, positions, P&L and equity in one line."""
        parts = []
        for symbol in sorted(set(self._quotes) | set(self._closes)):
            quote = self._quotes.get(symbol)
            if quote is not None and quote.bid is not None and quote.ask is not None:
                parts.append(f"{symbol} {quote.bid:.2f}/{quote.ask:.2f}")
            elif symbol in self._closes:
                parts.append(f"{symbol} {self._closes[symbol]:.2f}")
        portfolio = self.engine.portfolio
        positions = " ".join(f"{p.symbol}:{p.quantity}" for p in portfolio.positions(self.engine.clock.now()))
        return (
            f"STATUS {' '.join(parts) or 'no data yet'} | pos {positions or 'flat'} | "
            f"realized {_money(portfolio.realized_pnl)} unrealized {_money(portfolio.unrealized_pnl)} "
            f"equity {_money(portfolio.equity)}"
        )

    @staticmethod
    def summary(engine: Engine) -> str:
        """A few lines summing up a run: how it ended, its orders by final status, fills, P&L, equity.

        Only the orders this run placed are counted; orders recovered from earlier runs on the same
        journal get a line of their own.
        """
        orders = engine.orders.this_run()
        filled = sum((o.filled_quantity for o in orders), Decimal(0))
        p = engine.portfolio
        working = sum(1 for o in orders if o.status.is_open)
        still_open = f"; {working} still working at the broker" if working else ""
        lines = ["--- summary ---", *engine.outcome.lines(),
                 f"orders: {len(orders)} ({_by_status(orders)}); quantity filled: {filled}{still_open}"]
        recovered = engine.orders.recovered()
        if recovered:
            plural = "s" if len(recovered) > 1 else ""
            lines.append(f"earlier runs: {len(recovered)} order{plural} recovered ({_by_status(recovered)})")
        lines += [
            f"realized P&L {_money(p.realized_pnl)}, unrealized {_money(p.unrealized_pnl)}, "
            f"commissions {_money(p.commissions)}",
            f"cash {_money(p.cash)}, equity {_money(p.equity)}",
        ]
        return redact("\n".join(lines))  # failures quote exceptions, reasons quote brokers


def _by_status(orders: list[Order]) -> str:
    by_status: dict[OrderStatus, int] = {}
    for order in orders:
        by_status[order.status] = by_status.get(order.status, 0) + 1
    return ", ".join(f"{n} {s.value}" for s, n in sorted(by_status.items())) or "none"


def describe_order_event(event: OrderEvent) -> str:
    """One human line for an order event."""
    cid = event.client_order_id
    if isinstance(event, OrderSubmitted):
        return f"ORDER  {cid} submitted: {ticket(event.order.request)}"
    if isinstance(event, OrderFilled | OrderPartiallyFilled):
        f = event.fill
        verb = "bought" if f.side.value == "buy" else "sold"
        partial = " (partial)" if isinstance(event, OrderPartiallyFilled) else ""
        return f"FILL   {cid} {verb} {f.quantity} {f.symbol} @ {f.price} commission {f.commission}{partial}"
    if isinstance(event, OrderRejected | OrderDenied):
        return f"ORDER  {cid} {type(event).__name__.removeprefix('Order').lower()}: {event.reason}"
    name = type(event).__name__.removeprefix("Order")
    return f"ORDER  {cid} {name.lower()}"
