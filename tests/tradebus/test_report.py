"""The HTML report: sections, the numbers in them, human units, the benchmark, partial runs, the missing extra."""

from __future__ import annotations

import html as htmllib
import re
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from brokers.paper.config import PaperConfig
from brokers.paper.costs import PerShareCommission
from brokers.paper.costs import TickSlippage
from framework.models import Fill
from framework.models import Position
from framework.models import Side
from framework.supervision import RunOutcome
from tradebus import cli
from tradebus.price_history import PriceHistory
from tradebus.recording import write_outputs
from tradebus.report import ReportUnavailableError
from tradebus.report import downsample
from tradebus.report import write_report
from tradebus.report.formatting import human_duration
from tradebus.report.series import MAX_TICKS
from tradebus.report.series import benchmark
from tradebus.report.series import quiet_times
from tradebus.report.series import time_ticks
from tradebus.results import EquityCurve
from tradebus.results import RunResult

T0 = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
MISSING = "the HTML report needs plotly, which is not installed: pip install 'tradebus[report]'"
MINUTES = 5 * 1440  # five days of one-minute samples


def fill(n: int, side: Side, quantity: int, price: str, minute: int, symbol: str = "AAPL") -> Fill:
    return Fill(f"e{n}", f"c{n}", symbol, side, Decimal(quantity), Decimal(price), Decimal("1.00"),
                T0 + timedelta(minutes=minute))  # fmt: skip


def hand_run(*, outcome: RunOutcome | None = None, bars_total: int | None = None) -> RunResult:
    """Two closed trades and one open position, each worked out by hand in the test that reads it.

    AAPL long: buy 100 @ 100 (minute 1), sell 100 @ 110 (minute 61): +1,000 - 2.00 commission = 998.00, held 1 h.
    MSFT short: sell 20 @ 50 (minute 120), buy 20 @ 55 (minute 1,680): -100 - 2.00 = -102.00, held 1 d 2 h.
    AAPL open: buy 10 @ 105 (minute 2,000); the last AAPL close is 107.
    Equity: 10,000, 9,500 from minute 100 until minute 4,660 (3 d 4 h after the peak at minute 99), then 10,100.
    """
    curve = EquityCurve(timedelta(minutes=1))
    start = T0.timestamp()
    for i in range(MINUTES):
        curve.append(start + 60 * i, 10_000.0 if i < 100 else 9_500.0 if i < 4_660 else 10_100.0, 99 < i < 200)
    fills = [
        fill(1, Side.BUY, 100, "100", 1), fill(2, Side.SELL, 100, "110", 61),
        fill(3, Side.SELL, 20, "50", 120, "MSFT"), fill(4, Side.BUY, 20, "55", 1_680, "MSFT"),
        fill(5, Side.BUY, 10, "105", 2_000),
    ]  # fmt: skip
    times = [start + 60 * i for i in range(MINUTES)]
    prices = {
        "AAPL": PriceHistory(times, [100 + 7 * i / (MINUTES - 1) for i in range(MINUTES)]),
        "MSFT": PriceHistory(times, [50 - 10 * i / (MINUTES - 1) for i in range(MINUTES)]),
    }
    return RunResult(
        orders=[], fills=fills, curve=curve, starting_cash=Decimal(10_000), final_cash=Decimal(8_846),
        final_equity=Decimal(9_916), bar_count=MINUTES, bars_total=bars_total, outcome=outcome, prices=prices,
        positions=[Position(symbol="AAPL", quantity=Decimal(10), average_price=Decimal(105), last_price=Decimal(107),
                            unrealized_pnl=Decimal(20), ts=T0 + timedelta(minutes=MINUTES))],
        paper_config=PaperConfig(starting_cash=Decimal(10_000), commission=PerShareCommission(),
                                 slippage=TickSlippage(ticks=2), latency=timedelta(milliseconds=250)),
    )  # fmt: skip


def text(page: str) -> str:
    """The page's visible text, one space between cells, scripts removed."""
    page = re.sub(r"<(script|style).*?</(script|style)>", " ", page, flags=re.S)
    page = re.sub(r"<[^>]+>", " ", page)
    return re.sub(r"\s+", " ", htmllib.unescape(page).replace("\u00a0", " "))


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = write_report(hand_run(), tmp_path_factory.mktemp("report"), mode="backtest", strategies=["Hand"])
    return path.read_text(encoding="utf-8")


