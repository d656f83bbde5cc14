"""The engine's market-data side: instruments, reference-counted subscriptions, last prices.

Strategies ask for quotes and bars by symbol; :class:`Subscriptions` resolves each symbol through
the broker once, subscribes at the broker when the first strategy asks (and releases everything at
stop), and, on the dispatcher thread, handles every quote and bar: it marks the portfolio, records
the last price (the reference price of pre-trade checks), touches the freshness tracker and then
publishes the event to the strategies that subscribed to that symbol.

Instrument lookups and subscriptions may reach the broker's network: make them in ``on_start``,
which runs before the dispatcher starts. Once the engine dispatches (:meth:`Subscriptions.freeze`),
the dispatcher never waits on the network: a symbol first named in a handler gets a plain
instrument (no broker id, default tick size), logged once, which the adapter resolves on its own
worker when it sends the order.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

from framework.broker import MarketData
from framework.bus import EventBus
from framework.clock import Clock
from framework.datafeed import DataTracker
from framework.events import BarClosed
from framework.events import QuoteUpdated
from framework.models import Instrument
from framework.models import to_decimal
from framework.portfolio import Portfolio

log = logging.getLogger(__name__)


class Subscriptions:
    """Instruments, market-data subscriptions and last prices of one engine.

    Args:
        broker: Where instruments are resolved and data is subscribed.
        bus: Where quotes and bars are published (sender: the symbol).
        portfolio: Marked to market on every quote and bar.
        data: Freshness of each subscribed symbol.
        clock: The engine clock.
    """

    def __init__(self, broker: MarketData, bus: EventBus, portfolio: Portfolio, data: DataTracker,
                 clock: Clock) -> None:
        self._broker = broker
        self._bus = bus
        self._portfolio = portfolio
        self._data = data
        self._clock = clock
        self._instruments: dict[str, Instrument] = {}
        self._quote_refs: dict[str, int] = {}
        self._bar_refs: dict[tuple[str, timedelta], int] = {}
        self.last_prices: dict[str, float] = {}
        self._frozen = False

    # ----------------------------------------------------------------- instruments and prices

    def instrument(self, symbol: str) -> Instrument:
        """The instrument for ``symbol``: resolved through the broker once and cached.

        After :meth:`freeze`, an unknown symbol is not looked up (that could wait on the network):
        a plain instrument is returned, cached and logged once.

        Raises:
            LookupError: If the broker knows no such instrument.
        """
        found = self._instruments.get(symbol)
        if found is None:
            if self._frozen:
                log.warning("instrument %s was not looked up before the run started (look it up in on_start); "
                            "using a plain one, which the broker resolves when it sends the order", symbol)
                found = Instrument(symbol=symbol)
            else:
                found = self._broker.resolve_instrument(symbol)
            self._instruments[symbol] = found
        return found

    def freeze(self) -> None:
        """From now on (the dispatcher runs), never look an instrument up at the broker."""
        self._frozen = True

    def reference_price(self, symbol: str) -> Decimal | None:
        """The last trade, bar close or quote mid seen for ``symbol``, if any."""
        price = self.last_prices.get(symbol)
        return None if price is None else to_decimal(price)

    # ----------------------------------------------------------------- subscriptions

    def subscribe_quotes(self, symbol: str) -> None:
        """Ask the broker for quotes of ``symbol`` (reference-counted across strategies)."""
        count = self._quote_refs.get(symbol, 0)
        if count == 0:
            self._broker.subscribe_quotes(self.instrument(symbol))
            self._data.watch(symbol, self._clock.now())
        self._quote_refs[symbol] = count + 1

    def subscribe_bars(self, symbol: str, duration: timedelta) -> None:
        """Ask the broker for bars of ``symbol`` (reference-counted across strategies)."""
        key = (symbol, duration)
        count = self._bar_refs.get(key, 0)
        if count == 0:
            self._broker.subscribe_bars(self.instrument(symbol), duration)
            self._data.watch(symbol, self._clock.now())
        self._bar_refs[key] = count + 1

    def release_all(self) -> None:
        """Unsubscribe everything at the broker (at stop)."""
        for symbol in list(self._quote_refs):
            self._broker.unsubscribe_quotes(self.instrument(symbol))
        for symbol, duration in list(self._bar_refs):
            self._broker.unsubscribe_bars(self.instrument(symbol), duration)
        self._quote_refs.clear()
        self._bar_refs.clear()

    # ----------------------------------------------------------------- market events (dispatcher)

    def on_quote(self, event: QuoteUpdated) -> None:
        """Mark, record and publish a quote."""
        quote = event.quote
        price = quote.last if quote.last is not None else quote.mid
        if price is not None:
            self._portfolio.mark(quote.symbol, price)
            self.last_prices[quote.symbol] = price
        self._data.touch(quote.symbol, event.ts)
        self._bus.publish(event, quote.symbol)

    def on_bar(self, event: BarClosed) -> None:
        """Mark, record and publish a bar."""
        bar = event.bar
        symbol = bar.symbol
        self._portfolio.mark(symbol, bar.close)
        self.last_prices[symbol] = bar.close
        if self._data.stale_after is not None:
            self._data.touch(symbol, event.ts)
        self._bus.publish(event, symbol)
