"""Everything one soak runs, built before it starts (shared by the runner and the verdicts)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from framework.engine import Engine
from tradebus.assembly import Run
from tradebus.soak.books import RunningCheck
from tradebus.soak.gateway import SoakGateway
from tradebus.soak.injector import FaultInjector
from tradebus.soak.monitor import SoakMonitor
from tradebus.soak.probes import EventTally
from tradebus.soak.probes import ResourceSampler
from tradebus.soak.probes import TalliedIbkrBroker
from tradebus.soak.settings import SoakConfig
from tradebus.soak.trader import SoakTrader


@dataclass
class Parts:
    """The parts of one soak.

    Attributes:
        config: Its options.
        gateway: The simulated gateway (child process).
        broker: The IBKR adapter, its sink counted.
        run: The assembled run (engine, journal, risk limits, event log).
        trader: The trading strategy.
        monitor: The watching strategy.
        tally: Event counts into and through the engine.
        injector: The fault injector.
        sampler: The resource sampler.
        running: The execution check repeated during the run.
        quiet_min: Seconds without a fault before resources and books are judged.
        journal: The journal file.
        stop: Set when the soak ends.
        exclusive: Keeps the resource sampler and the soak's own file and socket use apart.
    """

    config: SoakConfig
    gateway: SoakGateway
    broker: TalliedIbkrBroker
    run: Run
    trader: SoakTrader
    monitor: SoakMonitor
    tally: EventTally
    injector: FaultInjector
    sampler: ResourceSampler
    running: RunningCheck
    quiet_min: float
    journal: Path
    stop: threading.Event
    exclusive: threading.Lock

    @property
    def engine(self) -> Engine:
        """The run's engine."""
        return self.run.engine
