"""PaperBroker event sequences through a real Engine, over a scripted live-style data source."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from brokers.paper.broker import PaperBroker
from brokers.paper.config import PaperConfig
from brokers.paper.costs import PerShareCommission
from brokers.paper.costs import TickSlippage
from brokers.paper.fill_model import FillModel
from framework.config import EngineConfig
from framework.conformance import CHECKS
from framework.engine import Engine
from framework.events import AnyEvent
from framework.events import BarClosed
from framework.events import OrderAccepted
from framework.events import OrderCancelled
from framework.events import OrderCancelRejected
from framework.events import OrderEvent
from framework.events import OrderExpired
from framework.events import OrderFilled
from framework.events import OrderPartiallyFilled
from framework.events import OrderPendingCancel
from framework.events import OrderRejected
from framework.events import OrderSubmitted
from framework.events import OrderUpdated
from framework.events import PositionChanged
from framework.marketdata import Bar
from framework.marketdata import Quote
from framework.models import Instrument
from framework.models import OrderRequest
from framework.models import OrderStatus
from framework.models import OrderType
from framework.models import Side
from framework.models import TimeInForce
from framework.testing import EventRecorder
from framework.testing import FakeClock
from framework.testing import ScriptedBroker
from tests.markers import needs_calendar_data
from tradebus.journal import SqliteJournal

MINUTE = timedelta(minutes=1)
NY_OPEN = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)  # 09:30 in New York


class Venue:
    """An engine trading on a PaperBroker that wraps a ScriptedBroker used as a live data feed."""

    def __init__(self, config: PaperConfig | None = None, start: datetime = NY_OPEN) -> None:
        self.clock = FakeClock(start)
        self.source = ScriptedBroker(self.clock)
        self.broker = PaperBroker(self.source, self.clock, config)
        self.engine = Engine(self.broker, clock=self.clock, config=EngineConfig(raise_errors=True, order_id_prefix="T"))
        self.recorder = EventRecorder(self.engine.bus)
        self.engine.start()
        self.engine.run_pending()
        self.instrument = self.engine.instrument("AAPL")

    def bar(self, o: float, h: float, low: float, c: float, volume: float = 10_000) -> Bar:
        bar = Bar("AAPL", self.clock.now(), MINUTE, o, h, low, c, volume)
        self.clock.set(bar.end)
        self.source.push_bar(bar)
        self.engine.run_pending()
        return bar

    def quote(self, bid: float, ask: float) -> None:
        self.clock.advance(timedelta(seconds=1))
        self.source.push_quote(Quote("AAPL", self.clock.now(), bid=bid, ask=ask))
        self.engine.run_pending()

    def submit(self, side: Side, quantity: int, **ticket: Any) -> str:
        request = OrderRequest(
            client_order_id=self.engine.next_client_order_id(),
            instrument=self.instrument,
            side=side,
            quantity=Decimal(quantity),
            **ticket,
        )
        self.engine.submit_order(request)
        self.engine.run_pending()
        return request.client_order_id

    def events(self, cid: str) -> list[type]:
        return [type(e) for e in self.recorder.events if isinstance(e, OrderEvent) and e.client_order_id == cid]

    def fills(self) -> list[Any]:
        return [e.fill for e in self.recorder.events if isinstance(e, OrderFilled | OrderPartiallyFilled)]

    def status(self, cid: str) -> OrderStatus:
        order = self.engine.orders.get(cid)
        assert order is not None
        return order.status


def limit(price: str) -> dict[str, Any]:
    return {"order_type": OrderType.LIMIT, "limit_price": Decimal(price)}


def test_market_order_fills_at_the_next_bars_open_not_on_the_creating_bar() -> None:
    venue = Venue()
    venue.bar(100, 101, 99, 100.5)
    cid = venue.submit(Side.BUY, 100)
    assert venue.events(cid) == [OrderSubmitted, OrderAccepted]
    venue.bar(101, 102, 100, 101.5)
    assert venue.events(cid) == [OrderSubmitted, OrderAccepted, OrderFilled]
    fill = venue.fills()[0]
    assert fill.price == Decimal(101)
    assert fill.ts == NY_OPEN + 2 * MINUTE
    assert venue.engine.portfolio.quantity("AAPL") == Decimal(100)
    assert venue.broker.account().cash == Decimal(1_000_000) - Decimal(10_100)


def test_the_fill_and_position_change_reach_the_engine_before_the_bar() -> None:
    venue = Venue()
    venue.bar(100, 101, 99, 100.5)
    venue.submit(Side.BUY, 100)
    venue.recorder.clear()
    venue.bar(101, 102, 100, 101.5)
    assert venue.recorder.types() == [OrderFilled, PositionChanged, BarClosed]


def test_an_order_submitted_inside_a_bar_waits_for_a_bar_that_starts_after_it() -> None:
    venue = Venue()
    venue.clock.advance(timedelta(seconds=30))  # mid-way through the 09:30 bar
    cid = venue.submit(Side.BUY, 10)
    venue.source.push_bar(Bar("AAPL", NY_OPEN, MINUTE, 100, 101, 99, 100))  # started before the order
    venue.clock.set(NY_OPEN + MINUTE)
    venue.engine.run_pending()
    assert venue.status(cid) is OrderStatus.ACCEPTED
    venue.bar(102, 103, 101, 102)
    assert venue.fills()[0].price == Decimal(102)


def test_the_venue_works_in_market_time_however_late_the_live_feed_delivers() -> None:
    # R25: a live feed delivers a bar after its end; an order placed on it still meets the next bar,
    # as in a backtest, and what the market does is stamped with the data's time
    venue = Venue()
    late = timedelta(seconds=2)
    first = Bar("AAPL", NY_OPEN, MINUTE, 100, 101, 99, 100)
    venue.clock.set(first.end + late)
    venue.source.push_bar(first)
    venue.engine.run_pending()
    cid = venue.submit(Side.BUY, 10)
    assert venue.recorder.of(OrderAccepted)[0].ts == first.end + late  # an answer to a command: the clock
    second = Bar("AAPL", first.end, MINUTE, 102, 103, 101, 102)
    venue.clock.set(second.end + late)
    venue.source.push_bar(second)
    venue.engine.run_pending()
    assert venue.status(cid) is OrderStatus.FILLED
    fill = venue.fills()[0]
    assert (fill.price, fill.ts) == (Decimal(102), second.end)
    assert venue.broker.market_time == second.end
    venue.source.push_quote(Quote("AAPL", venue.clock.now(), bid=101, ask=102))  # bar fills: quotes keep no time
    assert venue.broker.market_time == second.end


def test_slippage_and_commission_are_applied_to_the_fill_and_the_cash() -> None:
    config = PaperConfig(slippage=TickSlippage(ticks=2), commission=PerShareCommission())
    venue = Venue(config)
    venue.bar(100, 101, 99, 100)
    venue.submit(Side.BUY, 100)
    venue.bar(101, 102, 100, 101)
    fill = venue.fills()[0]
    assert (fill.price, fill.commission) == (Decimal("101.02"), Decimal("1.00"))
    assert venue.broker.account().cash == Decimal(1_000_000) - Decimal("10102") - Decimal("1.00")
    assert venue.engine.portfolio.cash == venue.broker.account().cash


def test_limit_order_rests_until_a_bar_trades_at_its_price() -> None:
    venue = Venue()
    venue.bar(100, 101, 99, 100)
    cid = venue.submit(Side.BUY, 50, **limit("98.50"))
    venue.bar(100, 100.5, 99, 99.5)
    assert venue.status(cid) is OrderStatus.ACCEPTED
    venue.bar(99.5, 99.6, 98.4, 98.7)
    assert venue.status(cid) is OrderStatus.FILLED
    assert venue.fills()[0].price == Decimal("98.5")


def test_volume_share_splits_an_order_into_partial_fills() -> None:
    venue = Venue(PaperConfig(volume_share=0.1))
    venue.bar(100, 101, 99, 100)
    cid = venue.submit(Side.BUY, 250)
    for _ in range(3):
        venue.bar(100, 101, 99, 100, volume=1_000)
    assert venue.events(cid) == [OrderSubmitted, OrderAccepted, OrderPartiallyFilled, OrderPartiallyFilled, OrderFilled]
    assert [f.quantity for f in venue.fills()] == [Decimal(100), Decimal(100), Decimal(50)]


def test_day_order_expires_at_the_session_close_and_gtc_keeps_working() -> None:
    venue = Venue(start=datetime(2024, 1, 2, 20, 58, tzinfo=UTC))  # 15:58 in New York
    day = venue.submit(Side.BUY, 10, **limit("90"))
    gtc = venue.submit(Side.BUY, 10, time_in_force=TimeInForce.GTC, **limit("90"))
    venue.bar(100, 101, 99, 100)
    assert venue.status(day) is OrderStatus.ACCEPTED
    venue.bar(100, 101, 99, 100)  # 15:59-16:00 closes the session
    assert venue.events(day)[-1] is OrderExpired
    expired = venue.recorder.of(OrderExpired)[0]
    assert expired.ts == datetime(2024, 1, 2, 21, 0, tzinfo=UTC)
    assert venue.status(gtc) is OrderStatus.ACCEPTED


@needs_calendar_data
def test_day_order_expires_at_an_early_close_from_the_exchange_calendar() -> None:
    venue = Venue(start=datetime(2024, 7, 3, 16, 58, tzinfo=UTC))  # 12:58 New York; trading ends at 13:00 today
    day = venue.submit(Side.BUY, 10, **limit("90"))
    venue.bar(100, 101, 99, 100)
    venue.bar(100, 101, 99, 100)  # 12:59-13:00 closes the session
    assert venue.events(day)[-1] is OrderExpired
    assert venue.recorder.of(OrderExpired)[0].ts == datetime(2024, 7, 3, 17, 0, tzinfo=UTC)


def test_latency_delays_the_acknowledgement_and_the_first_bar_the_order_can_meet() -> None:
    venue = Venue(PaperConfig(latency=timedelta(seconds=90)))
    venue.bar(100, 101, 99, 100)  # clock 14:31
    cid = venue.submit(Side.BUY, 10)  # works from 14:32:30
    assert venue.events(cid) == [OrderSubmitted]
    venue.bar(101, 101, 100, 100)  # 14:31-14:32
    assert venue.events(cid) == [OrderSubmitted]
    venue.bar(102, 103, 101, 102)  # 14:32-14:33: acknowledged at its end, but started too early to fill
    assert venue.events(cid) == [OrderSubmitted, OrderAccepted]
    assert venue.recorder.of(OrderAccepted)[0].ts == NY_OPEN + 3 * MINUTE
    venue.bar(103, 104, 102, 103)  # starts 14:33, after the order reached the venue
    assert venue.fills()[0].price == Decimal(103)


def test_ioc_order_is_cancelled_after_the_first_bar_it_meets() -> None:
    venue = Venue()
    venue.bar(100, 101, 99, 100)
    cid = venue.submit(Side.BUY, 10, time_in_force=TimeInForce.IOC, **limit("95"))
    venue.bar(100, 101, 99, 100)
    assert venue.events(cid) == [OrderSubmitted, OrderAccepted, OrderCancelled]


@pytest.mark.parametrize(
    ("quantity", "ticket", "reason"),
    [
        (10, {"time_in_force": TimeInForce.OPG}, "opg"),
        (20_000, {}, "insufficient buying power"),
    ],
)
def test_orders_the_venue_refuses_are_rejected(quantity: int, ticket: dict[str, Any], reason: str) -> None:
    venue = Venue()
    venue.bar(100, 101, 99, 100)
    cid = venue.submit(Side.BUY, quantity, **ticket)
    assert venue.events(cid) == [OrderSubmitted, OrderRejected]
    assert reason in venue.recorder.of(OrderRejected)[0].reason


def test_cancel_ends_a_working_order_and_a_late_cancel_is_rejected() -> None:
    venue = Venue()
    venue.bar(100, 101, 99, 100)
    cid = venue.submit(Side.BUY, 10, **limit("90"))
    venue.engine.cancel_order(cid)
    venue.engine.run_pending()
    assert venue.events(cid) == [OrderSubmitted, OrderAccepted, OrderPendingCancel, OrderCancelled]
    sink: list[AnyEvent] = []
    venue.broker.connect(sink.append)
    venue.broker.cancel_order(cid)
    assert [type(e) for e in sink][-1] is OrderCancelRejected


def test_modify_moves_a_resting_limit_which_then_fills_at_the_new_price() -> None:
    venue = Venue()
    venue.bar(100, 101, 99, 100)
    cid = venue.submit(Side.BUY, 10, **limit("90"))
    order = venue.engine.orders.get(cid)
    assert order is not None
    venue.engine.modify_order(order.request.model_copy(update={"limit_price": Decimal("99.50")}))
    venue.engine.run_pending()
    venue.bar(100, 100.5, 99.2, 99.8)
    assert venue.events(cid) == [OrderSubmitted, OrderAccepted, OrderUpdated, OrderFilled]
    assert venue.fills()[0].price == Decimal("99.5")


def test_quote_fill_model_fills_a_market_buy_at_the_next_ask() -> None:
    venue = Venue(PaperConfig(fill_model=FillModel.QUOTE))
    venue.quote(99.9, 100.1)
    cid = venue.submit(Side.BUY, 10)
    venue.bar(100, 101, 99, 100)  # bars do not fill under the quote model
    assert venue.status(cid) is OrderStatus.ACCEPTED
    venue.quote(100.0, 100.2)
    assert venue.fills()[0].price == Decimal("100.2")


def test_positions_and_account_are_marked_at_the_latest_bar() -> None:
    venue = Venue()
    venue.bar(100, 101, 99, 100)
    venue.submit(Side.BUY, 100)
    venue.bar(100, 101, 99, 100)
    venue.bar(100, 106, 99, 105)
    (position,) = venue.broker.positions()
    assert (position.quantity, position.unrealized_pnl) == (Decimal(100), Decimal(500))
    account = venue.broker.account()
    assert account.equity == Decimal(1_000_500)
    assert account.account_id == "PAPER"


def test_market_data_calls_go_to_the_wrapped_source() -> None:
    venue = Venue()
    assert venue.broker.resolve_instrument("AAPL") == venue.source.resolve_instrument("AAPL")
    venue.broker.subscribe_bars(venue.instrument, MINUTE)
    assert ("AAPL", MINUTE) in venue.source.bar_subscriptions


class PaperHarness:
    """The framework's conformance kit, run against the paper venue."""

    symbol = "AAPL"

    def __init__(self) -> None:
        self.clock = FakeClock(NY_OPEN)
        self.source = ScriptedBroker(self.clock, instruments=[Instrument(symbol="AAPL")])

    def make_broker(self) -> PaperBroker:
        return PaperBroker(self.source, self.clock, PaperConfig())

    def far_limit_price(self, side: Side) -> Decimal:
        return Decimal(50) if side is Side.BUY else Decimal(500)

    def pump(self, engine: Engine, until: Callable[[], bool]) -> None:
        for _ in range(20):
            engine.run_pending()
            if until():
                return
            start = self.clock.now()
            self.clock.set(start + MINUTE)
            self.source.push_bar(Bar("AAPL", start, MINUTE, 100, 101, 99, 100))
        raise AssertionError("condition not met after 20 bars")


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_paper_broker_passes_the_conformance_kit(check: Callable[[PaperHarness], None]) -> None:
    check(PaperHarness())


