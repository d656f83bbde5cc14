"""The console view prints one line per order event, notices, and status lines on the clock."""

from __future__ import annotations

import io
from datetime import timedelta

from framework.engine import Engine
from framework.marketdata import Quote
from framework.strategy import Strategy
from framework.testing import FakeClock
from framework.testing import ScriptedBroker
from tradebus.console import ConsoleView


class BuyOnce(Strategy):
    def on_start(self) -> None:
        self.subscribe_quotes("AAPL")

    def on_quote(self, quote: Quote) -> None:
        if not self.context.orders.all():
            self.buy("AAPL", 10)


def test_view_shows_orders_fills_and_status(engine: Engine, broker: ScriptedBroker, clock: FakeClock) -> None:
    out = io.StringIO()
    engine.add_strategy(BuyOnce())
    view = ConsoleView(engine, out, status_every=timedelta(seconds=5))
    engine.start()
    broker.push_quote(Quote("AAPL", clock.now(), bid=100.0, ask=100.1))
    engine.run_pending()
    clock.advance(timedelta(seconds=5))
    broker.push_quote(Quote("AAPL", clock.now(), bid=101.0, ask=101.1))
    engine.run_pending()
    lines = out.getvalue().splitlines()
    text = "\n".join(lines)
    assert "BROKER connected scripted" in text
    assert "submitted: buy 10 AAPL market" in text
    assert "FILL" in text
    assert "bought 10 AAPL @ 100.1" in text
    status = [line for line in lines if "STATUS" in line]
    assert len(status) == 1
    assert "AAPL 101.00/101.10" in status[0]
    assert "pos AAPL:10" in status[0]
    assert "unrealized 9.50" in status[0]  # marked at the mid, 101.05, with no last price
    view.close()
    summary = ConsoleView.summary(engine)
    assert "orders: 1 (1 filled)" in summary
    assert "quantity filled: 10" in summary
