"""``HistoricalFeed``: loaded bars as a broker-shaped market-data source, replayed by the runner.

The feed answers the :class:`~framework.broker.MarketData` calls from its data (instruments are the
loaded symbols; history stops at the clock, so a strategy cannot look ahead) and, once connected,
delivers the events the backtest runner hands it through :meth:`HistoricalFeed.emit`, exactly as a
live broker's stream would. Every loaded bar is replayed, whatever was subscribed: subscriptions are
recorded (see :attr:`HistoricalFeed.bar_subscriptions`) but a backtest has no cost per stream.

Bar sizes: the feed delivers each symbol's bars in the size they were loaded with
(:meth:`HistoricalFeed.bar_sizes`); the engine builds coarser ones from them (:mod:`framework.resample`).
An intraday bar is delivered at its end. A bar of a day or more (a daily file: bar ``D`` starts at
midnight of ``D`` and covers the session) is delivered at the **regular close of the last trading
day it covers** on the instrument's exchange calendar (``D``'s close for a daily bar, early closes
included; at its end if it covers no trading day): that is when its close price exists, so an order
placed on it works from then and meets the next bar, and a ``DAY`` order placed then expires at
the next trading day's close, after that day's bar could fill it.

Events:
    Emits BarClosed, in time order (:meth:`HistoricalFeed.events`), through the connected sink.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
from datetime import datetime
from datetime import timedelta
from operator import itemgetter

from framework.broker import ConnectionState
from framework.broker import EventSink
from framework.clock import Clock
from framework.events import AnyEvent
from framework.events import BarClosed
from framework.history import BarData
from framework.history import BarSeries
from framework.marketdata import Bar
from framework.models import Instrument
from framework.models import SecurityType
from framework.trading_hours import TradingHours
from framework.trading_hours import hours_for

WHOLE_SESSIONS = timedelta(days=1)  # bars at least this long summarise whole sessions


class HistoricalFeed:
    """Replays validated bars of several instruments.

    Args:
        data: The bars, per symbol.
        clock: The backtest clock (bounds :meth:`historical_bars`).
        instruments: Instrument details (tick size, multiplier ...) per symbol; symbols without one
            are plain stocks with a 0.01 tick.
    """

    name = "history"

    def __init__(self, data: BarData, clock: Clock, instruments: Iterable[Instrument] = ()) -> None:
        self.data = data
        self.clock = clock
        self.instruments = {i.symbol: i for i in instruments}
        self.bar_subscriptions: set[tuple[str, timedelta]] = set()
        self.quote_subscriptions: set[str] = set()
        self._sink: EventSink | None = None

    @property
    def connection_state(self) -> ConnectionState:
        """Connected once a sink is attached."""
        return ConnectionState.CONNECTED if self._sink is not None else ConnectionState.DISCONNECTED

    def connect(self, sink: EventSink) -> None:
        """Deliver future events to ``sink``."""
        self._sink = sink

    def disconnect(self) -> None:
        """Stop delivering events; idempotent."""
        self._sink = None

    @property
    def sink(self) -> EventSink:
        """The connected sink (the runner calls it directly on its hot path).

        Raises:
            RuntimeError: If the feed is not connected.
        """
        if self._sink is None:
            msg = "HistoricalFeed is not connected"
            raise RuntimeError(msg)
        return self._sink

    def emit(self, event: AnyEvent) -> None:
        """Deliver one event to the connected sink."""
        self.sink(event)

    def events(self) -> Iterator[BarClosed]:
        """Every bar as ``BarClosed``, ordered by delivery time, then by symbol for equal times."""
        streams = [self._series_events(series) for series in self.data.values()]  # BarData iterates symbols sorted
        if len(streams) == 1:
            return streams[0]
        return heapq.merge(*streams, key=itemgetter(0))

    def _series_events(self, series: BarSeries) -> Iterator[BarClosed]:
        if series.duration < WHOLE_SESSIONS:
            return series.events()  # the hot path: delivered at their end
        hours = hours_for(self.instruments[series.symbol].exchange if series.symbol in self.instruments else None)
        return (BarClosed(delivery_time(hours, event.bar), event.bar) for event in series.events())

    def bar_sizes(self, instrument: Instrument) -> tuple[timedelta, ...] | None:
        """The size of ``instrument``'s loaded bars (none for a symbol without data)."""
        series = self.data.get(instrument.symbol)
        return () if series is None else (series.duration,)

    # ----------------------------------------------------------------- MarketData

    def resolve_instrument(self, symbol: str, security_type: SecurityType = SecurityType.STOCK) -> Instrument:
        """The configured or default instrument of a loaded symbol.

        Raises:
            LookupError: If no bars were loaded for ``symbol``.
        """
        if symbol not in self.data:
            msg = f"no historical data for {symbol}; the data has {', '.join(self.data) or 'no symbols'}"
            raise LookupError(msg)
        found = self.instruments.get(symbol)
        if found is None:
            found = self.instruments[symbol] = Instrument(symbol=symbol, security_type=security_type)
        return found

    def search_instruments(self, text: str) -> Sequence[Instrument]:
        """Loaded symbols starting with ``text`` (case-insensitive)."""
        return [self.resolve_instrument(s) for s in self.data if s.upper().startswith(text.upper())]

    def subscribe_quotes(self, instrument: Instrument) -> None:
        """Record the request (history holds bars only, so no quotes will come)."""
        self.quote_subscriptions.add(instrument.symbol)

    def unsubscribe_quotes(self, instrument: Instrument) -> None:
        """Forget the request."""
        self.quote_subscriptions.discard(instrument.symbol)

    def subscribe_bars(self, instrument: Instrument, duration: timedelta) -> None:
        """Record the subscription."""
        self.bar_subscriptions.add((instrument.symbol, duration))

    def unsubscribe_bars(self, instrument: Instrument, duration: timedelta) -> None:
        """Forget the subscription."""
        self.bar_subscriptions.discard((instrument.symbol, duration))

    def historical_bars(
        self, instrument: Instrument, duration: timedelta, start: datetime, end: datetime
    ) -> Sequence[Bar]:
        """Loaded bars of ``duration`` starting in ``[start, end)`` that have closed by the clock's time."""
        series = self.data.get(instrument.symbol)
        if series is None or series.duration != duration:
            return []
        now = self.clock.now()
        if duration < WHOLE_SESSIONS:
            return [b for b in series.between(start, end) if b.end <= now]
        hours = hours_for(instrument.exchange)
        return [b for b in series.between(start, end) if delivery_time(hours, b) <= now]


def delivery_time(hours: TradingHours, bar: Bar) -> datetime:
    """When a bar of a day or more is delivered: the last regular close in ``(start, end]``, else its end."""
    end = bar.end
    day = end.astimezone(hours.zone).date()
    first = bar.start.astimezone(hours.zone).date()
    while day >= first:
        session = hours.day(day)
        if session is not None and bar.start < session.close <= end:
            return session.close
        day -= timedelta(days=1)
    return end