def bracket(venue: Venue, entry: dict[str, Any]) -> tuple[str, str, str]:
    parent = venue.submit(Side.BUY, 10, **entry)
    children = {"parent_id": parent, "oca_group": f"oca-{parent}", "time_in_force": TimeInForce.GTC}
    profit = venue.submit(Side.SELL, 10, **limit("103"), **children)
    loss = venue.submit(Side.SELL, 10, order_type=OrderType.STOP, stop_price=Decimal(98), **children)
    return parent, profit, loss


def test_bracket_children_work_only_after_the_entry_fills_and_cancel_each_other() -> None:
    venue = Venue()
    venue.bar(100, 101, 99, 100)
    parent, profit, loss = bracket(venue, {})
    venue.bar(100, 104, 99.5, 103.5)  # entry fills at the open; children may not use this bar
    assert venue.status(parent) is OrderStatus.FILLED
    assert venue.status(profit) is OrderStatus.ACCEPTED
    venue.bar(103.5, 103.6, 102, 103)
    assert venue.events(profit)[-1] is OrderFilled
    assert venue.events(loss) == [OrderSubmitted, OrderAccepted, OrderCancelled]
    assert "one-cancels-all" in venue.recorder.of(OrderCancelled)[0].reason
    assert [f.price for f in venue.fills()] == [Decimal(100), Decimal("103.5")]  # opened above the limit
    assert venue.engine.portfolio.quantity("AAPL") == 0


