"""The conformance kit passes on a correct broker and fails, with a reason, on a broken one."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from framework.broker import Broker
from framework.conformance import CHECKS
from framework.conformance import Harness
from framework.conformance import limit_order_rests_and_cancels
from framework.conformance import market_order_fills_completely
from framework.engine import Engine
from framework.marketdata import Quote
from framework.models import Side
from framework.testing import FakeClock
from framework.testing import ScriptedBroker


class ScriptedHarness:
    """Runs the kit against ScriptedBroker; pump pushes a quote per round so market orders can fill."""

    symbol = "AAPL"

    def __init__(self, **broker_options: bool) -> None:
        self.clock = FakeClock()
        self.options = broker_options
        self.brokers: list[ScriptedBroker] = []

    def make_broker(self) -> Broker:
        broker = ScriptedBroker(self.clock, auto_cancel=True, **self.options)
        self.brokers.append(broker)
        return broker

    def far_limit_price(self, side: Side) -> Decimal:
        return Decimal("50.00") if side is Side.BUY else Decimal("150.00")

    def pump(self, engine: Engine, until: Callable[[], bool]) -> None:
        broker = self.brokers[-1]
        for _ in range(20):
            engine.run_pending()
            if until():
                return
            if broker.connection_state.value == "connected":
                broker.push_quote(Quote(self.symbol, self.clock.now(), bid=100.0, ask=100.1))
                for request in list(broker.submitted):
                    if request.order_type.value == "market" and request.client_order_id in broker._working:
                        broker.fill(request.client_order_id, 100.1)
        raise AssertionError("condition not reached within 20 rounds")


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_scripted_broker_conforms(check: Callable[[Harness], None]) -> None:
    check(ScriptedHarness())


def test_a_broker_that_never_confirms_cancels_fails_the_kit() -> None:
    class NoCancel(ScriptedHarness):
        def make_broker(self) -> Broker:
            broker = ScriptedBroker(self.clock, auto_cancel=False)
            self.brokers.append(broker)
            return broker

    with pytest.raises(AssertionError, match="not reached"):
        limit_order_rests_and_cancels(NoCancel())


def test_a_broker_that_never_fills_fails_the_kit() -> None:
    class NoFill(ScriptedHarness):
        def pump(self, engine: Engine, until: Callable[[], bool]) -> None:
            for _ in range(5):
                engine.run_pending()
                if until():
                    return
            raise AssertionError("condition not reached within 5 rounds")

    with pytest.raises(AssertionError, match="not reached"):
        market_order_fills_completely(NoFill(auto_fill=False))
