"""The one replay loop: historical bars through a feed, one bar time at a time, on a simulated clock.

Both ways of replaying history use it: the backtest runner (``tradebus.backtest``), which iterates
:meth:`BarReplay.times` as fast as it can on one thread, and
:class:`~brokers.paper.backtest_broker.BacktestBroker`, which calls :meth:`BarReplay.step` on a paced
thread of its own. Each step sets the clock to the next bar time (a bar is delivered at its *end*)
and delivers every bar ending then, in symbol order, through the feed's sink (the paper venue first,
which fills working orders on the bar, then the engine's queue); the caller then lets the engine
act on them before the next step.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from brokers.paper.feed import HistoricalFeed
from framework.clock import SimulatedClock


class BarReplay:
    """Steps through a feed's bars by bar time.

    Args:
        feed: The bars (connected before the first step).
        clock: Moved to each bar time before its bars are delivered.

    Attributes:
        bars_replayed: How many bars have been delivered.
    """

    def __init__(self, feed: HistoricalFeed, clock: SimulatedClock) -> None:
        self._feed = feed
        self._clock = clock
        self._steps: Iterator[datetime] | None = None
        self.bars_replayed = 0

    def times(self) -> Iterator[datetime]:
        """Deliver the bars one bar time at a time, yielding each time once its bars are delivered.

        The backtest's hot loop: one generator step per bar time, every name it uses a local.

        Raises:
            RuntimeError: If the feed is not connected.
        """
        sink = self._feed.sink
        set_clock = self._clock.replay_to  # this loop is the clock's only writer
        current = None
        count = 0
        for event in self._feed.events():
            ts = event[0]
            if ts != current:
                if current is not None:
                    self.bars_replayed = count
                    yield current  # the caller acts on this bar time's bars
                set_clock(ts)
                current = ts
            sink(event)
            count += 1
        self.bars_replayed = count
        if current is not None:
            yield current

    def step(self) -> datetime | None:
        """Deliver every bar ending at the next bar time; return that time, or None when done.

        Raises:
            RuntimeError: If the feed is not connected.
        """
        if self._steps is None:
            self._steps = self.times()
        return next(self._steps, None)
