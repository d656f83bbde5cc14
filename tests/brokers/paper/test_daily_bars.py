"""Daily bars on the paper venue (delivered at the close, DAY and GTC orders, 252 periods); resampling on it."""

from __future__ import annotations

from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from decimal import Decimal
from typing import Any

from brokers.paper.backtest_broker import BacktestBroker
from brokers.paper.backtest_broker import BacktestBrokerConfig
from framework.clock import SimulatedClock
from framework.config import EngineConfig
from framework.config import StrategyConfig
from framework.engine import Engine
from framework.events import OrderExpired
from framework.history import BarData
from framework.history import BarSeriesBuilder
from framework.marketdata import Bar
from framework.models import OrderStatus
from framework.models import TimeInForce
from framework.strategy import Strategy
from tradebus.backtest import bar_period
from tradebus.backtest import run_backtest

DAY = timedelta(days=1)
# (date, open, high, low, close): Tuesday 2 January 2024 on; 2024-01-15 is Martin Luther King Day (no bar)
ROWS = [
    (date(2024, 1, 2), 100.0, 102.0, 99.0, 101.0),
    (date(2024, 1, 3), 101.5, 103.0, 100.5, 102.0),
    (date(2024, 1, 4), 102.5, 104.0, 101.5, 103.0),
    (date(2024, 1, 5), 103.5, 105.0, 102.5, 104.0),
    (date(2024, 1, 8), 104.5, 106.0, 95.0, 105.0),
    (date(2024, 1, 9), 105.5, 107.0, 104.5, 106.0),
]


def daily(rows: list[tuple[date, float, float, float, float]] = ROWS) -> BarData:
    builder = BarSeriesBuilder("AAPL", DAY, "daily.csv")
    for line, (day, o, h, low, c) in enumerate(rows, start=2):
        start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
        builder.append((start, o, h, low, c, 1_000_000.0), line)
    return BarData([builder.build()])


