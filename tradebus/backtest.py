"""The backtest runner: historical bars through the live engine, bus, strategies and paper venue.

Nothing here is a shortcut around live trading. The run is assembled like every other
(:mod:`tradebus.assembly`: journal, risk limits, kill switch). The one replay loop
(:class:`~brokers.paper.replay.BarReplay`) delivers each bar as a ``BarClosed`` event through the
:class:`~brokers.paper.feed.HistoricalFeed` to the :class:`~brokers.paper.broker.PaperBroker` (which
fills working orders on it first, executing commands inline) and on to the engine's queue; the
dispatcher then updates the order book and portfolio and publishes to the strategies' ``on_*`` hooks.

Time: the one :class:`~framework.clock.SimulatedClock` follows the data. A bar is delivered at its
*end* time; bars of several instruments are merged by end time, then by symbol, so runs are
deterministic: the same data, strategies and configs give the same orders, fills and exports, byte
for byte (client order ids use a fixed prefix).

Errors and Ctrl-C: a strategy whose hook raises is handled by its error policy (by default in a
backtest, ``stop-run``: the strategy is stopped and the replay ends after that bar time); any other
handler that raises ends the replay too; the first Ctrl-C ends it after the current bar time. The
result then covers the bars replayed, says so (``result.partial``, ``run`` in ``result.json``) and
is exported as usual.

Example::

    data = load_bars(sample_data_path())
    result = run_backtest(SmaCross(), data)
    result.export("out/")
"""

from __future__ import annotations

import gc
from collections.abc import Iterable
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm  # a widget in notebooks (Jupyter), a text bar in a terminal

from brokers.paper.broker import PaperBroker
from brokers.paper.config import PaperConfig
from brokers.paper.feed import HistoricalFeed
from brokers.paper.replay import BarReplay
from framework.checks import PreTradeCheck
from framework.clock import SimulatedClock
from framework.config import EngineConfig
from framework.config import ErrorPolicy
from framework.errors import SubscriptionError
from framework.events import HandlerFailed
from framework.history import BarData
from framework.journal import Journal
from framework.models import Instrument
from framework.risk import RiskConfig
from framework.strategy import Strategy
from tradebus.assembly import assemble
from tradebus.interrupts import interrupt_stops
from tradebus.price_history import PriceHistory
from tradebus.price_history import ShiftedTimes
from tradebus.results import RunRecorder
from tradebus.results import RunResult

BacktestResult = RunResult
"""The result of a backtest (see :class:`tradebus.results.RunResult`)."""

_PROGRESS_EVERY = 4096