def test_page_is_one_self_contained_file_with_every_section(page: str) -> None:
    for heading in ("Equity and drawdown", "Statistics", "Prices, entries and exits", "Trades (2 closed)",
                    "Open positions at the end", "Costs and fills assumed"):
        assert f"<h2>{heading}</h2>" in page
    assert "<title>Hand: backtest report</title>" in page
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page)  # plotly.js and the styles are inline
    assert page.count('class="plotly-graph-div"') == 3  # equity and drawdown, AAPL, MSFT


def test_title_states_mode_span_symbols_and_bars(page: str) -> None:
    shown = text(page)
    assert "Mode backtest" in shown
    assert "Data 2024-01-02 14:30:00 UTC to 2024-01-07 14:29:00 UTC (4 d 23 h)" in shown
    assert "Symbols AAPL, MSFT" in shown
    assert "Bars 7,200 bars replayed, bars of 1 min" in shown
    assert "Commissions 5.00" in shown


def test_trades_table_has_commission_holding_time_and_net_pnl(page: str) -> None:
    shown = text(page)
    assert ("1 AAPL long 100 2024-01-02 14:31:00 UTC 100.00 2024-01-02 15:31:00 UTC 110.00 2.00 1 h 998.00"
            in shown)  # fmt: skip
    assert ("2 MSFT short 20 2024-01-02 16:30:00 UTC 50.00 2024-01-03 18:30:00 UTC 55.00 2.00 1 d 2 h -102.00"
            in shown)  # fmt: skip


def test_open_positions_show_average_and_last_price_and_unrealised_pnl(page: str) -> None:
    assert "AAPL 10 105.00 107.00 1,070.00 20.00" in text(page)


def test_statistics_label_per_trade_figures_and_use_human_durations(page: str) -> None:
    shown = text(page)
    assert "Win rate (per trade) 50.00 %" in shown
    assert "Average win (per trade) 998.00" in shown
    assert "Average loss (per trade) -102.00" in shown
    assert "Expectancy (per trade) 448.00" in shown  # (998 - 102) / 2
    assert "Profit factor (per trade) 9.78" in shown  # 998 / 102
    assert "Max drawdown -5.00 %" in shown
    assert "Max drawdown duration 3 d 4 h" in shown
    assert "Exposure (share of 1 min periods with a position)" in shown
    assert "µs" not in shown
    assert "microsecond" not in shown


def test_benchmark_is_equal_weight_buy_and_hold_of_the_traded_symbols(page: str) -> None:
    # 5,000 in AAPL from 100 to 107 and 5,000 in MSFT from 50 to 40: 5,350 + 4,000 = 9,350
    assert "Buy and hold, equal weight (benchmark) -6.50 %" in text(page)
    assert "buy and hold (equal weight)" in page  # the dotted line on the equity chart


def test_assumptions_state_the_venue_costs_and_fills(page: str) -> None:
    shown = text(page)
    assert "Starting cash 10,000.00 USD" in shown
    assert "Commission 0.005 per share, at least 1.00 per fill, capped at 1 % of the trade value" in shown
    assert "Slippage 2 tick(s) against the order on market, stop and trailing-stop fills" in shown
    assert "Latency 250 ms from submission until the order works at the venue" in shown
    assert "next bar's open" in shown


def test_fills_are_marked_on_the_price_chart_with_their_details(page: str) -> None:
    hover = "BUY 100 @ 100.00\\u003cbr\\u003e2024-01-02 14:31:00 UTC\\u003cbr\\u003ecommission 1.00"
    assert hover in page  # the marker's hover text, as plotly's JSON escapes it
    assert '"triangle-down"' in page


