"""``BacktestBroker``: the paper venue over bars it replays itself, as an ordinary broker.

``tradebus backtest`` (:class:`~tradebus.backtest.BacktestRunner`) replays bars itself, one at a
time on one thread. This plug-in packages the same parts, a :class:`~brokers.paper.feed.HistoricalFeed`
under the :class:`~brokers.paper.broker.PaperBroker` venue on a simulated clock, as an ordinary
broker, so anything that runs a strategy on a broker by name (``tradebus live STRATEGY --broker
backtest``, ``examples/swap_broker.py``) can run it on history instead of a live market.

Settings (``[brokers.backtest]``, see :class:`BacktestBrokerConfig`)::

    [brokers.backtest]
    data = "bars.csv"        # default: the shipped sample (tradebus.sample_data)
    bar_seconds = 60         # length of the bars in the file (default: inferred from the data)
    bar_interval = 0.01      # wall seconds each bar time is held before the next one is replayed

    [brokers.backtest.venue] # PaperConfig: cash, fill model, costs, latency
    starting_cash = 100000

Time: the venue and its bars follow a :class:`~framework.clock.SimulatedClock` set from the data (a
bar is delivered at its end time, bars of one end time together). When the plug-in is handed a
``SimulatedClock`` it drives that one, so an engine sharing it lives in historical time too;
handed a wall clock (the CLI's), it keeps its own and the engine stamps its own events in wall time.

Replay: after :meth:`BacktestBroker.connect` a daemon thread replays one bar time every
``bar_interval`` seconds of wall time. The pause lets the engine act on a bar before the next one
reaches the venue; a strategy slower than that meets the next bar late, as on a live feed. Runs that
must reproduce ``tradebus backtest`` fill for fill set ``autoplay = false`` and drive the replay
with :meth:`BacktestBroker.step` and ``Engine.run_pending()`` on one thread. At the end of the data
the broker reports ``BrokerDisconnected`` and refuses further orders.

It is its own paper venue, not a data source for ``tradebus paper --data-from backtest``: the
``paper`` broker there works on the wall clock, and bars from the past never fill its orders.

Events:
    Everything :class:`~brokers.paper.broker.PaperBroker` emits, the replayed ``BarClosed`` events,
    and ``BrokerDisconnected`` (reason ``end of data``) after the last bar.

Threading: the paper venue's lock serialises the replay thread with the engine's commands.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC
from datetime import datetime
from pathlib import Path

from pydantic import Field

from brokers.paper.broker import PaperBroker
from brokers.paper.config import PaperConfig
from brokers.paper.feed import HistoricalFeed
from brokers.paper.replay import BarReplay
from framework.broker import ConnectionState
from framework.broker import EventSink
from framework.clock import SimulatedClock
from framework.config import FrozenConfig
from framework.events import BrokerDisconnected
from framework.history import BarData

log = logging.getLogger(__name__)


class BacktestBrokerConfig(FrozenConfig):
    """Settings of the ``backtest`` broker.

    Attributes:
        data: Bar file to replay (``.csv`` or ``.parquet``); None replays the shipped sample.
        bar_seconds: Length of the bars in the file, in seconds; None infers it from the data (the most
            common gap between bar starts, see :func:`tradebus.data.infer_bar_duration`).
        bar_interval: Wall-clock seconds between two replayed bar times (0: as fast as possible).
        autoplay: Replay on a background thread from :meth:`BacktestBroker.connect`; false leaves the
            replay to :meth:`BacktestBroker.step`.
        venue: Settings of the simulated venue (cash, fill model, costs, latency).
    """

    data: Path | None = None
    bar_seconds: int | None = Field(default=None, gt=0)
    bar_interval: float = Field(default=0.01, ge=0)
    autoplay: bool = True
    venue: PaperConfig = Field(default_factory=PaperConfig)


class BacktestBroker(PaperBroker):
    """The paper venue over historical bars that it replays itself.

    Args:
        data: The bars to replay.
        config: Replay and venue settings.
        clock: The simulated clock to drive; one starting at the first bar is made if not given.

    Raises:
        ValueError: If ``data`` holds no bars or ``clock`` is already past the first bar.
    """

    name = "backtest"

    def __init__(
        self, data: BarData, config: BacktestBrokerConfig | None = None, *, clock: SimulatedClock | None = None
    ) -> None:
        if not data.bar_count:
            msg = "no bars to replay"
            raise ValueError(msg)
        first = datetime.fromtimestamp(min(s.starts[0] for s in data.values() if len(s)), UTC)
        if clock is None:
            clock = SimulatedClock(first)
        elif clock.now() > first:
            msg = f"clock is at {clock.now().isoformat()}, after the first bar ({first.isoformat()})"
            raise ValueError(msg)
        self.replay_config = config or BacktestBrokerConfig()
        self.replay_clock = clock
        self.feed = HistoricalFeed(data, clock)
        super().__init__(self.feed, clock, self.replay_config.venue)
        self._replay = BarReplay(self.feed, clock)
        self._finished = False
        self._engine_sink: EventSink | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def finished(self) -> bool:
        """Whether every bar has been replayed."""
        return self._finished

    def connect(self, sink: EventSink) -> None:
        """Connect the venue and, with ``autoplay``, start replaying on a background thread."""
        with self._lock:
            self._engine_sink = sink
            super().connect(sink)
        if self.replay_config.autoplay and self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._replay_loop, name="tradebus-backtest-replay", daemon=True)
            self._thread.start()

    def disconnect(self) -> None:
        """Stop the replay thread and disconnect; idempotent."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)
        with self._lock:
            super().disconnect()

    def step(self) -> bool:
        """Replay the next bar time (every bar ending then); return False once the data is exhausted.

        Raises:
            RuntimeError: If the broker is not connected and data remains.
        """
        with self._lock:
            if self._finished:
                return False
            if self.connection_state is not ConnectionState.CONNECTED:
                msg = "BacktestBroker is not connected"
                raise RuntimeError(msg)
            if self._replay.step() is None:
                self._end_of_data()
                return False
            return True

    @property
    def bars_replayed(self) -> int:
        """How many bars have been delivered."""
        return self._replay.bars_replayed

    def _end_of_data(self) -> None:
        self._finished = True
        reason = f"end of data: {self.bars_replayed} bars replayed"
        log.info("backtest broker: %s", reason)
        super().disconnect()  # the market is over: the engine denies new orders from here on
        if self._engine_sink is not None:
            self._engine_sink(BrokerDisconnected(ts=self.replay_clock.now(), broker=self.name, reason=reason))

    def _replay_loop(self) -> None:
        interval = self.replay_config.bar_interval
        while not self._stop.is_set() and self.step():
            # pacing, not waiting for a result: the pause is what gives the engine time to act on a bar
            self._stop.wait(interval)
