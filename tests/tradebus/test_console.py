"""The console view prints one line per order event, notices, and status lines on the clock."""

from __future__ import annotations

import io
from datetime import timedelta

from framework.config import EngineConfig
from framework.config import ErrorPolicy
from framework.engine import Engine
from framework.events import OrderRejected
from framework.marketdata import Quote
from framework.models import Instrument
from framework.redaction import register_secret
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


class RaiseOnRejection(Strategy):
    def on_start(self) -> None:
        self.subscribe_quotes("AAPL")

    def on_quote(self, quote: Quote) -> None:
        if not self.context.orders.all():
            self.buy("AAPL", 10)

    def on_order_rejected(self, event: OrderRejected) -> None:
        raise RuntimeError(f"could not page: {event.reason}")


def test_view_and_summary_never_print_a_secret(clock: FakeClock, aapl: Instrument) -> None:
    # R19: a broker's reason and a strategy's error are free text; the console shows them redacted
    register_secret("sess-canary-77d1e0f3")
    broker = ScriptedBroker(clock, instruments=[aapl], auto_accept=False, auto_fill=False)
    config = EngineConfig(order_id_prefix="T", on_strategy_error=ErrorPolicy.CONTINUE)
    engine = Engine(broker, clock=clock, config=config)
    out = io.StringIO()
    engine.add_strategy(RaiseOnRejection())
    view = ConsoleView(engine, out)
    engine.start()
    broker.push_quote(Quote("AAPL", clock.now(), bid=100.0, ask=100.1))
    engine.run_pending()
    broker.reject("T.1", "POST /iserver/account/DU7750123/orders: session sess-canary-77d1e0f3 expired")
    engine.run_pending()
    view.close()
    printed = out.getvalue() + ConsoleView.summary(engine)
    assert "rejected: POST /iserver/account/DU****123/orders: session *** expired" in printed
    assert "1 error tolerated" in printed
    assert "DU7750123" not in printed
    assert "sess-canary" not in printed
    engine.stop()