class Trader(Strategy[StrategyConfig]):
    """Places the orders it is given on the bar of the given date; records bars and expiries."""

    config_type = StrategyConfig

    def __init__(self, plan: dict[date, list[tuple[str, dict[str, Any]]]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plan = plan
        self.seen: list[tuple[datetime, Bar]] = []
        self.expired: list[OrderExpired] = []

    def on_start(self) -> None:
        self.subscribe_bars("AAPL")  # the data's own size: daily

    def on_bar(self, bar: Bar) -> None:
        self.seen.append((self.context.clock.now(), bar))
        for side, kwargs in self.plan.get(bar.start.date(), []):
            (self.buy if side == "buy" else self.sell)("AAPL", Decimal(10), **kwargs)

    def on_order_expired(self, event: OrderExpired) -> None:
        self.expired.append(event)


def test_a_daily_bar_is_delivered_at_its_session_close() -> None:
    strategy = Trader({})
    run_backtest(strategy, daily())
    assert [now for now, _ in strategy.seen][:2] == [datetime(2024, 1, 2, 21, tzinfo=UTC),
                                                     datetime(2024, 1, 3, 21, tzinfo=UTC)]
    assert all(bar.duration == DAY for _, bar in strategy.seen)


def test_a_daily_bar_before_an_early_close_is_delivered_at_that_close() -> None:
    strategy = Trader({})
    run_backtest(strategy, daily([(date(2024, 11, 29), 1.0, 1.0, 1.0, 1.0), (date(2024, 12, 2), 1.0, 1.0, 1.0, 1.0)]))
    assert [now for now, _ in strategy.seen] == [datetime(2024, 11, 29, 18, tzinfo=UTC),
                                                 datetime(2024, 12, 2, 21, tzinfo=UTC)]


def test_a_day_market_order_placed_on_the_close_fills_at_the_next_days_open() -> None:
    result = run_backtest(Trader({date(2024, 1, 2): [("buy", {})]}), daily())
    (order,) = result.orders
    assert (order.request.time_in_force, order.status) == (TimeInForce.DAY, OrderStatus.FILLED)
    (fill,) = result.fills
    assert fill.price == Decimal("101.5")  # 3 January's open
    assert fill.ts == datetime(2024, 1, 3, 21, tzinfo=UTC)  # stamped with the bar it filled on


def test_a_day_limit_the_next_day_does_not_reach_expires_at_that_days_close() -> None:
    strategy = Trader({date(2024, 1, 2): [("buy", {"limit_price": Decimal(90)})]})
    result = run_backtest(strategy, daily())
    (order,) = result.orders
    assert order.status is OrderStatus.EXPIRED
    assert [e.ts for e in strategy.expired] == [datetime(2024, 1, 3, 21, tzinfo=UTC)]
    assert result.fills == []


def test_a_day_limit_reached_by_the_next_days_low_fills_at_the_limit() -> None:
    result = run_backtest(Trader({date(2024, 1, 2): [("buy", {"limit_price": Decimal(101)})]}), daily())
    assert [(f.price, f.ts.date()) for f in result.fills] == [(Decimal(101), date(2024, 1, 3))]


def test_a_gtc_limit_works_over_days_and_a_weekend_until_a_bar_reaches_it() -> None:
    plan = {date(2024, 1, 2): [("buy", {"limit_price": Decimal(96), "time_in_force": TimeInForce.GTC})]}
    result = run_backtest(Trader(plan), daily())
    assert [(f.price, f.ts.date()) for f in result.fills] == [(Decimal(96), date(2024, 1, 8))]  # Monday's low 95


def test_a_day_stop_on_daily_bars_fills_at_the_stop_within_the_next_bar() -> None:
    result = run_backtest(Trader({date(2024, 1, 2): [("buy", {"stop_price": Decimal("102.5")})]}), daily())
    assert [(f.price, f.ts.date()) for f in result.fills] == [(Decimal("102.5"), date(2024, 1, 3))]


def test_daily_statistics_are_annualised_with_252_periods() -> None:
    data = daily()
    assert bar_period(data) == DAY
    result = run_backtest(Trader({date(2024, 1, 2): [("buy", {})]}), data)
    assert result.statistics.periods_per_year == 252
    assert len(result.curve) == len(ROWS)


def test_the_backtest_broker_builds_the_same_coarse_bars_as_the_backtest_runner() -> None:
    builder = BarSeriesBuilder("AAPL", timedelta(minutes=1), "test")
    first = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
    for i in range(30):
        builder.append((int(first.timestamp()) + 60 * i, 10.0 + i, 10.5 + i, 9.5 + i, 10.25 + i, 1.0), None)
    data = BarData([builder.build()])

    class FiveMinutes(Trader):
        def on_start(self) -> None:
            self.subscribe_bars("AAPL", timedelta(minutes=5))

    expected = FiveMinutes({}, strategy_id="runner")
    run_backtest(expected, data)
    clock = SimulatedClock(first)
    broker = BacktestBroker(data, BacktestBrokerConfig(autoplay=False), clock=clock)
    engine = Engine(broker, clock=clock, config=EngineConfig(raise_errors=True, order_id_prefix="BT"))
    stepped = FiveMinutes({}, strategy_id="stepped")
    engine.add_strategy(stepped)
    engine.start()
    engine.run_pending()
    while broker.step():
        engine.run_pending()
    engine.stop()
    assert len(stepped.seen) == 6
    assert stepped.seen == expected.seen


def _two_symbols(first: str, second: str) -> BarData:
    series = []
    for symbol in (first, second):
        builder = BarSeriesBuilder(symbol, DAY, "daily.csv")
        for line, (day, o, h, low, c) in enumerate(ROWS, start=2):
            start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
            builder.append((start, o, h, low, c, 1_000_000.0), line)
        series.append(builder.build())
    return BarData(series)


class BuysOn(Strategy[StrategyConfig]):
    """Buys 10 of ``symbol`` at market (DAY) on its bar of 3 January; records what became of the order."""

    config_type = StrategyConfig

    def __init__(self, symbol: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.symbol = symbol
        self.expired: list[OrderExpired] = []

    def on_start(self) -> None:
        self.subscribe_bars(self.symbol)

    def on_bar(self, bar: Bar) -> None:
        if bar.start.date() == date(2024, 1, 3):
            self.buy(self.symbol, Decimal(10))

    def on_order_expired(self, event: OrderExpired) -> None:
        self.expired.append(event)


def test_a_day_order_fills_on_the_next_daily_bar_whichever_symbol_comes_first_at_the_close() -> None:
    # every symbol's daily bar is delivered at the same close; another symbol's bar at the close must not
    # expire the order before its own bar (which opened inside its day) has been matched
    for data in (_two_symbols("AAPL", "MSFT"), _two_symbols("MSFT", "AAPL")):
        for symbol in ("AAPL", "MSFT"):
            strategy = BuysOn(symbol)
            result = run_backtest(strategy, data)
            (order,) = result.orders
            assert (order.status, order.average_fill_price) == (OrderStatus.FILLED, Decimal("102.5")), symbol
            assert strategy.expired == []
