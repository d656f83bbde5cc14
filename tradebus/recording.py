"""Record a live or paper run the way a backtest is recorded: fills, and equity on the clock.

A :class:`LiveRecorder` listens on the engine's bus for fills (prices are the engine's last prices)
and samples equity every ``every`` of engine-clock time with an engine timer, so the result of a live
or paper session is a :class:`~tradebus.results.RunResult` with the same exports and report as a
backtest.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from brokers.paper.broker import PaperBroker
from framework.bus import Subscription
from framework.engine import Engine
from framework.events import BarClosed
from framework.events import TimerFired
from tradebus.price_history import PriceHistory
from tradebus.report import ReportUnavailableError
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
        self.bar_count = 0
        self._prices: dict[str, tuple[array[float], array[float]]] = {}
        self._subs: list[Subscription] = [
            engine.bus.subscribe(TimerFired, self._on_timer, sender=OWNER),
            engine.bus.subscribe(BarClosed, self._on_bar),
        ]
        engine.timers.schedule(OWNER, "sample", engine.clock.now() + every, every)

    def _on_timer(self, event: TimerFired) -> None:
        self.sample()

    def _on_bar(self, event: BarClosed) -> None:
        self.bar_count += 1

    def sample(self) -> None:
        """Record equity now (positions at the last prices seen)."""
        held = self.engine.portfolio.positions(self.engine.clock.now())
        prices = self._recorder.last_prices
        now = self.engine.clock.now().timestamp()
        for symbol, last in prices.items():  # the price charts: every symbol's last price at each sample
            times, values = self._prices.setdefault(symbol, (array("d"), array("d")))
            if not times or times[-1] < now:
                times.append(now)
                values.append(last)
        if all(p.symbol in prices for p in held):
            self._recorder.sample(now)

    def result(self) -> RunResult:
        """The run so far, as a result with statistics."""
        portfolio, broker = self.engine.portfolio, self.engine.broker
        return RunResult(
            orders=self.engine.orders.this_run(),  # not the orders recovered from earlier runs
            fills=self._recorder.fills,
            curve=self._recorder.curve,
            starting_cash=self.starting_cash,
            final_cash=portfolio.cash,
            final_equity=portfolio.equity,
            multipliers=self._recorder.multipliers,
            bar_count=self.bar_count,
            outcome=self.engine.outcome,
            positions=portfolio.positions(self.engine.clock.now()),
            paper_config=broker.config if isinstance(broker, PaperBroker) else None,  # live: the broker's own costs
            prices={symbol: PriceHistory(times, values) for symbol, (times, values) in sorted(self._prices.items())},
        )

    def close(self) -> None:
        """Stop recording."""
        for sub in self._subs:
            sub.cancel()
        self._recorder.close()
        self.engine.timers.cancel_owner(OWNER)


def write_outputs(
    result: RunResult,
    directory: Path,
    title: str | None = None,
    *,
    mode: str = "backtest",
    strategies: Sequence[str] = (),
    report: bool | None = None,
) -> list[Path]:
    """Export the run (CSV/JSON) and write its HTML report.

    Args:
        result: The run.
        directory: Output folder.
        title: Report title (default: the strategies and the mode).
        mode: ``backtest``, ``paper`` or ``live`` (for the report's title).
        strategies: Ids of the strategies that ran.
        report: True: the report was asked for, so a missing ``report`` extra is an error; None:
            write it when plotly is installed, else say ``report skipped: ...`` on stderr; False: no report.

    Returns:
        The paths written.

    Raises:
        ReportUnavailableError: If ``report`` is True and plotly is not installed (the exports are written).
    """
    if report is False:
        return list(result.export(directory))
    written = list(result.export(directory))
    try:
        written.append(write_report(result, directory, title, mode=mode, strategies=strategies))
    except ReportUnavailableError as e:
        if report:
            raise
        print(f"report skipped: {e}", file=sys.stderr)  # noqa: T201
    return written