def test_cancelling_a_bracket_entry_cancels_its_children() -> None:
    venue = Venue()
    venue.bar(100, 101, 99, 100)
    parent, profit, loss = bracket(venue, limit("90"))
    venue.bar(100, 104, 97, 100)  # would trigger both children if they were awake
    venue.engine.cancel_order(parent)
    venue.engine.run_pending()
    for cid in (parent, profit, loss):
        assert venue.status(cid) is OrderStatus.CANCELLED
    assert venue.fills() == []


def test_children_of_a_rejected_entry_are_rejected() -> None:
    venue = Venue()
    venue.bar(100, 101, 99, 100)
    parent, profit, loss = bracket(venue, {"time_in_force": TimeInForce.OPG})
    assert [venue.status(c) for c in (parent, profit, loss)] == [OrderStatus.REJECTED] * 3


def test_a_restart_ends_the_previous_runs_unfinished_orders(tmp_path: Path) -> None:
    """The simulated venue died with the old process: its orders end, and none is placed again."""
    clock = FakeClock(NY_OPEN)
    path = tmp_path / "journal.sqlite"
    source = ScriptedBroker(clock)
    old = Engine(PaperBroker(source, clock, PaperConfig(latency=MINUTE)), clock=clock, journal=SqliteJournal(path),
                 config=EngineConfig(order_id_prefix="old"))
    old.start()
    resting = OrderRequest(client_order_id="old.1", instrument=Instrument(symbol="AAPL"), side=Side.BUY,
                           quantity=Decimal(10), order_type=OrderType.LIMIT, limit_price=Decimal(90),
                           time_in_force=TimeInForce.GTC)
    old.submit_order(resting)
    old.submit_order(resting.model_copy(update={"client_order_id": "old.2"}))
    old.run_pending()
    clock.advance(MINUTE)
    source.push_quote(Quote("AAPL", clock.now(), bid=100.0, ask=100.1))  # old.1 and old.2 start working
    old.run_pending()
    old.submit_order(resting.model_copy(update={"client_order_id": "old.3"}))  # not acknowledged yet
    old.run_pending()
    # the process dies here
    venue = PaperBroker(ScriptedBroker(clock), clock, PaperConfig())
    new = Engine(venue, clock=clock, journal=SqliteJournal(path))
    recorder = EventRecorder(new.bus, [OrderCancelled, OrderRejected])
    new.start()
    assert [(type(e).__name__, e.client_order_id, e.reason) for e in recorder.events] == [
        ("OrderCancelled", "old.1", "paper venue restarted"),
        ("OrderCancelled", "old.2", "paper venue restarted"),
        ("OrderRejected", "old.3", "paper venue restarted"),
    ]
    assert venue.open_orders() == []
    assert new.orders.open() == []


