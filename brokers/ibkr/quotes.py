"""Market-data state: incremental ``smd`` updates merged into quotes, and bars built from trades.

The gateway sends only the fields that changed, so the last full quote of every instrument is kept
and each update is merged onto it. Bars come from the last-trade field through one
:class:`~framework.bars.BarAggregator` per (instrument, duration); a quiet market still closes bars
when :meth:`QuoteBook.flush` is called with the current time.

Thread-safe: updates arrive on the stream thread, subscriptions change on the dispatcher thread.
"""

from __future__ import annotations

import threading
from datetime import datetime
from datetime import timedelta
from typing import Any

from brokers.ibkr.parsing import merge_quote
from brokers.ibkr.parsing import quote_changes
from brokers.ibkr.parsing import smd_conid
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

    def watch_quotes(self, instrument_id: str, symbol: str) -> None:
        """Emit quotes for the instrument."""
        with self._lock:
            self._symbols[instrument_id] = symbol
            self._quote_wanted.add(instrument_id)

    def unwatch_quotes(self, instrument_id: str) -> None:
        """Stop emitting quotes for the instrument."""
        with self._lock:
            self._quote_wanted.discard(instrument_id)

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

    def needs_stream(self, instrument_id: str) -> bool:
        """Whether quotes or bars still need the instrument's market-data stream."""
        with self._lock:
            return instrument_id in self._quote_wanted or instrument_id in self._aggregators

    def last(self, instrument_id: str) -> Quote | None:
        """The latest merged quote, if any."""
        with self._lock:
            return self._quotes.get(instrument_id)

    def on_market_data(self, message: dict[str, Any], ts: datetime) -> list[AnyEvent]:
        """Merge one ``smd`` message; return the quote and any bars it closed."""
        instrument_id = smd_conid(message)
        if instrument_id is None:
            return []
        changes = quote_changes(message)
        if not changes:
            return []  # metadata-only or empty update
        with self._lock:
            symbol = self._symbols.get(instrument_id)
            if symbol is None:
                return []
            quote = merge_quote(self._quotes.get(instrument_id), symbol, ts, changes)
            self._quotes[instrument_id] = quote
            events: list[AnyEvent] = []
            if instrument_id in self._quote_wanted:
                events.append(QuoteUpdated(ts, quote))
            if "last" in changes:
                size = changes.get("last_size", 0.0)
                for aggregator in self._aggregators.get(instrument_id, {}).values():
                    bar = aggregator.add_trade(ts, changes["last"], size)
                    if bar is not None:
                        events.append(BarClosed(bar.end, bar))
            return events

    def flush(self, now: datetime) -> list[AnyEvent]:
        """Close bars whose interval ended by ``now``."""
        with self._lock:
            bars = [a.flush(now) for per in self._aggregators.values() for a in per.values()]
        return [BarClosed(b.end, b) for b in bars if b is not None]