def test_a_run_too_short_to_annualise_says_so_instead_of_a_number(tmp_path: Path) -> None:
    curve = EquityCurve(timedelta(minutes=1))
    for i, equity in enumerate([10_000.0, 10_050.0, 10_020.0, 10_080.0, 10_100.0]):
        curve.append(T0.timestamp() + 60 * i, equity, False)
    result = RunResult(orders=[], fills=[], curve=curve, starting_cash=Decimal(10_000), final_cash=Decimal(10_100),
                       final_equity=Decimal(10_100), bar_count=5)  # fmt: skip
    assert result.statistics.cagr is None
    note = result.statistics.annualization_note
    assert note
    shown = text(write_report(result, tmp_path).read_text(encoding="utf-8"))
    assert "CAGR (annualised) not annualised (run too short)" in shown
    assert "Sharpe (annualised from 1 min returns) not annualised (run too short)" in shown
    assert "Volatility (annualised from 1 min returns) not annualised (run too short)" in shown
    assert note[1:] in shown  # and the note says why, once
    assert "%" not in shown.split("CAGR (annualised)")[1].split("Max drawdown")[0]
    assert "Max drawdown duration 2 min" in shown  # from the peak of 10,050 to 10,080


def test_partial_run_gets_a_warning_banner(tmp_path: Path) -> None:
    outcome = RunOutcome()
    outcome.interrupt()
    result = hand_run(outcome=outcome, bars_total=10_000)
    page = write_report(result, tmp_path).read_text(encoding="utf-8")
    assert ('<div class="banner" role="alert">Partial result (interrupted): interrupted (Ctrl-C). 7,200 of 10,000 '
            "bars were replayed. Every figure below covers only the part that ran.</div>") in page  # fmt: skip
    assert 'role="alert"' not in write_report(hand_run(), tmp_path).read_text("utf-8")


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (timedelta(0), "0 s"),
        (timedelta(microseconds=350), "< 1 s"),
        (timedelta(seconds=40, microseconds=600_000), "41 s"),
        (timedelta(minutes=25), "25 min"),
        (timedelta(hours=2, minutes=5, seconds=9), "2 h 5 min"),
        (timedelta(days=3, hours=4, minutes=1), "3 d 4 h"),
        (timedelta(days=2), "2 d"),
        (None, "n/a"),
    ],
)
def test_durations_are_in_human_units(value: timedelta | None, shown: str) -> None:
    assert human_duration(value) == shown


def test_benchmark_splits_the_cash_and_joins_a_symbol_at_its_first_price() -> None:
    closes = {"A": PriceHistory([0.0, 10.0], [10.0, 20.0]), "B": PriceHistory([10.0], [50.0])}
    # B has no price at t=0: its half waits in cash, then buys at 50
    assert benchmark([0.0, 10.0], closes, ["A", "B"], 1_000.0) == [1_000.0, 1_500.0]
    assert benchmark([0.0], closes, ["C"], 1_000.0) is None


def test_range_breaks_hide_weekends_and_closed_hours() -> None:
    start = T0.timestamp()  # a Tuesday, 14:30 UTC: sessions 14:30 to 21:00
    seconds = [start + day * 86_400 + 60 * m for day in range(3) for m in range(391)]
    assert quiet_times(seconds) == [{"bounds": ["sat", "mon"]}, {"pattern": "hour", "bounds": [21.0 + 1 / 60, 14.5]}]


def test_an_axis_with_breaks_over_two_sessions_is_ticked_by_the_hour_on_its_samples() -> None:
    # Friday 5 January 2024 15:00-21:00 UTC, then Monday the 8th 14:30-21:00, a sample a minute: plotly's own
    # ticks (midnight, noon) all fell in the night's break and one label showed
    friday = datetime(2024, 1, 5, 15, tzinfo=UTC).timestamp()
    monday = datetime(2024, 1, 8, 14, 30, tzinfo=UTC).timestamp()
    seconds = [friday + 60 * m for m in range(361)] + [monday + 60 * m for m in range(391)]
    values, labels = time_ticks(seconds)
    assert 4 <= len(values) <= MAX_TICKS
    assert set(values) <= set(seconds)
    assert labels[0] == "Jan 5 2024 15:00"
    assert sum(label.startswith("Jan 8 ") for label in labels) == 1  # the date at the day's first tick only
    assert seconds[360] not in values  # Friday's close would sit beside Monday's first tick
    assert all(re.fullmatch(r"\d\d:\d\d", label) for label in labels if not label.startswith("Jan"))


