"""Record a live or paper run the way a backtest is recorded: fills, and equity on the clock.

A :class:`LiveRecorder` listens on the engine's bus for fills (prices are the engine's last prices)
and samples equity every ``every`` of engine-clock time with an engine timer, so the result of a live
or paper session is a :class:`~tradebus.results.RunResult` with the same exports and report as a
backtest.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from framework.bus import Subscription
from framework.engine import Engine
from framework.events import TimerFired
from tradebus.report import write_report
from tradebus.results import RunRecorder
from tradebus.results import RunResult

OWNER = "run-recorder"


class LiveRecorder:
    """Samples a running engine into a :class:`RunResult`.

    Create it after :meth:`Engine.start` (so the starting cash is the broker's).

    Args:
        engine: The running engine.
        every: Sampling interval of the equity curve.
    """

    def __init__(self, engine: Engine, every: timedelta = timedelta(seconds=1)) -> None:
        self.engine = engine
        self.starting_cash = engine.portfolio.cash
        self._recorder = RunRecorder(engine, every)
        self._subs: list[Subscription] = [engine.bus.subscribe(TimerFired, self._on_timer, sender=OWNER)]
        engine.timers.schedule(OWNER, "sample", engine.clock.now() + every, every)

    def _on_timer(self, event: TimerFired) -> None:
        self.sample()

    def sample(self) -> None:
        """Record equity now (positions at the last prices seen)."""
        held = self.engine.portfolio.positions(self.engine.clock.now())
        prices = self._recorder.last_prices
        if all(p.symbol in prices for p in held):
            self._recorder.sample(self.engine.clock.now().timestamp())

    def result(self) -> RunResult:
        """The run so far, as a result with statistics."""
        portfolio = self.engine.portfolio
        return RunResult(
            orders=self.engine.orders.this_run(),  # not the orders recovered from earlier runs
            fills=self._recorder.fills,
            curve=self._recorder.curve,
            starting_cash=self.starting_cash,
            final_cash=portfolio.cash,
            final_equity=portfolio.equity,
            multipliers=self._recorder.multipliers,
            outcome=self.engine.outcome,
            positions=portfolio.positions(self.engine.clock.now()),
        )

    def close(self) -> None:
        """Stop recording."""
        for sub in self._subs:
            sub.cancel()
        self._recorder.close()
        self.engine.timers.cancel_owner(OWNER)


def write_outputs(result: RunResult, directory: Path, title: str) -> list[Path]:
    """Export the run (CSV/JSON) and, when matplotlib is installed, the chart and HTML report."""
    written = list(result.export(directory))
    try:
        written.extend(write_report(result, directory, title=title))
    except ImportError:  # matplotlib (the optional ``report`` extra) is not installed
        return written
    return written
