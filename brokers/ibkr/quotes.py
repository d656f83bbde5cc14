"""Market-data state: incremental ``smd`` updates merged into quotes, and bars built from trades.

The gateway sends only the fields that changed, so the last full quote of every instrument is kept
and each update (a :class:`~brokers.ibkr.parsing.QuoteTick` from the topic table) is merged onto it.
Bars come from trades through one :class:`~framework.bars.BarAggregator` per (instrument, duration);
a quiet market still closes bars when :meth:`QuoteBook.flush` is called with the current time.

Trades are detected from the day's cumulative volume (field 7762): a repeated print at an unchanged
price sends no new last price, but the volume grows, and its increase is the traded size. Until an
instrument has reported a volume (or when 7762 is not subscribed) a change of the last price or the
last size counts as one trade of the last size.

Thread-safe: updates arrive on the stream thread, subscriptions change on the dispatcher thread.
"""

from __future__ import annotations

import threading
from datetime import datetime
from datetime import timedelta

from brokers.ibkr.parsing import QuoteTick
from brokers.ibkr.parsing import merge_quote
from framework.bars import BarAggregator
from framework.events import AnyEvent
from framework.events import BarClosed
from framework.events import QuoteUpdated
from framework.marketdata import Quote


class QuoteBook:
    """Latest quote per instrument and the bar aggregators fed by it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._symbols: dict[str, str] = {}  # broker instrument id -> symbol
        self._quotes: dict[str, Quote] = {}
        self._quote_wanted: set[str] = set()
        self._aggregators: dict[str, dict[timedelta, BarAggregator]] = {}
        self._volumes: dict[str, float] = {}  # broker instrument id -> last cumulative day volume

    def watch_quotes(self, instrument_id: str, symbol: str) -> None:
        """Emit quotes for the instrument."""
        with self._lock:
            self._symbols[instrument_id] = symbol
            self._quote_wanted.add(instrument_id)

    def unwatch_quotes(self, instrument_id: str) -> None:
        """Stop emitting quotes for the instrument."""
        with self._lock:
            self._quote_wanted.discard(instrument_id)
            self._forget_volume(instrument_id)

    def watch_bars(self, instrument_id: str, symbol: str, duration: timedelta) -> None:
        """Build bars of ``duration`` for the instrument."""
        with self._lock:
            self._symbols[instrument_id] = symbol
            per = self._aggregators.setdefault(instrument_id, {})
            per.setdefault(duration, BarAggregator(symbol, duration))

    def unwatch_bars(self, instrument_id: str, duration: timedelta) -> None:
        """Stop building bars of ``duration`` for the instrument."""
        with self._lock:
            per = self._aggregators.get(instrument_id, {})
            per.pop(duration, None)
            if not per:
                self._aggregators.pop(instrument_id, None)
            self._forget_volume(instrument_id)

    def _forget_volume(self, instrument_id: str) -> None:
        # A later subscription starts a new baseline: the volume traded meanwhile is no bar's trade.
        if instrument_id not in self._quote_wanted and instrument_id not in self._aggregators:
            self._volumes.pop(instrument_id, None)

    def forget_volumes(self) -> None:
        """Start every volume baseline afresh: what traded during a gap in the stream is no bar's trade."""
        with self._lock:
            self._volumes.clear()

    def streamed_symbols(self) -> list[str]:
        """The symbols streamed now (quotes or bars wanted), sorted."""
        with self._lock:
            ids = self._quote_wanted | {i for i, per in self._aggregators.items() if per}
            return sorted({self._symbols[i] for i in ids if i in self._symbols})

    def needs_stream(self, instrument_id: str) -> bool:
        """Whether quotes or bars still need the instrument's market-data stream."""
        with self._lock:
            return instrument_id in self._quote_wanted or instrument_id in self._aggregators

    def last(self, instrument_id: str) -> Quote | None:
        """The latest merged quote, if any."""
        with self._lock:
            return self._quotes.get(instrument_id)

    def on_market_data(self, tick: QuoteTick, ts: datetime) -> list[AnyEvent]:
        """Merge one market-data update received at ``ts``; return the quote and any bars it closed."""
        has_quote = tick.has_quote
        if not has_quote and tick.day_volume is None:
            return []  # metadata-only or empty update
        instrument_id = tick.instrument_id
        with self._lock:
            symbol = self._symbols.get(instrument_id)
            if symbol is None:
                return []
            events: list[AnyEvent] = []
            quote = self._quotes.get(instrument_id)
            if has_quote:
                quote = merge_quote(quote, symbol, ts, tick)
                self._quotes[instrument_id] = quote
                if instrument_id in self._quote_wanted:
                    events.append(QuoteUpdated(ts, quote))
            trade = self._trade(tick, quote)
            if trade is not None:
                events.extend(self._add_trade(instrument_id, ts, *trade))
            return events

    def _add_trade(self, instrument_id: str, ts: datetime, price: float, size: float) -> list[BarClosed]:
        bars = (a.add_trade(ts, price, size) for a in self._aggregators.get(instrument_id, {}).values())
        return [BarClosed(bar.end, bar) for bar in bars if bar is not None]

    def _trade(self, tick: QuoteTick, quote: Quote | None) -> tuple[float, float] | None:
        # (price, size) traded since the previous update, or None (the caller holds the lock)
        volume = tick.day_volume
        previous = self._volumes.get(tick.instrument_id)
        if volume is not None:
            self._volumes[tick.instrument_id] = volume
        if quote is None or quote.last is None:
            return None
        if previous is None:  # no baseline yet: the last-trade fields are all there is
            if tick.last is not None or tick.last_size is not None:
                return quote.last, tick.last_size if tick.last_size is not None else 0.0
            return None
        if volume is not None and volume > previous:
            return quote.last, volume - previous
        # A new last price whose volume comes in a later message (or after a volume reset at a new
        # day): the price belongs in the bar, and its size is counted once the volume moves.
        return (quote.last, 0.0) if tick.last is not None else None

    def flush(self, now: datetime) -> list[AnyEvent]:
        """Close bars whose interval ended by ``now``."""
        with self._lock:
            bars = [a.flush(now) for per in self._aggregators.values() for a in per.values()]
        return [BarClosed(b.end, b) for b in bars if b is not None]