def test_the_venue_and_the_engine_share_one_portfolio_that_books_each_fill_once() -> None:
    venue = Venue(PaperConfig(commission=PerShareCommission()))
    assert venue.engine.portfolio is venue.broker.portfolio  # one portfolio, not a copy kept in step
    venue.bar(100, 101, 99, 100)
    venue.submit(Side.BUY, 100)
    cash = venue.engine.portfolio.cash
    venue.bar(101, 102, 100, 101)
    assert venue.engine.portfolio.cash == cash - Decimal(10_100) - Decimal("1.00")  # booked once, not twice
    assert venue.engine.portfolio.commissions == Decimal("1.00")
    assert venue.broker.positions()[0].quantity == 100


def test_ids_carry_the_run_so_two_runs_on_one_journal_never_share_one(tmp_path: Path) -> None:
    clock = FakeClock(NY_OPEN)
    path = tmp_path / "journal.sqlite"
    for _ in range(2):
        source = ScriptedBroker(clock)
        engine = Engine(PaperBroker(source, clock), clock=clock, journal=SqliteJournal(path))
        engine.start()
        for submit in (True, False):  # a market order fills at the open of the bar after it
            bar = Bar("AAPL", clock.now(), MINUTE, 100, 101, 99, 100, 10_000)
            clock.set(bar.end)
            source.push_bar(bar)
            if submit:
                engine.submit_order(OrderRequest(client_order_id=engine.next_client_order_id(), quantity=10,
                                                 instrument=Instrument(symbol="AAPL"), side=Side.BUY))
            engine.run_pending()
        engine.stop()
    journal = SqliteJournal(path)
    orders, fills = journal.orders(), journal.fills()
    runs = journal.run_ids()
    journal.close()
    assert [o.status for o in orders] == [OrderStatus.FILLED] * 2  # the second run's fill was not dropped
    assert [(f.execution_id, o.broker_order_id) for f, o in zip(fills, orders, strict=True)] == [
        (f"{run}.E1", f"{run}.P1") for run in runs
    ]


def test_a_venue_used_without_an_engine_numbers_from_one() -> None:
    clock = FakeClock(NY_OPEN)
    broker = PaperBroker(ScriptedBroker(clock), clock)
    events: list[Any] = []
    broker.connect(events.append)
    broker.submit_order(OrderRequest(client_order_id="x", instrument=Instrument(symbol="AAPL"), side=Side.BUY,
                                     quantity=Decimal(1)))
    [accepted] = [e for e in events if isinstance(e, OrderAccepted)]
    assert accepted.broker_order_id == "P1"
