"""The broker conformance kit against the real ``IbkrBroker`` and an in-process simulated gateway.

Every check in :data:`framework.conformance.CHECKS` runs over real HTTPS and WSS on loopback, with TLS
verified against the gateway's own CA and the adapter's stream and keep-alive threads running. One
gateway serves the module and is reset before each check, so no order or position leaks between
checks. Waits are event-driven: :meth:`IbkrHarness.pump` drains the engine on the test thread until
the check's condition holds or a generous deadline passes; nothing asserts on elapsed time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from collections.abc import Iterator
from decimal import Decimal

import pytest

from brokers.ibkr import IbkrBroker
from brokers.ibkr import IbkrConfig
from framework.broker import Broker
from framework.clock import SystemClock
from framework.conformance import CHECKS
from framework.conformance import Harness
from framework.engine import Engine
from framework.models import Side
from simulators.ibkr import SimulatedGateway
from simulators.ibkr import SimulatorConfig

DEADLINE = 60.0  # seconds; bounds a stuck adapter, generous for a loaded 2-core machine; a healthy one needs ms
POLL = 0.005  # seconds the test thread yields to the adapter threads between drains

# The questions the checks' orders draw from the gateway: o354 (a market order for a conid with no
# market-data subscription: the kit trades without subscribing), o163 (a limit price far from the
# last trade: what far_limit_price is for) and o403 (a marketable order). Anything else rejects.
CONFIRMS = frozenset({"o163", "o354", "o403"})
FAR = Decimal("0.20")  # far limit prices sit 20% away from the last trade
TICK = Decimal("0.01")


class IbkrHarness:
    """Builds ``IbkrBroker``s against one running simulated gateway (the kit's :class:`Harness`).

    Args:
        gateway: The running gateway (reset by the caller before each check).
    """

    symbol = "AAPL"

    def __init__(self, gateway: SimulatedGateway) -> None:
        self.gateway = gateway
        self.clock = SystemClock()  # the adapter runs real threads against a real server
        self.brokers: list[IbkrBroker] = []

    def make_broker(self) -> Broker:
        config = IbkrConfig(
            base_url=self.gateway.base_url,
            ws_url=self.gateway.ws_url,
            ca_file=self.gateway.ca_file,
            auto_confirm_message_ids=CONFIRMS,
            reconnect_initial=0.2,
            reconnect_max=2.0,
        )
        broker = IbkrBroker(config, clock=self.clock)
        self.brokers.append(broker)
        return broker

    def far_limit_price(self, side: Side) -> Decimal:
        last = Decimal(self.gateway.quote(self.symbol)["last"])
        factor = 1 - FAR if side is Side.BUY else 1 + FAR
        return (last * factor).quantize(TICK)

    def pump(self, engine: Engine, until: Callable[[], bool]) -> None:
        deadline = time.monotonic() + DEADLINE
        while True:
            engine.run_pending()
            if until():
                return
            if time.monotonic() >= deadline:
                name = getattr(until, "__qualname__", repr(until))
                line = getattr(getattr(until, "__code__", None), "co_firstlineno", "?")
                msg = f"condition {name} (line {line}) not reached within {DEADLINE:.0f} s"
                raise AssertionError(msg)
            time.sleep(POLL)

    def close(self) -> None:
        """Disconnect every broker built here (idempotent; a check's own close already did)."""
        for broker in self.brokers:
            broker.disconnect()


@pytest.fixture(scope="module")
def gateway() -> Iterator[SimulatedGateway]:
    config = SimulatorConfig(submit_latency=0.01, cancel_latency=0.01)
    with SimulatedGateway(port=0, seed=11, config=config) as gw:
        yield gw


@pytest.fixture
def harness(gateway: SimulatedGateway) -> Iterator[IbkrHarness]:
    gateway.reset()
    made = IbkrHarness(gateway)
    yield made
    made.close()
    # every websocket the check opened is gone: the broker really disconnected
    deadline = time.monotonic() + DEADLINE
    while gateway.state()["ws_clients"] and time.monotonic() < deadline:
        time.sleep(POLL)
    assert gateway.state()["ws_clients"] == 0, "a broker left its websocket open after the check"


def test_the_harness_satisfies_the_kit_protocol(gateway: SimulatedGateway) -> None:
    harness: Harness = IbkrHarness(gateway)  # mypy checks the structural match
    price = harness.far_limit_price(Side.BUY)
    assert price == price.quantize(TICK)
    assert price < Decimal(gateway.quote("AAPL")["bid"]) < harness.far_limit_price(Side.SELL)


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_ibkr_broker_conforms(check: Callable[[Harness], None], harness: IbkrHarness) -> None:
    check(harness)
    assert harness.brokers, "the check built no broker"
    assert all(b.connection_state == "disconnected" for b in harness.brokers), "a broker is still connected"
