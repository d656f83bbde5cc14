"""Shared fixtures: a fake clock, a scripted broker, an engine that raises handler errors, a recorder."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from brokers.ibkr.maintenance import REGIONS
from framework.config import EngineConfig
from framework.engine import Engine
from framework.models import Instrument
from framework.testing import EventRecorder
from framework.testing import FakeClock
from framework.testing import ScriptedBroker


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def aapl() -> Instrument:
    return Instrument(symbol="AAPL", broker_id="265598", exchange="NASDAQ")


@pytest.fixture
def broker(clock: FakeClock, aapl: Instrument) -> ScriptedBroker:
    return ScriptedBroker(clock, instruments=[aapl, Instrument(symbol="MSFT", broker_id="272093")])


@pytest.fixture
def engine(broker: ScriptedBroker, clock: FakeClock) -> Iterator[Engine]:
    engine = Engine(broker, clock=clock, config=EngineConfig(raise_errors=True, order_id_prefix="T"))
    yield engine
    engine.stop()


@pytest.fixture
def recorder(engine: Engine) -> Iterator[EventRecorder]:
    rec = EventRecorder(engine.bus)
    yield rec
    rec.close()


@pytest.fixture(autouse=True)
def simulated_gateways_have_no_maintenance(request: pytest.FixtureRequest,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests trade on simulated gateways at whatever hour they run: IBKR's documented maintenance windows off.

    The adapter's default (``maintenance_region="north_america"``) blacks out orders in IBKR's nightly
    reset and weekend windows; a test trading on the system clock against a simulated gateway would pass
    or fail by the hour. Here the default region has no windows, for in-process adapters and (through
    ``TRADEBUS_BROKERS__IBKR__MAINTENANCE_REGION``) for ``tradebus`` runs and child processes. Tests of
    the schedule are marked ``ibkr_maintenance`` and see the documented windows.
    """
    if request.node.get_closest_marker("ibkr_maintenance") is not None:
        return
    monkeypatch.setitem(REGIONS, "north_america", ())
    monkeypatch.setenv("TRADEBUS_BROKERS__IBKR__MAINTENANCE_REGION", "none")


@pytest.fixture(autouse=True)
def root_logging_restored() -> Iterator[None]:
    """Undo what a test's CLI run did to the root logger (its handlers and their filters, its level).

    ``tradebus`` commands configure logging for the process; without this a handler a test left behind
    (with its redacting filter) would see every later test's records first.
    """
    root = logging.getLogger()
    level, before = root.level, list(root.handlers)
    yield
    for handler in list(root.handlers):
        if handler not in before and not type(handler).__module__.startswith("_pytest"):
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)
