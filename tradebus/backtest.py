"""The backtest runner: historical bars through the live engine, bus, strategies and paper venue.

Nothing here is a shortcut around live trading. Each bar is replayed as a ``BarClosed`` event by a
:class:`~brokers.paper.feed.HistoricalFeed`, passes through the :class:`~brokers.paper.broker.PaperBroker`
(which fills working orders on it first), is queued on the :class:`~framework.engine.Engine` and
dispatched with :meth:`~framework.engine.Engine.run_pending`, which updates the order book and
portfolio and publishes to the strategies' ``on_*`` hooks on the bus.

Time: a :class:`ReplayClock` (a lock-free simulated clock) follows the data. A bar is delivered at its *end*
time; bars of several instruments are merged by end time, then by symbol, so runs are
deterministic: the same data, strategies and configs give the same orders, fills and exports, byte
for byte (client order ids use a fixed prefix).

Pre-trade checks are those of paper and live trading: ``risk`` limits (:mod:`framework.risk`) and any
other :class:`~framework.engine.PreTradeCheck` (such as a :class:`~framework.killswitch.KillSwitch`)
run on every new order, and a refusal is ``OrderDenied`` that never reaches the paper venue. An
optional :class:`~framework.journal.Journal` records every intent, order event and fill.

Example::

    data = load_bars(sample_data_path())
    result = run_backtest(SmaCross(), data)
    result.export("out/")
"""

from __future__ import annotations

import gc
from collections.abc import Iterable
from collections.abc import Mapping
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from decimal import Decimal
from typing import Any

from tqdm import tqdm

from brokers.paper.broker import PaperBroker
from brokers.paper.config import PaperConfig
from brokers.paper.feed import HistoricalFeed
from framework.config import EngineConfig
from framework.engine import Engine
from framework.engine import PreTradeCheck
from framework.history import BarData
from framework.journal import Journal
from framework.models import Instrument
from framework.models import OrderRequest
from framework.models import to_decimal
from framework.risk import RiskConfig
from framework.risk import RiskEngine
from framework.strategy import Strategy
from tradebus.results import RunRecorder
from tradebus.results import RunResult


class ReplayClock:
    """A simulated clock for the single-threaded replay loop: set from data timestamps, never locked.

    :class:`~framework.clock.SimulatedClock` takes a lock and normalises the zone on every call,
    which costs about 1 µs per bar; the replay loop is the only thread and only passes UTC
    datetimes, so this clock does neither.

    Args:
        start: The initial time (aware UTC).
    """

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            msg = f"start must be timezone-aware, received naive {start.isoformat()}"
            raise ValueError(msg)
        self._now = start.astimezone(UTC)
        self._origin = self._now

    def now(self) -> datetime:
        """Return the replayed current time."""
        return self._now

    def monotonic(self) -> float:
        """Return replayed seconds since the start."""
        return (self._now - self._origin).total_seconds()

    def set(self, when: datetime) -> None:
        """Jump to ``when`` (aware UTC); time never moves backwards.

        Raises:
            ValueError: If ``when`` is earlier than the current time.
        """
        if when < self._now:
            msg = f"clock cannot move backwards: {when.isoformat()} < {self._now.isoformat()}"
            raise ValueError(msg)
        self._now = when


