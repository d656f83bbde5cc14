"""The soak's strategy: trades often on several instruments with every kind of order command.

Every ``action_interval`` it draws one action from a seeded random source: a market order, a
passive or marketable limit, a stop or stop-limit, a modification of a working limit or stop (price,
sometimes size), a cancel, or a *race* (a marketable limit cancelled at once, a cancel sent twice, a
stop cancelled right after it is placed: R14). Limits stay within 1 % of the market and quantities
keep an order under the gateway's value and size limits, so only the faults' prompts are asked.
It keeps at most ``max_working`` orders per instrument (cancelling the oldest) and steers each
position back inside ``max_position``.

From ``trade_until`` on it places nothing, cancels what is open and, once nothing is open, reports
:attr:`SoakTrader.done`. It never blocks and never names the broker: it is an ordinary strategy.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime
from datetime import timedelta
from decimal import ROUND_CEILING
from decimal import ROUND_FLOOR
from decimal import Decimal

from pydantic import Field

from framework.config import StrategyConfig
from framework.events import ExecutionRefused
from framework.events import OrderCancelRejected
from framework.events import OrderDenied
from framework.events import OrderHeld
from framework.events import OrderRejected
from framework.events import TimerFired
from framework.marketdata import Quote
from framework.models import Order
from framework.models import OrderStatus
from framework.models import OrderType
from framework.models import Side
from framework.strategy import Strategy

ACT = "soak-act"
ACTIONS: tuple[tuple[str, int], ...] = (
    ("market", 14), ("limit_passive", 24), ("limit_marketable", 10), ("stop", 14), ("modify", 16),
    ("cancel", 14), ("race", 8),
)
"""Actions and their weights."""
RESENT_CANCEL_AFTER = timedelta(seconds=5)
MODIFIABLE = frozenset({OrderType.LIMIT, OrderType.STOP, OrderType.STOP_LIMIT})


class SoakTraderConfig(StrategyConfig):
    """Parameters of :class:`SoakTrader`.

    Attributes:
        symbols: Instruments traded.
        seed: Seed of the action draws.
        action_interval: Time between two actions.
        trade_until: When to stop placing and wind down (None: never).
        max_working: Most working orders per instrument.
        max_position: Largest position per instrument, in shares, either way.
        max_value: Largest order value (the gateway asks ``o451`` above 100,000 USD).
        max_quantity: Largest order size (the gateway asks ``o383`` above 500 shares, which the soak confirms).
    """

    symbols: tuple[str, ...] = Field(min_length=1)
    seed: int = 1
    action_interval: timedelta = timedelta(seconds=0.5)
    trade_until: datetime | None = None
    max_working: int = Field(default=6, gt=0)
    max_position: Decimal = Decimal(3000)
    max_value: Decimal = Decimal(90000)
    max_quantity: int = Field(default=1500, gt=0)


class SoakTrader(Strategy[SoakTraderConfig]):
    """Trades often on every configured instrument (see the module docstring).

    Attributes:
        actions: How often each action was taken.
        outcomes: Order outcomes heard (denied, rejected, held, cancel rejected, refused executions).
        done: Whether the wind-down finished (nothing open after ``trade_until``).
    """

    config_type = SoakTraderConfig

    def on_start(self) -> None:
        """Subscribe quotes and start the action timer."""
        self.actions: Counter[str] = Counter()
        self.outcomes: Counter[str] = Counter()
        self.done = False
        self._rng = random.Random(self.config.seed)
        self._quotes: dict[str, Quote] = {}
        self._cancelled_at: dict[str, datetime] = {}
        for symbol in self.config.symbols:
            self.subscribe_quotes(symbol)
        self.every(self.config.action_interval, ACT)

    def on_quote(self, quote: Quote) -> None:
        """Keep the latest quote of each instrument."""
        if quote.bid is not None and quote.ask is not None:
            self._quotes[quote.symbol] = quote

    def on_timer(self, event: TimerFired) -> None:
        """Act, or wind down once ``trade_until`` has passed."""
        if event.name != ACT:
            return
        until = self.config.trade_until
        if until is not None and self.now >= until:
            self._wind_down()
        else:
            self._act()

    # ----------------------------------------------------------------- outcomes

    def on_order_denied(self, event: OrderDenied) -> None:
        """Count a denial (the broker was degraded, or a pre-trade check refused it)."""
        self.outcomes["denied"] += 1

    def on_order_rejected(self, event: OrderRejected) -> None:
        """Count a rejection (a declined prompt, a lost placement, the venue's refusal)."""
        self.outcomes["rejected"] += 1

    def on_order_held(self, event: OrderHeld) -> None:
        """Count a held command."""
        self.outcomes["held"] += 1

    def on_order_cancel_rejected(self, event: OrderCancelRejected) -> None:
        """Count a refused cancel or modification."""
        self.outcomes["cancel_rejected"] += 1

    def on_execution_refused(self, event: ExecutionRefused) -> None:
        """Count an execution report that contradicted its order (an invariant of the soak)."""
        self.outcomes["execution_refused"] += 1

    # ----------------------------------------------------------------- acting

    def _act(self) -> None:
        rng = self._rng
        symbol = rng.choice(self.config.symbols)
        quote = self._quotes.get(symbol)
        if quote is None:
            return
        working = [o for o in self.open_orders() if o.request.symbol == symbol]
        held = self.portfolio.quantity(symbol)
        if abs(held) >= self.config.max_position:
            self._count("reduce")
            size = min(int(abs(held)) // 2, self._quantity_cap(Decimal(str(quote.ask))))
            self._order(Side.SELL if held > 0 else Side.BUY, symbol, size)
            return
        if len(working) >= self.config.max_working:
            self._count("cancel_oldest")
            self._cancel(min(working, key=lambda o: o.updated))
            return
        names, weights = zip(*ACTIONS, strict=True)
        action = rng.choices(names, weights)[0]
        self._count(action)
        handlers = {"market": self._market, "limit_passive": self._limit_passive,
                    "limit_marketable": self._limit_marketable, "stop": self._stop, "modify": self._modify,
                    "cancel": self._cancel_one, "race": self._race}
        handlers[action](symbol, quote, working)

    def _count(self, action: str) -> None:
        self.actions[action] += 1

    def _side(self, symbol: str) -> Side:
        """A random side, or the one that reduces a position past half the limit."""
        held = self.portfolio.quantity(symbol)
        if abs(held) > self.config.max_position / 2 and self._rng.random() < 0.75:
            return Side.SELL if held > 0 else Side.BUY
        return Side.BUY if self._rng.random() < 0.5 else Side.SELL

    def _quantity_cap(self, price: Decimal) -> int:
        return max(1, min(self.config.max_quantity, int(self.config.max_value / price)))

    def _quantity(self, price: Decimal) -> int:
        return self._rng.randint(1, self._quantity_cap(price))

    def _price(self, symbol: str, value: float, up: bool) -> Decimal:
        tick = self.instrument(symbol).tick_size
        rounding = ROUND_CEILING if up else ROUND_FLOOR
        return max(tick, (Decimal(str(value)) / tick).to_integral_value(rounding) * tick)

    def _order(self, side: Side, symbol: str, quantity: int, *, limit_price: Decimal | None = None,
               stop_price: Decimal | None = None) -> str:
        place = self.buy if side is Side.BUY else self.sell
        return place(symbol, quantity, limit_price=limit_price, stop_price=stop_price)

    def _market(self, symbol: str, quote: Quote, working: list[Order]) -> None:
        self._order(self._side(symbol), symbol, self._quantity(Decimal(str(quote.ask))))

    def _passive(self, symbol: str, quote: Quote, side: Side) -> Decimal:
        away = self._rng.uniform(0.001, 0.01)
        if side is Side.BUY:
            return self._price(symbol, (quote.bid or 0.0) * (1 - away), up=False)
        return self._price(symbol, (quote.ask or 0.0) * (1 + away), up=True)

    def _marketable(self, symbol: str, quote: Quote, side: Side) -> Decimal:
        if side is Side.BUY:
            return self._price(symbol, (quote.ask or 0.0) * 1.001, up=True)
        return self._price(symbol, (quote.bid or 0.0) * 0.999, up=False)

    def _stop_trigger(self, symbol: str, quote: Quote, side: Side) -> Decimal:
        away = self._rng.uniform(0.001, 0.008)
        if side is Side.BUY:  # a buy stop triggers above the market, a sell stop below
            return self._price(symbol, (quote.ask or 0.0) * (1 + away), up=True)
        return self._price(symbol, (quote.bid or 0.0) * (1 - away), up=False)

    def _limit_passive(self, symbol: str, quote: Quote, working: list[Order]) -> None:
        side = self._side(symbol)
        price = self._passive(symbol, quote, side)
        self._order(side, symbol, self._quantity(price), limit_price=price)

    def _limit_marketable(self, symbol: str, quote: Quote, working: list[Order]) -> None:
        side = self._side(symbol)
        price = self._marketable(symbol, quote, side)
        self._order(side, symbol, self._quantity(price), limit_price=price)

    def _stop(self, symbol: str, quote: Quote, working: list[Order]) -> None:
        side = self._side(symbol)
        trigger = self._stop_trigger(symbol, quote, side)
        if self._rng.random() < 0.33:  # a stop-limit: the limit half a percent past the trigger
            limit = self._price(symbol, float(trigger) * (1.005 if side is Side.BUY else 0.995), side is Side.BUY)
            self._order(side, symbol, self._quantity(trigger), stop_price=trigger, limit_price=limit)
        else:
            self._order(side, symbol, self._quantity(trigger), stop_price=trigger)

    def _modify(self, symbol: str, quote: Quote, working: list[Order]) -> None:
        candidates = [o for o in working if o.request.order_type in MODIFIABLE
                      and o.status in (OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED)]
        if not candidates:
            self._limit_passive(symbol, quote, working)
            return
        order = self._rng.choice(candidates)
        side, kind = order.request.side, order.request.order_type
        quantity = None
        if self._rng.random() < 0.25:
            quantity = max(int(order.filled_quantity) + 1, self._quantity(Decimal(str(quote.ask))))
        if kind is OrderType.LIMIT:
            self.modify(order.client_order_id, quantity=quantity, limit_price=self._passive(symbol, quote, side))
        elif kind is OrderType.STOP:
            self.modify(order.client_order_id, quantity=quantity, stop_price=self._stop_trigger(symbol, quote, side))
        else:
            trigger = self._stop_trigger(symbol, quote, side)
            limit = self._price(symbol, float(trigger) * (1.005 if side is Side.BUY else 0.995), side is Side.BUY)
            self.modify(order.client_order_id, quantity=quantity, stop_price=trigger, limit_price=limit)

    def _cancel_one(self, symbol: str, quote: Quote, working: list[Order]) -> None:
        candidates = [o for o in working if o.status is not OrderStatus.PENDING_CANCEL]
        if candidates:
            self._cancel(self._rng.choice(candidates))

    def _race(self, symbol: str, quote: Quote, working: list[Order]) -> None:
        kind = self._rng.randrange(3)
        side = self._side(symbol)
        if kind == 0:  # a marketable limit cancelled at once: the fill and the cancel cross
            price = self._marketable(symbol, quote, side)
            self.cancel(self._order(side, symbol, self._quantity(price), limit_price=price))
        elif kind == 1 and working:  # the same cancel twice
            order = self._rng.choice(working)
            self.cancel(order.client_order_id)
            self.cancel(order.client_order_id)
        else:  # a stop cancelled right after it is placed
            trigger = self._stop_trigger(symbol, quote, side)
            self.cancel(self._order(side, symbol, self._quantity(trigger), stop_price=trigger))

    def _cancel(self, order: Order) -> None:
        self.cancel(order.client_order_id)

    # ----------------------------------------------------------------- the end

    def _wind_down(self) -> None:
        open_orders = self.open_orders()
        if not open_orders:
            self.done = True
            return
        now = self.now
        for order in open_orders:
            sent = self._cancelled_at.get(order.client_order_id)
            if order.status is not OrderStatus.PENDING_CANCEL or sent is None or now - sent > RESENT_CANCEL_AFTER:
                self._cancelled_at[order.client_order_id] = now  # only the wind-down's cancels are remembered
                self.cancel(order.client_order_id)
