"""Strategy API: typed config, order helpers, brackets, modify, close, bar routing, run_strategy."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from framework.config import StrategyConfig
from framework.engine import Engine
from framework.events import OrderDenied
from framework.events import OrderFilled
from framework.events import OrderSubmitted
from framework.events import OrderUpdated
from framework.events import PositionChanged
from framework.marketdata import Bar
from framework.marketdata import Quote
from framework.models import OrderType
from framework.models import Side
from framework.models import TimeInForce
from framework.strategy import Strategy
from framework.testing import DEFAULT_START
from framework.testing import EventRecorder
from framework.testing import FakeClock
from framework.testing import ScriptedBroker
from framework.testing import run_strategy

T0 = DEFAULT_START
MINUTE = timedelta(minutes=1)


class Params(StrategyConfig):
    symbol: str = "AAPL"
    threshold: float = 100.0


class Configured(Strategy[Params]):
    config_type = Params


def test_typed_config_defaults_and_validation() -> None:
    assert Configured().config.threshold == 100.0
    assert Configured(Params(threshold=5)).config.threshold == 5
    with pytest.raises(ValidationError, match="threshold"):
        Params(threshold="lots")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="typo"):
        Params(typo=1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        Configured().config.threshold = 1  # type: ignore[misc]


def test_strategy_outside_an_engine_explains_itself() -> None:
    with pytest.raises(RuntimeError, match="add_strategy"):
        Configured().buy("AAPL", 1)


class Helper(Strategy):
    """Exposes the helpers to the test through on_start."""

    def on_start(self) -> None:
        self.subscribe_quotes("AAPL")


@pytest.fixture
def started(engine: Engine) -> Helper:
    strategy = Helper()
    engine.add_strategy(strategy)
    engine.start()
    return strategy


def test_buy_and_sell_infer_the_order_type(started: Helper, broker: ScriptedBroker, engine: Engine) -> None:
    started.buy("AAPL", 10, limit_price=99.5)
    started.sell("AAPL", 10, stop_price="98")
    started.sell("AAPL", 10, stop_price=98, limit_price=97.5, time_in_force=TimeInForce.GTC)
    started.trailing_stop(Side.SELL, "AAPL", 10, trail_percent=1.5)
    engine.run_pending()
    types = [r.order_type for r in broker.submitted]
    assert types == [OrderType.LIMIT, OrderType.STOP, OrderType.STOP_LIMIT, OrderType.TRAILING_STOP]
    assert broker.submitted[0].limit_price == Decimal("99.5")
    assert broker.submitted[2].time_in_force is TimeInForce.GTC
    assert broker.submitted[3].trail_percent == Decimal("1.5")
    assert all(r.strategy_id == "Helper" for r in broker.submitted)


def test_r20_off_tick_price_never_reaches_the_broker(started: Helper, broker: ScriptedBroker) -> None:
    """R20 (input validation): a bad order request is refused locally with a typed error naming the field, and never
    reaches the broker. Partial versus the criterion: see docs/reliability.md."""
    with pytest.raises(ValidationError, match="tick size"):
        started.buy("AAPL", 10, limit_price=99.555)
    assert broker.submitted == []


def test_bracket_links_children_to_the_entry(started: Helper, broker: ScriptedBroker, engine: Engine) -> None:
    entry, profit, loss = started.bracket(
        Side.BUY, "AAPL", 100, take_profit=110, stop_loss=95, entry_limit=100
    )
    engine.run_pending()
    by_id = {r.client_order_id: r for r in broker.submitted}
    assert [r.client_order_id for r in broker.submitted] == [entry, profit, loss]
    assert by_id[profit].parent_id == entry
    assert by_id[loss].parent_id == entry
    assert by_id[profit].oca_group == by_id[loss].oca_group is not None
    assert by_id[profit].side is by_id[loss].side is Side.SELL
    assert by_id[loss].order_type is OrderType.STOP
    assert by_id[entry].order_type is OrderType.LIMIT


def test_modify_sends_a_full_replacement_ticket(
    started: Helper, broker: ScriptedBroker, engine: Engine
) -> None:
    recorder = EventRecorder(engine.bus, [OrderUpdated])
    cid = started.buy("AAPL", 10, limit_price=99)
    engine.run_pending()
    started.modify(cid, limit_price=98.5, quantity=20)
    engine.run_pending()
    sent = broker.modified[0]
    assert (sent.client_order_id, sent.quantity, sent.limit_price) == (cid, 20, Decimal("98.5"))
    assert sent.instrument == broker.submitted[0].instrument
    order = started.order(cid)
    assert order is not None
    assert order.request.quantity == 20
    assert len(recorder.events) == 1


def test_close_position_flattens_and_cancel_all_cancels(
    started: Helper, broker: ScriptedBroker, engine: Engine, clock: FakeClock
) -> None:
    broker.push_quote(Quote("AAPL", clock.now(), bid=100.0, ask=100.1))
    started.buy("AAPL", 30)
    engine.run_pending()
    assert started.close_position("AAPL") is not None
    engine.run_pending()
    assert started.position("AAPL").is_flat
    assert started.close_position("AAPL") is None
    started.buy("AAPL", 1, limit_price=90)
    started.buy("AAPL", 1, limit_price=91)
    engine.run_pending()
    started.cancel_all()
    assert len(broker.cancel_requests) == 2


class Crosser(Strategy):
    """Buys on the first 1-minute bar that closes above 10, sells when it closes below 10."""

    def on_start(self) -> None:
        self.subscribe_bars("AAPL", MINUTE)

    def on_bar(self, bar: Bar) -> None:
        held = self.portfolio.quantity("AAPL")
        if bar.close > 10 and held == 0:
            self.buy("AAPL", 5)
        elif bar.close < 10 and held > 0:
            self.sell("AAPL", held)


def bars(closes: list[float], duration: timedelta = MINUTE, symbol: str = "AAPL") -> list[Bar]:
    return [
        Bar(symbol, T0 + duration * i, duration, c, c + 0.5, c - 0.5, c, 100.0) for i, c in enumerate(closes)
    ]


def test_run_strategy_drives_bars_through_a_real_engine() -> None:
    events = run_strategy(Crosser(), bars([9.0, 10.5, 11.0, 9.5, 9.0]))
    fills = [e.fill for e in events if isinstance(e, OrderFilled)]
    assert [(f.side.value, f.quantity, f.price) for f in fills] == [
        ("buy", 5, Decimal("10.5")),
        ("sell", 5, Decimal("9.5")),
    ]
    positions = [e.position.quantity for e in events if isinstance(e, PositionChanged)]
    assert positions == [5, 0]


def test_bars_of_other_durations_and_symbols_are_not_delivered() -> None:
    seen: list[Bar] = []

    class Recorder(Crosser):
        def on_bar(self, bar: Bar) -> None:
            seen.append(bar)

    mixed = bars([9.0, 9.1]) + bars([9.2], duration=timedelta(minutes=5)) + bars([9.3], symbol="MSFT")
    mixed.sort(key=lambda b: b.end)
    run_strategy(Recorder(), mixed)
    assert [(b.symbol, b.duration) for b in seen] == [("AAPL", MINUTE), ("AAPL", MINUTE)]


def test_orders_are_denied_for_a_strategy_when_the_engine_denies(
    engine: Engine, broker: ScriptedBroker
) -> None:
    recorder = EventRecorder(engine.bus, [OrderSubmitted, OrderDenied])
    strategy = Helper()
    engine.add_strategy(strategy)
    engine.start()
    broker.disconnect()
    strategy.buy("AAPL", 1)
    engine.run_pending()
    assert recorder.types() == [OrderDenied]
