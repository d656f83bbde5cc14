"""Where the paper broker's market data comes from, and the calls it passes straight through."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from datetime import timedelta
from typing import Protocol
from typing import runtime_checkable

from framework.broker import EventSink
from framework.broker import MarketData
from framework.marketdata import Bar
from framework.models import Instrument
from framework.models import SecurityType
from framework.resample import BarSizes


@runtime_checkable
class DataSource(MarketData, Protocol):
    """A market-data source that pushes events once connected (a broker, a historical feed)."""

    def connect(self, sink: EventSink) -> None:
        """Start delivering events to ``sink``."""
        ...

    def disconnect(self) -> None:
        """Stop delivering events; idempotent."""
        ...


class MarketDataPassThrough:
    """The :class:`~framework.broker.MarketData` half of a broker, answered by the wrapped ``data``.

    Attributes:
        data: The wrapped market-data source.
    """

    data: MarketData

    def resolve_instrument(self, symbol: str, security_type: SecurityType = SecurityType.STOCK) -> Instrument:
        """Resolve through the data source."""
        return self.data.resolve_instrument(symbol, security_type)

    def search_instruments(self, text: str) -> Sequence[Instrument]:
        """Search through the data source."""
        return self.data.search_instruments(text)

    def subscribe_quotes(self, instrument: Instrument) -> None:
        """Subscribe through the data source."""
        self.data.subscribe_quotes(instrument)

    def unsubscribe_quotes(self, instrument: Instrument) -> None:
        """Unsubscribe through the data source."""
        self.data.unsubscribe_quotes(instrument)

    def subscribe_bars(self, instrument: Instrument, duration: timedelta) -> None:
        """Subscribe through the data source."""
        self.data.subscribe_bars(instrument, duration)

    def unsubscribe_bars(self, instrument: Instrument, duration: timedelta) -> None:
        """Unsubscribe through the data source."""
        self.data.unsubscribe_bars(instrument, duration)

    def bar_sizes(self, instrument: Instrument) -> tuple[timedelta, ...] | None:
        """The data source's bar sizes for ``instrument``; None when it builds any size (or does not say)."""
        return self.data.bar_sizes(instrument) if isinstance(self.data, BarSizes) else None

    def historical_bars(
        self, instrument: Instrument, duration: timedelta, start: datetime, end: datetime
    ) -> Sequence[Bar]:
        """Fetch history through the data source."""
        return self.data.historical_bars(instrument, duration, start, end)
