"""The engine's market-data side: instruments, reference-counted subscriptions, last prices.

Strategies ask for quotes and bars by symbol; :class:`Subscriptions` resolves each symbol through
the broker once, subscribes at the broker when the first strategy asks (and releases everything at
stop), and, on the dispatcher thread, handles every quote and bar: it marks the portfolio, records
the last price (the reference price of pre-trade checks), touches the freshness tracker and then
publishes the event to the strategies that subscribed to that symbol.

Bars coarser than the data delivers (a bar file of one size; see :class:`~framework.resample.BarSizes`)
are built here from the data's bars, aligned to the exchange's sessions (:mod:`framework.resample`),
and queued behind the bar that completes them; a size no data can give raises
:class:`~framework.errors.SubscriptionError` at subscription.

Instrument lookups and subscriptions may reach the broker's network: make them in ``on_start``,
which runs before the dispatcher starts. Once the engine dispatches (:meth:`Subscriptions.freeze`),
the dispatcher never waits on the network: a symbol first named in a handler gets a plain
instrument (no broker id, default tick size), logged once, which the adapter resolves on its own
worker when it sends the order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

from framework.broker import MarketData
from framework.bus import EventBus
from framework.clock import Clock
from framework.datafeed import DataTracker
from framework.errors import SubscriptionError
from framework.events import BarClosed
from framework.events import QuoteUpdated
from framework.models import Instrument
from framework.models import to_decimal
from framework.portfolio import Portfolio
from framework.resample import BarSizes
from framework.resample import Resampler
from framework.resample import base_size
from framework.resample import format_size
from framework.trading_hours import hours_for

log = logging.getLogger(__name__)


class Subscriptions:
    """Instruments, market-data subscriptions and last prices of one engine.

    Args:
        broker: Where instruments are resolved and data is subscribed.
        bus: Where quotes and bars are published (sender: the symbol).
        portfolio: Marked to market on every quote and bar.
        data: Freshness of each subscribed symbol.
        clock: The engine clock.
        enqueue: Where built (resampled) bars are queued for dispatch; default: published at once.
    """

    def __init__(self, broker: MarketData, bus: EventBus, portfolio: Portfolio, data: DataTracker,
                 clock: Clock, *, enqueue: Callable[[BarClosed], None] | None = None) -> None:
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
        self._enqueue = enqueue or self.on_bar
        self._resamplers: dict[tuple[str, timedelta], list[Resampler]] = {}  # by (symbol, data's bar size)

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

    def bar_size(self, symbol: str, duration: timedelta | None, owner: str = "a strategy") -> timedelta:
        """The bar size a subscription of ``owner`` gets: ``duration``, or the data's own when None.

        The data's own size is the finest it delivers for ``symbol`` (one minute where the source
        builds bars of any size).

        Raises:
            SubscriptionError: If no data can give ``symbol`` bars of ``duration`` (unknown symbol,
                bars finer than the data, not a whole multiple of its bars).
        """
        asked = "bars" if duration is None else f"{format_size(duration)} bars"
        try:
            instrument = self.instrument(symbol)
        except LookupError as e:
            reason = e.args[0] if e.args else type(e).__name__
            msg = f"strategy {owner} subscribed to {asked} of {symbol}: {reason}"
            raise SubscriptionError(msg, strategy_id=owner, symbol=symbol) from e
        sizes = self._broker.bar_sizes(instrument) if isinstance(self._broker, BarSizes) else None
        if not sizes:
            return timedelta(minutes=1) if duration is None else duration
        if duration is None:
            return min(sizes)
        base = base_size(duration, sizes)
        if isinstance(base, str):
            msg = f"strategy {owner} subscribed to {asked} of {symbol}, which the data cannot give: {base}"
            raise SubscriptionError(msg, strategy_id=owner, symbol=symbol)
        return duration

    def subscribe_bars(self, symbol: str, duration: timedelta, owner: str = "a strategy") -> None:
        """Ask the broker for bars of ``symbol`` (reference-counted across strategies).

        Bars coarser than the data's are built from the data's bars (see the module docstring).

        Raises:
            SubscriptionError: If no data can give them (see :meth:`bar_size`).
        """
        self.bar_size(symbol, duration, owner)
        key = (symbol, duration)
        count = self._bar_refs.get(key, 0)
        if count == 0:
            instrument = self.instrument(symbol)
            sizes = self._broker.bar_sizes(instrument) if isinstance(self._broker, BarSizes) else None
            base = base_size(duration, sizes) if sizes else duration
            assert isinstance(base, timedelta)  # checked by bar_size
            if base == duration:
                self._broker.subscribe_bars(instrument, duration)
                self._data.watch(symbol, self._clock.now())
            else:
                self.subscribe_bars(symbol, base, owner)
                resampler = Resampler(symbol, duration, hours_for(instrument.exchange))
                self._resamplers.setdefault((symbol, base), []).append(resampler)
        self._bar_refs[key] = count + 1

    def release_all(self) -> None:
        """Unsubscribe everything at the broker (at stop)."""
        for symbol in list(self._quote_refs):
            self._broker.unsubscribe_quotes(self.instrument(symbol))
        built = {(r.symbol, r.size) for resamplers in self._resamplers.values() for r in resamplers}
        for symbol, duration in list(self._bar_refs):
            if (symbol, duration) not in built:
                self._broker.unsubscribe_bars(self.instrument(symbol), duration)
        self._quote_refs.clear()
        self._bar_refs.clear()
        self._resamplers.clear()

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
        """Mark, record and publish a bar; then feed it to the bars built from it."""
        bar = event.bar
        symbol = bar.symbol
        resamplers = self._resamplers.get((symbol, bar.duration)) if self._resamplers else None
        if resamplers:
            for resampler in resamplers:  # coarse bars this one shows are over come first: they are older
                overdue = resampler.overdue(bar)
                if overdue is not None:
                    self.on_bar(overdue)
        self._portfolio.mark(symbol, bar.close)
        self.last_prices[symbol] = bar.close
        if self._data.stale_after is not None:
            self._data.touch(symbol, event.ts)
        self._bus.publish(event, symbol)
        if resamplers:
            for resampler in resamplers:
                built = resampler.add(bar)
                if built is not None:
                    self._enqueue(built)
