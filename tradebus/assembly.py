"""One run assembler for every mode: backtest, paper, live and the demo.

Every run gets the same safety, whatever the mode: the order journal (an intent is on disk before
the order is sent), the pre-trade risk limits, the kill switch and the event log. What differs
between modes is chosen by the caller: the broker, the clock, the journal's file and durability, and
whether a watcher thread polls the halt flag (live and paper) or only the engine clock does (a
backtest, which may run faster than the wall clock).

:func:`assemble` builds a :class:`Run`; :func:`run_session` runs one on the wall clock (live, paper,
demo) with the live view and the recorder, and hands back what it produced. During a session the
first Ctrl-C stops the run cleanly (see :mod:`tradebus.interrupts`); the result says how it ended.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from datetime import timedelta
from pathlib import Path
from typing import Any
from typing import TextIO

from pydantic import ValidationError

from framework.broker import Broker
from framework.checks import PreTradeCheck
from framework.clock import Clock
from framework.config import EngineConfig
from framework.config import problem
from framework.engine import Engine
from framework.errors import ConfigError
from framework.journal import Journal
from framework.killswitch import KillSwitch
from framework.risk import RiskConfig
from framework.risk import RiskEngine
from framework.strategy import Strategy
from tradebus.console import ConsoleView
from tradebus.eventlog import EventLog
from tradebus.interrupts import interrupt_stops
from tradebus.recording import LiveRecorder
from tradebus.results import RunResult

log = logging.getLogger(__name__)


def risk_limits(section: Mapping[str, Any], source: str | None = None) -> RiskConfig | None:
    """The ``[risk]`` settings as limits, or None when the section is empty.

    Raises:
        ConfigError: If a limit is unknown or invalid (naming ``risk.<key>`` and the file).
    """
    if not section:
        return None
    try:
        return RiskConfig.model_validate(dict(section))
    except ValidationError as e:
        first = e.errors()[0]
        key = ".".join(["risk", *(str(p) for p in first["loc"])])
        raise ConfigError(problem(first, RiskConfig), key=key, source=source) from e


@dataclass
class Run:
    """An assembled run: the engine and the safety parts around it.

    Attributes:
        engine: The engine, strategies added, not started.
        journal: The order journal, if the run keeps one.
        kill_switch: The kill switch, if the run watches a halt flag.
        risk: The risk limits' check, if any.
    """

    engine: Engine
    journal: Journal | None = None
    kill_switch: KillSwitch | None = None
    risk: RiskEngine | None = None
    _closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        """Stop the watcher thread and close the journal (after the engine stopped); idempotent."""
        closers, self._closers = self._closers, []
        for close in closers:
            close()


def assemble(
    broker: Broker,
    clock: Clock,
    strategies: Iterable[Strategy[Any]],
    *,
    config: EngineConfig | None = None,
    journal: Journal | None = None,
    owns_journal: bool = True,
    risk: RiskConfig | None = None,
    halt_file: Path | None = None,
    checks: Iterable[PreTradeCheck] = (),
    event_log: bool = True,
) -> Run:
    """Build the engine of a run with its journal, risk limits, kill switch and event log.

    Args:
        broker: Market data and execution.
        clock: The run's clock.
        strategies: The strategies (ids must differ).
        config: Engine settings.
        journal: Where intents and order events go.
        owns_journal: :meth:`Run.close` closes the journal (False: the caller does).
        risk: Pre-trade limits; None for none.
        halt_file: The kill switch's flag file; None for no kill switch.
        checks: Further pre-trade checks, run after the risk limits.
        event_log: Log order and connection events (shown with ``-v``).
    """
    engine = Engine(broker, clock=clock, config=config, journal=journal)
    run = Run(engine, journal=journal)
    if journal is not None and owns_journal:
        run._closers.append(journal.close)
    if risk is not None:
        run.risk = RiskEngine(risk)
        engine.add_check(run.risk)
    for check in checks:
        engine.add_check(check)
    if halt_file is not None:
        run.kill_switch = KillSwitch(halt_file)
        engine.add_kill_switch(run.kill_switch)
        run._closers.insert(0, run.kill_switch.stop)
    if event_log:
        run._closers.insert(0, EventLog().attach(engine).close)
    for strategy in strategies:
        engine.add_strategy(strategy)
    return run


def run_session(
    run: Run,
    *,
    duration: timedelta | None = None,
    until: Callable[[], bool] | None = None,
    view: TextIO | None = sys.stdout,
    started: Callable[[Engine], None] | None = None,
) -> RunResult:
    """Run on the wall clock (live, paper, demo): start, watch the halt flag, record, stop, close.

    The first Ctrl-C stops the run after the current event; a strategy that fails is handled by
    its error policy. Both are in the result's ``outcome``.

    Args:
        run: The assembled run.
        duration: Stop after this long (default: until Ctrl-C or a strategy asks).
        until: Stop once this returns true (checked on the dispatcher thread).
        view: Where the live view prints; None for none.
        started: Called once the engine and its strategies have started, before dispatching.

    Returns:
        What the session produced (orders, fills, equity, how it ended), for the summary and the exports.
    """
    engine = run.engine
    console = ConsoleView(engine, view) if view is not None else None
    with interrupt_stops(engine.interrupt):
        engine.start()
        if run.kill_switch is not None:
            run.kill_switch.start()  # a halt takes effect within a poll, whatever the dispatcher does
        recorder = LiveRecorder(engine)
        try:
            if started is not None:
                started(engine)
            engine.run(until=until, duration=duration)
        finally:
            engine.stop()
            recorder.sample()
            recorder.close()
            if console is not None:
                console.close()
            run.close()
    return recorder.result()
