"""A live top-of-book market per instrument: a seeded random walk or a replay of a bars CSV.

The walk has a drift regime that flips at random, so prices trend for a while and moving averages
cross (a short/long SMA strategy trades within seconds). Prices are :class:`~decimal.Decimal` on a
one-cent grid; the walk itself runs on a float mid price, which never leaves this module.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_FLOOR
from decimal import Decimal
from itertools import groupby

from simulators.ibkr.instruments import BarRow
from simulators.ibkr.instruments import Instrument

TICK = Decimal("0.01")


@dataclass
class Quote:
    """Mutable top-of-book state of one instrument.

    Attributes:
        conid: Contract id.
        bid: Best bid.
        ask: Best ask.
        last: Last trade price (the prior close until the first trade).
        bid_size: Shares at the bid.
        ask_size: Shares at the ask.
        last_size: Shares in the last trade.
        volume: Shares traded today.
        open: Today's opening price.
        high: Today's high.
        low: Today's low.
        prior_close: Yesterday's close.
        traded: Whether a trade happened today (otherwise field 31 shows ``C`` + prior close).
        halted: Whether trading is halted (field 31 shows an ``H`` prefix).
        version: Incremented on every change, used to cache rendered fields.
    """

    conid: int
    bid: Decimal
    ask: Decimal
    last: Decimal
    bid_size: int
    ask_size: int
    last_size: int
    volume: int
    open: Decimal
    high: Decimal
    low: Decimal
    prior_close: Decimal
    traded: bool = False
    halted: bool = False
    version: int = 0

    def apply_trade(self, price: Decimal, size: int) -> None:
        """Record a trade at ``price`` for ``size`` shares."""
        if not self.traded:
            self.open = self.high = self.low = price
        self.traded = True
        self.last = price
        self.last_size = size
        self.volume += size
        self.high = max(self.high, price)
        self.low = min(self.low, price)

    @property
    def mid(self) -> Decimal:
        """Midpoint of bid and ask."""
        return (self.bid + self.ask) / 2


def to_tick(value: float | Decimal) -> Decimal:
    """Round a price down onto the one-cent grid (never below one tick)."""
    return max(TICK, Decimal(str(value)).quantize(TICK, rounding=ROUND_FLOOR))


class MarketModel:
    """Quotes for every instrument and the rule that moves them.

    Args:
        instruments: The universe to quote.
        rng: The seeded random source (never the global one).
        volatility: Per-step standard deviation of the log return.
        regime_switch_probability: Per-step chance the drift flips sign.
        bars: Optional bars to replay, in time order; without them the market is a random walk.
        regime_steps: Flip the drift every this many steps (a zig-zag); None flips it at random.
        trend: Drift per step as a fraction of ``volatility``.

    The walk draws only from ``rng``, one step at a time, so for a seed the quotes after ``n`` steps
    are always the same, whenever the steps run.
    """

    def __init__(
        self,
        instruments: list[Instrument],
        rng: random.Random,
        volatility: float,
        regime_switch_probability: float,
        bars: list[BarRow] | None = None,
        *,
        regime_steps: int | None = None,
        trend: float = 0.25,
    ) -> None:
        self._rng = rng
        self._regime_steps = regime_steps
        self._steps = 0
        self.volatility = volatility
        self.regime_switch_probability = regime_switch_probability
        self._quotes: dict[int, Quote] = {}
        self._mids: dict[int, float] = {}
        self._drift: dict[int, float] = {}
        self._symbols = {i.symbol: i.conid for i in instruments}
        for inst in instruments:
            self._quotes[inst.conid] = self._initial_quote(inst)
            self._mids[inst.conid] = float(inst.start_price)
            self._drift[inst.conid] = volatility * trend * rng.choice((-1.0, 1.0))
        self._frames = [list(g) for _, g in groupby(bars or [], key=lambda b: b.timestamp)]
        self._frame_index = 0
        # Bars replayed so far, per conid (history requests for replayed symbols are served from these).
        self.history: dict[int, list[BarRow]] = defaultdict(list)

    def _initial_quote(self, inst: Instrument) -> Quote:
        price = inst.start_price.quantize(TICK)
        return Quote(
            conid=inst.conid, bid=price - TICK, ask=price + TICK, last=price, bid_size=500, ask_size=400,
            last_size=100, volume=0, open=price, high=price, low=price, prior_close=price,
        )

    @property
    def replaying(self) -> bool:
        """Whether bars remain to be replayed."""
        return self._frame_index < len(self._frames)

    def quote(self, conid: int) -> Quote | None:
        """Return the live quote of a conid, if it is in the universe."""
        return self._quotes.get(conid)

    def conids(self) -> list[int]:
        """Return every quoted conid."""
        return list(self._quotes)

    def step(self) -> list[int]:
        """Advance the market one step and return the conids whose quote changed."""
        if self.replaying:
            return self._replay_step()
        self._steps += 1
        if self._regime_steps is not None and self._steps % self._regime_steps == 0:
            self._drift = {conid: -drift for conid, drift in self._drift.items()}
        return [conid for conid in self._quotes if self._walk(conid)]

    def _walk(self, conid: int) -> bool:
        quote = self._quotes[conid]
        if quote.halted:
            return False
        rng = self._rng
        if rng.random() < self.regime_switch_probability and self._regime_steps is None:
            self._drift[conid] = -self._drift[conid]
        mid = self._mids[conid] * math.exp(self._drift[conid] + rng.gauss(0.0, self.volatility))
        self._mids[conid] = mid
        spread = TICK * rng.choice((1, 1, 2, 3))
        bid = to_tick(mid - float(spread) / 2)
        quote.bid, quote.ask = bid, bid + spread
        quote.bid_size = 100 * rng.randint(1, 30)
        quote.ask_size = 100 * rng.randint(1, 30)
        if rng.random() < 0.7:
            price = quote.ask if rng.random() < 0.5 else quote.bid
            quote.apply_trade(price, rng.choice((100, 100, 200, 300, 500, 1000, 37)))
        quote.version += 1
        return True

    def _replay_step(self) -> list[int]:
        changed = []
        for bar in self._frames[self._frame_index]:
            conid = self._symbols.get(bar.symbol)
            if conid is None:
                continue
            self.history[conid].append(bar)
            quote = self._quotes[conid]
            close = bar.close.quantize(TICK)
            quote.bid, quote.ask = max(TICK, close - TICK), close + TICK
            quote.apply_trade(close, max(1, int(bar.volume)))
            quote.high, quote.low = max(quote.high, bar.high), min(quote.low, bar.low)
            self._mids[conid] = float(close)
            quote.version += 1
            changed.append(conid)
        self._frame_index += 1
        return changed

    def quotes(self) -> list[Quote]:
        """Return every quote, in universe order."""
        return list(self._quotes.values())

    def restore(self, conid: int, values: dict[str, Decimal | int | bool]) -> None:
        """Put back a saved quote (a restarted gateway continues from its last prices); unknown conids are ignored."""
        quote = self._quotes.get(conid)
        if quote is None:
            return
        for name, value in values.items():
            setattr(quote, name, value)
        self._mids[conid] = float(quote.mid)
        quote.version += 1

    def set_quote(self, conid: int, **values: Decimal | int | bool) -> Quote:
        """Overwrite quote attributes (``bid``, ``ask``, ``last``, sizes, ``halted``) for tests.

        Setting ``last`` records a trade. Raises:
            KeyError: If the conid is not quoted.
            AttributeError: If a name is not a quote attribute.
        """
        quote = self._quotes[conid]
        for name, value in values.items():
            if not hasattr(quote, name):
                raise AttributeError(f"quote has no attribute {name!r}")
            if name == "last":
                quote.apply_trade(Decimal(str(value)), quote.last_size)
            elif name in ("bid", "ask", "open", "high", "low", "prior_close"):
                setattr(quote, name, Decimal(str(value)))
            else:
                setattr(quote, name, value)
        self._mids[conid] = float(quote.mid)
        quote.version += 1
        return quote
