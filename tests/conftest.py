"""Shared fixtures: a fake clock, a scripted broker, an engine that raises handler errors, a recorder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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
