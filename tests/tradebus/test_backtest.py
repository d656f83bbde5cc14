"""The backtest runner: reference equality with a plain loop, determinism, merging, expiry, latency."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from brokers.paper import MarketHours
from brokers.paper import PaperConfig
from brokers.paper import PerShareCommission
from brokers.paper import TickSlippage
from framework.clock import SimulatedClock
from framework.events import BarClosed
from framework.events import OrderAccepted
from framework.events import OrderDenied
from framework.events import OrderFilled
from framework.events import OrderSubmitted
from framework.history import BarData
from framework.history import BarSeries
from framework.killswitch import halt
from framework.marketdata import Bar
from framework.models import Instrument
from framework.models import OrderRequest
from framework.models import OrderStatus
from framework.models import OrderType
from framework.models import Side
from framework.models import TimeInForce
from framework.risk import RiskConfig
from framework.strategy import Strategy
from framework.testing import EventRecorder
from strategies import SmaCross
from strategies import SmaCrossConfig
from tradebus import BacktestRunner
from tradebus import run_backtest
from tradebus.data import load_bars
from tradebus.journal import SqliteJournal
from tradebus.results import RunResult
from tradebus.sample_data import sample_data_path
from tradebus.sample_data.generate import synthetic_series


def plain_loop(series: BarSeries, fast: int = 10, slow: int = 30) -> tuple[list[tuple[int, int, Decimal]], Decimal]:
    """The reference rules, written independently: (bar index, signed quantity, price) fills and final equity."""
    closes, opens = list(series.closes), list(series.opens)
    cash, position = Decimal(1_000_000), 0
    fills: list[tuple[int, int, Decimal]] = []
    pending: int | None = None
    previous: float | None = None
    for i in range(len(closes)):
        if pending is not None:
            price = Decimal(repr(opens[i])).quantize(Decimal("0.01"))
            fills.append((i, pending, price))
            cash -= pending * price
            position += pending
            pending = None
        if i + 1 < slow:
            continue
        fast_avg = sum(closes[i + 1 - fast : i + 1]) / fast
        slow_avg = sum(closes[i + 1 - slow : i + 1]) / slow
        diff = fast_avg - slow_avg
        if abs(diff) <= 1e-9 * slow_avg:
            diff = 0.0
        if previous is not None:
            if previous <= 0 < diff and position == 0:
                pending = 100
            elif previous >= 0 > diff and position > 0:
                pending = -position
        previous = diff
    return fills, cash + position * Decimal(repr(closes[-1]))


def framework_fills(result: RunResult, series: BarSeries) -> list[tuple[int, int, Decimal]]:
    index = {s + 60: i for i, s in enumerate(series.starts)}  # bar end -> index
    return [(index[int(f.ts.timestamp())], int(f.quantity) * f.side.sign, f.price) for f in result.fills]


@pytest.mark.parametrize("source", ["sample", "synthetic"])
def test_reference_strategy_matches_an_independent_plain_loop(source: str) -> None:
    venue = PaperConfig()
    if source == "sample":
        series = load_bars(sample_data_path())["AAPL"]
    else:
        series = synthetic_series("AAPL", 20_000, seed=11, price=150.0)
        # the synthetic session trades every weekday, holidays included: not the exchange's calendar
        venue = PaperConfig(market_hours=MarketHours.ALWAYS)
    result = run_backtest(SmaCross(), BarData([series]), venue)
    # a fill is stamped when the venue processes it: the end of the bar whose open it took
    expected, equity = plain_loop(series)
    assert len(expected) > 20
    assert framework_fills(result, series) == expected
    assert result.final_equity == equity


def test_two_runs_export_the_same_bytes(tmp_path: Path) -> None:
    data = load_bars(sample_data_path())
    config = PaperConfig(commission=PerShareCommission(), slippage=TickSlippage(ticks=1))
    paths = []
    for run in ("a", "b"):
        strategies = [SmaCross(SmaCrossConfig(symbol=s), strategy_id=f"sma-{s}") for s in ("AAPL", "MSFT", "SPY")]
        result = run_backtest(strategies, data, config)
        paths.append(result.export(tmp_path / run))
    first, second = paths
    assert [p.name for p in first] == ["orders.csv", "fills.csv", "trades.csv", "equity.csv", "result.json"]
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
    assert len((tmp_path / "a" / "fills.csv").read_text().splitlines()) > 50


class Recorder(Strategy):
    """Subscribes to every symbol and records (delivery time, symbol) of each bar."""

    def on_start(self) -> None:
        self.seen: list[tuple[datetime, str, datetime]] = []
        for symbol in ("SPY", "AAPL", "MSFT"):
            self.subscribe_bars(symbol)

    def on_bar(self, bar: Bar) -> None:
        self.seen.append((bar.end, bar.symbol, self.now))


def test_several_instruments_are_merged_by_time_then_symbol_with_the_clock_at_bar_end() -> None:
    data = load_bars(sample_data_path())
    strategy = Recorder()
    run_backtest(strategy, data)
    assert len(strategy.seen) == data.bar_count
    assert [(end, symbol) for end, symbol, _ in strategy.seen] == sorted(
        (end, symbol) for end, symbol, _ in strategy.seen
    )
    assert all(end == now for end, _, now in strategy.seen)
    assert [s for _, s, _ in strategy.seen[:3]] == ["AAPL", "MSFT", "SPY"]


class OneOrder(Strategy):
    """Places one order on the first bar it sees."""

    def __init__(self, **ticket: object) -> None:
        super().__init__()
        self.ticket = ticket

    def on_start(self) -> None:
        self.subscribe_bars("AAPL")
        self.placed: str | None = None

    def on_bar(self, bar: Bar) -> None:
        if self.placed is None:
            self.placed = self.submit(Side.BUY, "AAPL", 10, **self.ticket)


def test_a_day_order_that_never_fills_expires_at_the_first_session_close() -> None:
    data = load_bars(sample_data_path())
    strategy = OneOrder(order_type=OrderType.LIMIT, limit_price=Decimal(1))
    result = run_backtest(strategy, data)
    (order,) = result.orders
    assert order.status.value == "expired"
    assert order.updated == datetime(2024, 1, 2, 21, 0, tzinfo=UTC)  # 16:00 New York


def test_a_gtc_order_survives_the_close() -> None:
    data = load_bars(sample_data_path())
    result = run_backtest(
        OneOrder(order_type=OrderType.LIMIT, limit_price=Decimal(1), time_in_force=TimeInForce.GTC), data
    )
    assert result.orders[0].status.value == "accepted"


@pytest.mark.parametrize(
    ("latency", "bar_index"), [(timedelta(0), 1), (timedelta(seconds=30), 2), (timedelta(minutes=2), 3)]
)
def test_latency_pushes_the_fill_to_the_first_bar_starting_after_arrival(latency: timedelta, bar_index: int) -> None:
    series = load_bars(sample_data_path())["AAPL"]
    result = run_backtest(OneOrder(), BarData([series]), PaperConfig(latency=latency))
    (fill,) = result.fills
    assert fill.price == Instrument(symbol="AAPL").round_price(series.opens[bar_index])


def test_progress_bar_is_shown_on_stderr_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    series = load_bars(sample_data_path())["AAPL"]
    run_backtest(SmaCross(), BarData([series]), progress=True)
    assert "1.95k/1.95k" in capsys.readouterr().err


def test_result_summary_and_equity_curve_are_consistent() -> None:
    series = load_bars(sample_data_path())["AAPL"]
    result = run_backtest(SmaCross(), BarData([series]))
    assert len(result.curve) == len(series)
    assert result.curve.equity[-1] == pytest.approx(float(result.final_equity))
    assert result.statistics.trade_count == len(result.trades) == len(result.fills) // 2
    assert sum(t.pnl for t in result.trades) == result.final_equity - Decimal(1_000_000)


def test_the_backtest_runs_on_the_one_simulated_clock() -> None:
    runner = BacktestRunner(SmaCross(), load_bars(sample_data_path()))
    assert type(runner.clock) is SimulatedClock
    assert runner.engine.clock is runner.clock is runner.broker.clock


def test_an_empty_data_set_is_refused() -> None:
    with pytest.raises(ValueError, match="no bars"):
        run_backtest(SmaCross(), BarData([]))


# ----------------------------------------------------------------- pre-trade checks and the journal


class BuyOnFirstBars(Strategy):
    """Buys ``quantity`` AAPL at market on each of the first ``count`` bars."""

    def __init__(self, count: int, quantity: int = 10, strategy_id: str | None = None) -> None:
        super().__init__(strategy_id=strategy_id)
        self.count, self.quantity = count, quantity

    def on_start(self) -> None:
        self.subscribe_bars("AAPL")
        self.placed: list[str] = []

    def on_bar(self, bar: Bar) -> None:
        if len(self.placed) < self.count:
            self.placed.append(self.submit(Side.BUY, "AAPL", self.quantity))


def aapl_data() -> BarData:
    return BarData([load_bars(sample_data_path())["AAPL"]])


def run_recorded(
    runner: BacktestRunner, monkeypatch: pytest.MonkeyPatch
) -> tuple[RunResult, EventRecorder, list[OrderRequest]]:
    """Run with a recorder on the bus and a record of every request the paper venue received."""
    recorder = EventRecorder(runner.engine.bus, [OrderSubmitted, OrderDenied, OrderAccepted, OrderFilled])
    venue_received: list[OrderRequest] = []
    submit = runner.broker.submit_order

    def recording_submit(request: OrderRequest) -> None:
        venue_received.append(request)
        submit(request)

    monkeypatch.setattr(runner.broker, "submit_order", recording_submit)
    return runner.run(), recorder, venue_received


def test_max_order_quantity_denies_with_the_reason_and_the_venue_never_sees_the_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runner = BacktestRunner(OneOrder(), aapl_data(), risk=RiskConfig(max_order_quantity=Decimal(5)))
    result, recorder, venue_received = run_recorded(runner, monkeypatch)
    (denied,) = recorder.of(OrderDenied)
    assert denied.client_order_id == "BT.1"
    assert denied.reason == "quantity 10 exceeds max_order_quantity 5 (global limit)"
    assert recorder.types() == [OrderDenied]
    assert venue_received == []
    (order,) = result.orders
    assert order.status is OrderStatus.DENIED
    assert order.reason == denied.reason
    assert result.fills == []
    assert result.final_equity == result.starting_cash


def test_max_position_lets_orders_through_until_the_position_would_pass_it(monkeypatch: pytest.MonkeyPatch) -> None:
    runner = BacktestRunner(BuyOnFirstBars(3), aapl_data(), risk=RiskConfig(max_position=Decimal(25)))
    result, recorder, venue_received = run_recorded(runner, monkeypatch)
    assert [r.client_order_id for r in venue_received] == ["BT.1", "BT.2"]
    (denied,) = recorder.of(OrderDenied)
    assert denied.client_order_id == "BT.3"
    assert denied.reason == "position would reach 30, above max_position 25 (global limit)"
    assert [o.status for o in result.orders] == [OrderStatus.FILLED, OrderStatus.FILLED, OrderStatus.DENIED]
    assert sum(f.quantity for f in result.fills) == 20


def test_per_strategy_limits_apply_to_that_strategy_only() -> None:
    limits = RiskConfig(strategies={"tight": {"max_order_quantity": Decimal(5)}})
    strategies = [BuyOnFirstBars(1, strategy_id="tight"), BuyOnFirstBars(1, strategy_id="loose")]
    result = run_backtest(strategies, aapl_data(), risk=limits)
    by_strategy = {o.request.strategy_id: o for o in result.orders}
    assert by_strategy["tight"].status is OrderStatus.DENIED
    assert by_strategy["tight"].reason == "quantity 10 exceeds max_order_quantity 5 (strategy tight limit)"
    assert by_strategy["loose"].status is OrderStatus.FILLED


def test_notional_limit_prices_the_order_at_the_close_of_the_bar_it_was_placed_on() -> None:
    series = load_bars(sample_data_path())["AAPL"]
    close = Instrument(symbol="AAPL").round_price(series.closes[0])
    at_limit = run_backtest(OneOrder(), BarData([series]), risk=RiskConfig(max_order_notional=10 * close))
    assert at_limit.orders[0].status is OrderStatus.FILLED
    below = run_backtest(OneOrder(), BarData([series]), risk=RiskConfig(max_order_notional=10 * close - 1))
    (order,) = below.orders
    assert order.status is OrderStatus.DENIED
    assert order.reason == f"notional {10 * close} exceeds max_order_notional {10 * close - 1} (global limit)"


def test_risk_limits_add_no_bar_handler_and_read_the_last_replayed_close() -> None:
    series = load_bars(sample_data_path())["AAPL"]
    runners = [
        BacktestRunner(OneOrder(), BarData([series])),
        BacktestRunner(OneOrder(), BarData([series]), risk=RiskConfig(max_order_quantity=Decimal(5))),
    ]
    plain, limited = (runner.engine.bus.receiver_count(BarClosed) for runner in runners)
    assert limited == plain  # the limits cost time per order, never per bar
    runners[1].run()
    assert runners[1].engine.state.reference_price("AAPL") == Decimal(repr(series.closes[-1]))


def test_a_halted_kill_switch_denies_every_order(tmp_path: Path) -> None:
    flag = tmp_path / "HALT"
    halt(flag, "desk closed", datetime(2024, 1, 2, tzinfo=UTC))
    result = run_backtest(BuyOnFirstBars(2), aapl_data(), halt_file=flag, risk=RiskConfig())
    assert [o.status for o in result.orders] == [OrderStatus.DENIED] * 2
    assert {o.reason for o in result.orders} == {"trading halted: desk closed"}


def test_the_journal_records_every_intent_event_and_fill(tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "journal.sqlite", synchronous="normal")
    try:
        result = run_backtest(
            BuyOnFirstBars(3), aapl_data(), risk=RiskConfig(max_position=Decimal(25)), journal=journal
        )
        stored = journal.orders()
        assert [(o.client_order_id, o.status) for o in stored] == [(o.client_order_id, o.status) for o in result.orders]
        assert journal.fills() == result.fills
        assert journal.run_ids() == ["BT"]
        assert [e.event for e in journal.history("BT.3")] == ["OrderIntent", "OrderDenied"]
        assert [e.event for e in journal.history("BT.1")] == [
            "OrderIntent",
            "OrderSubmitted",
            "OrderAccepted",
            "OrderFilled",
        ]
    finally:
        journal.close()


def test_a_journal_that_already_holds_orders_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    first = SqliteJournal(path, synchronous="normal")
    run_backtest(OneOrder(), aapl_data(), journal=first)
    first.close()
    again = SqliteJournal(path, synchronous="normal")
    with pytest.raises(ValueError, match="already holds orders"):
        BacktestRunner(OneOrder(), aapl_data(), journal=again)
    again.close()