class BacktestRunner:
    """Runs strategies over historical bars with a simulated venue.

    Args:
        strategies: The strategies; each gets a fresh engine registration (ids must differ).
        data: The bars to replay.
        config: Venue settings (cash, fill model, costs, latency).
        instruments: Instrument details per symbol (tick size, multiplier); default plain stocks.
        progress: Show a tqdm progress bar (on stderr; a widget in a notebook).
        risk: Pre-trade risk limits (the ``[risk]`` settings section), checked on every new order
            against the last replayed price; None for no limits.
        checks: Further pre-trade checks, run after the risk limits.
        journal: Where order intents, order events and fills are recorded; it must hold no orders
            yet, because client order ids (``BT.1`` ...) repeat in every run. The caller closes it.
        halt_file: A kill switch flag file: while it exists every order is denied (it is polled on
            the replayed clock).
        on_strategy_error: What to do when a strategy's hook raises (default: stop it and end the
            replay there; a strategy's own ``error_policy`` wins).

    Attributes:
        engine: The engine of the run.
        broker: The paper venue.

    Raises:
        ValueError: If there are no bars, or ``journal`` already holds orders.

    :meth:`run` raises :class:`~framework.errors.SubscriptionError` when a strategy subscribes to bars
    the data cannot give (a symbol not in it, bars finer than it, or not a whole multiple of its bars).
    """

    def __init__(
        self,
        strategies: Strategy[Any] | Iterable[Strategy[Any]],
        data: BarData,
        config: PaperConfig | None = None,
        *,
        instruments: Iterable[Instrument] = (),
        progress: bool = False,
        risk: RiskConfig | None = None,
        checks: Iterable[PreTradeCheck] = (),
        journal: Journal | None = None,
        halt_file: Path | None = None,
        on_strategy_error: ErrorPolicy = ErrorPolicy.STOP_RUN,
    ) -> None:
        if not data.bar_count:
            msg = "no bars to replay"
            raise ValueError(msg)
        if journal is not None and journal.orders():
            msg = "the journal already holds orders; backtest order ids repeat every run, so use a new journal"
            raise ValueError(msg)
        self.strategies = [strategies] if isinstance(strategies, Strategy) else list(strategies)
        self.data = data
        self.config = config or PaperConfig()
        self.progress = progress
        first = min(series.starts[0] for series in data.values() if len(series))
        self.clock = SimulatedClock(datetime.fromtimestamp(first, UTC))  # the first bar's start
        self.feed = HistoricalFeed(data, self.clock, instruments)
        self.broker = PaperBroker(self.feed, self.clock, self.config)
        engine_config = EngineConfig(order_id_prefix="BT", on_strategy_error=on_strategy_error)
        self.run_parts = assemble(self.broker, self.clock, self.strategies, config=engine_config, journal=journal,
                                  owns_journal=False, risk=risk, halt_file=halt_file, checks=checks,
                                  event_log=False)
        self.engine = self.run_parts.engine
        self.bars_replayed = 0
        # a handler no strategy owns failing (a check, a recorder) ends the replay: results past it are not trusted
        self.engine.bus.subscribe(HandlerFailed, self._on_handler_failed)

    def _on_handler_failed(self, event: HandlerFailed) -> None:
        self.engine.outcome.fail(f"handler {event.handler} failed on {type(event.event).__name__}: "
                                 f"{event.error_type}: {event.error}")

    def run(self) -> RunResult:
        """Replay every bar (or until an error or Ctrl-C ends the replay), stop the engine, return the result."""
        engine = self.engine
        with interrupt_stops(engine.interrupt):
            try:
                engine.start()
            except SubscriptionError:  # a strategy asked for bars the data cannot give: nothing ran
                self.run_parts.close()
                raise
            engine.run_pending()
            recorder = RunRecorder(engine, bar_period(self.data))
            try:
                if engine.outcome.stop_reason is None:  # on_start may have failed under stop-run
                    self._replay(recorder)
            finally:
                engine.run_pending()
                engine.stop()
                recorder.close()
                self.run_parts.close()
        portfolio = engine.portfolio
        return RunResult(
            orders=engine.orders.all(),
            fills=recorder.fills,
            curve=recorder.curve,
            starting_cash=self.config.starting_cash,
            final_cash=portfolio.cash,
            final_equity=portfolio.equity,
            multipliers=recorder.multipliers,
            bar_count=self.bars_replayed,
            bars_total=self.data.bar_count,
            outcome=engine.outcome,
            positions=portfolio.positions(self.clock.now()),
            paper_config=self.config,
            prices=closing_prices(self.data),
        )

    def _replay(self, recorder: RunRecorder) -> None:
        # A replay allocates two small tuples per bar and keeps every order snapshot, so CPython's
        # default collector (a young-generation pass every 700 allocations, full passes over the
        # growing order history) took ~35% of a 300k-bar run. Collect rarely during the replay
        # and restore the caller's settings afterwards; nothing here creates reference cycles.
        thresholds = gc.get_threshold()
        gc.set_threshold(100_000, 50, 1000)
        try:
            self._replay_bars(recorder)
        finally:
            gc.set_threshold(*thresholds)

    def _replay_bars(self, recorder: RunRecorder) -> None:
        replay = BarReplay(self.feed, self.clock)
        try:
            self._replay_times(replay, recorder)
        finally:
            self.bars_replayed = replay.bars_replayed

    def _replay_times(self, replay: BarReplay, recorder: RunRecorder) -> None:
        # The hot loop: keep it flat; every name it uses per bar time is a local. After each bar
        # time it reads one attribute: whether an error or Ctrl-C ended the run.
        run_pending = self.engine.dispatcher.run_pending
        sample = recorder.sample
        outcome = self.engine.outcome
        if not self.progress:
            for ts in replay.times():
                run_pending()
                sample(ts.timestamp())
                if outcome.stop_reason is not None:
                    return
            return
        shown = times = 0
        with tqdm(total=self.data.bar_count, unit="bar", unit_scale=True) as bar_progress:
            for ts in replay.times():
                run_pending()
                sample(ts.timestamp())
                if outcome.stop_reason is not None:
                    break
                times += 1
                if not times % _PROGRESS_EVERY:
                    bar_progress.update(replay.bars_replayed - shown)
                    shown = replay.bars_replayed
            bar_progress.update(replay.bars_replayed - shown)


def run_backtest(
    strategies: Strategy[Any] | Iterable[Strategy[Any]],
    data: BarData,
    config: PaperConfig | None = None,
    *,
    instruments: Iterable[Instrument] = (),
    progress: bool = False,
    risk: RiskConfig | None = None,
    checks: Iterable[PreTradeCheck] = (),
    journal: Journal | None = None,
    halt_file: Path | None = None,
    on_strategy_error: ErrorPolicy = ErrorPolicy.STOP_RUN,
) -> RunResult:
    """Run ``strategies`` over ``data`` with a paper venue and return the result (see :class:`BacktestRunner`)."""
    runner = BacktestRunner(
        strategies, data, config, instruments=instruments, progress=progress, risk=risk, checks=checks,
        journal=journal, halt_file=halt_file, on_strategy_error=on_strategy_error,
    )
    return runner.run()


def closing_prices(data: BarData) -> dict[str, PriceHistory]:
    """Every symbol's closes, each at its bar's end time (when it became known), for the report."""
    prices = {}
    for symbol, series in data.items():
        prices[symbol] = PriceHistory(ShiftedTimes(series.starts, series.duration.total_seconds()), series.closes)
    return prices


def bar_period(data: BarData) -> timedelta:
    """The shortest bar duration in ``data``."""
    return min(series.duration for series in data.values() if len(series))