class OrderTimeRisk(RiskEngine):
    """A :class:`~framework.risk.RiskEngine` that reads reference prices when an order is checked.

    Attached to a live engine, the risk engine converts every bar close it hears on the bus. In a
    backtest the replay loop already keeps each symbol's last close, so this variant takes the
    price of the order's symbol from there at check time: the limits cost time per order, not per
    bar. Do not :meth:`attach` it; the runner adds it to the engine's checks.

    Args:
        config: The limits.
        last_prices: Latest close per symbol, kept up to date by the replay loop.
    """

    def __init__(self, config: RiskConfig, last_prices: Mapping[str, float] | None = None) -> None:
        super().__init__(config)
        self.last_prices: Mapping[str, float] = last_prices if last_prices is not None else {}

    def reference_price(self, symbol: str) -> Decimal | None:
        """The latest close replayed for ``symbol``, if any."""
        price = self.last_prices.get(symbol)
        return None if price is None else to_decimal(price)

    def __call__(self, request: OrderRequest, engine: Engine) -> str | None:
        """Return why ``request`` breaks a limit, or None."""
        price = self.reference_price(request.symbol)
        if price is not None:
            self.set_reference_price(request.symbol, price)
        return super().__call__(request, engine)


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
        progress: Show a tqdm progress bar on stderr.
        risk: Pre-trade risk limits (the ``[risk]`` settings section), checked on every new order
            against the last replayed close; None for no limits.
        checks: Further pre-trade checks, run before the risk limits (a kill switch goes here).
        journal: Where order intents, order events and fills are recorded; it must hold no orders
            yet, because client order ids (``BT.1`` ...) repeat in every run. The caller closes it.

    Attributes:
        risk: The risk check built from ``risk`` (None without limits).

    Raises:
        ValueError: If there are no bars, or ``journal`` already holds orders.
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
        self.clock = ReplayClock(datetime.fromtimestamp(first, UTC))  # the first bar's start
        self.feed = HistoricalFeed(data, self.clock, instruments)
        self.broker = PaperBroker(self.feed, self.clock, self.config)
        self.risk = OrderTimeRisk(risk) if risk is not None else None
        all_checks = [*checks, *([self.risk] if self.risk is not None else [])]
        engine_config = EngineConfig(raise_errors=True, order_id_prefix="BT")
        self.engine = Engine(self.broker, clock=self.clock, config=engine_config, checks=all_checks, journal=journal)
        for strategy in self.strategies:
            self.engine.add_strategy(strategy)

    def run(self) -> RunResult:
        """Replay every bar, stop the engine, and return the result."""
        engine = self.engine
        engine.start()
        engine.run_pending()
        recorder = RunRecorder(engine, bar_period(self.data))
        if self.risk is not None:
            self.risk.last_prices = recorder.last_prices  # set per bar by the replay loop anyway
        try:
            self._replay(recorder)
        finally:
            engine.run_pending()
            engine.stop()
            recorder.close()
        portfolio = engine.portfolio
        return RunResult(
            orders=engine.orders.all(),
            fills=recorder.fills,
            curve=recorder.curve,
            starting_cash=self.config.starting_cash,
            final_cash=portfolio.cash,
            final_equity=portfolio.equity,
            multipliers=recorder.multipliers,
            bar_count=self.data.bar_count,
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
        # The hot loop: keep it flat; every name it uses per bar is a local.
        sink = self.feed.sink
        run_pending = self.engine.run_pending
        set_clock = self.clock.set
        sample = recorder.sample
        last_prices = recorder.last_prices
        current = None
        count = 0
        with tqdm(total=self.data.bar_count, unit="bar", disable=not self.progress, unit_scale=True) as bar_progress:
            for event in self.feed.events():
                ts = event.ts
                if ts != current:
                    if current is not None:
                        sample(current.timestamp())
                    set_clock(ts)
                    current = ts
                bar = event.bar
                last_prices[bar.symbol] = bar.close
                sink(event)
                run_pending()
                count += 1
                if not count % _PROGRESS_EVERY:
                    bar_progress.update(_PROGRESS_EVERY)
            bar_progress.update(count % _PROGRESS_EVERY)
        if current is not None:
            sample(current.timestamp())


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
) -> RunResult:
    """Run ``strategies`` over ``data`` with a paper venue and return the result (see :class:`BacktestRunner`)."""
    runner = BacktestRunner(
        strategies, data, config, instruments=instruments, progress=progress, risk=risk, checks=checks, journal=journal
    )
    return runner.run()


def bar_period(data: BarData) -> timedelta:
    """The shortest bar duration in ``data``."""
    return min(series.duration for series in data.values() if len(series))