def test_an_axis_with_breaks_over_many_sessions_is_ticked_by_the_day() -> None:
    start = T0.timestamp()  # a Tuesday, 14:30 UTC
    seconds = [start + day * 86_400 + 60 * m for day in range(20) if (day + 1) % 7 < 5 for m in range(391)]
    values, labels = time_ticks(seconds)
    assert len(values) <= MAX_TICKS
    assert labels[0] == f"{T0:%b} {T0.day} {T0.year}"
    assert all(re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}", label) for label in labels[1:])
    assert time_ticks([]) == ([], [])


def test_downsample_keeps_the_extremes_of_a_long_curve() -> None:
    values = [float(i % 1000) for i in range(100_000)]
    values[54_321] = -5.0
    xs, ys = downsample(list(range(100_000)), values, limit=400)
    assert len(ys) <= 400
    assert min(ys) == -5.0
    assert max(ys) == 999.0
    assert xs == sorted(xs)


def test_long_curves_are_drawn_with_a_few_thousand_points(tmp_path: Path) -> None:
    curve = EquityCurve(timedelta(minutes=1))
    for i in range(200_000):
        curve.append(T0.timestamp() + 60 * i, 10_000.0 + (i % 977), False)
    result = RunResult(orders=[], fills=[], curve=curve, starting_cash=Decimal(10_000), final_cash=Decimal(10_000),
                       final_equity=Decimal(10_000), bar_count=200_000)  # fmt: skip
    page = write_report(result, tmp_path).read_text(encoding="utf-8")
    assert len(page) < 6_000_000  # plotly.js is about 4.8 MB of it


def test_report_is_deterministic(tmp_path: Path) -> None:
    first = write_report(hand_run(), tmp_path / "a").read_bytes()
    second = write_report(hand_run(), tmp_path / "b").read_bytes()
    assert first == second


# ------------------------------------------------------------------- without the report extra


@pytest.mark.usefixtures("no_plotly")
def test_missing_extra_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(ReportUnavailableError) as caught:
        write_report(hand_run(), tmp_path)
    assert str(caught.value) == MISSING


@pytest.mark.usefixtures("no_plotly")
def test_outputs_without_the_extra_say_the_report_was_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    written = write_outputs(hand_run(), tmp_path)
    assert {p.name for p in written} == {"orders.csv", "fills.csv", "trades.csv", "equity.csv", "result.json"}
    err = capsys.readouterr().err
    assert err == f"report skipped: {MISSING}\n"
    with pytest.raises(ReportUnavailableError):
        write_outputs(hand_run(), tmp_path, report=True)


@pytest.mark.usefixtures("no_plotly")
def test_backtest_asked_for_a_report_without_the_extra_fails_before_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["backtest", "strategies.sma_cross:SmaCross", "--out", str(tmp_path / "out"), "--no-progress",
                     "--report"])  # fmt: skip
    assert code == 2
    assert capsys.readouterr().err.splitlines() == [
        f"tradebus backtest: error: {MISSING}"
    ]
    assert not (tmp_path / "out").exists()


def test_a_live_run_without_samples_still_gets_a_report(tmp_path: Path) -> None:
    result = RunResult(orders=[], fills=[], curve=EquityCurve(timedelta(seconds=1)), starting_cash=Decimal(5_000),
                       final_cash=Decimal(5_000), final_equity=Decimal(5_000))  # fmt: skip
    shown = text(write_report(result, tmp_path, mode="live", strategies=["s"]).read_text(encoding="utf-8"))
    assert "No equity samples were recorded." in shown
    assert "Data no equity samples" in shown
    assert "Venue Live account: prices, fills and commissions are the broker's own; nothing is simulated." in shown


def test_bar_end_times_are_the_starts_shifted_without_a_copy() -> None:
    from array import array

    from tradebus.price_history import PriceHistory
    from tradebus.price_history import ShiftedTimes

    starts = array("d", [0.0, 60.0, 120.0, 180.0])
    ends = ShiftedTimes(starts, 60.0)
    assert list(ends) == [60.0, 120.0, 180.0, 240.0]
    assert (len(ends), ends[-1], list(ends[1:3])) == (4, 240.0, [120.0, 180.0])
    history = PriceHistory(ends, [1.0, 2.0, 3.0, 4.0])
    assert (history.at(59.0), history.at(60.0), history.at(200.0)) == (None, 1.0, 3.0)
    assert list(history.between(120.0, 180.0).prices) == [2.0, 3.0]
