"""The walk-forward report: its charts' data on a hand-made result, the page on a real one, the CLI's page."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from brokers.paper.config import PaperConfig
from tests.tradebus.sweep_fixture import SPEC
from tests.tradebus.sweep_fixture import InterruptAfter
from tests.tradebus.sweep_fixture import write_daily_bars
from tests.tradebus.wf_fixture import HOLD
from tests.tradebus.wf_fixture import zigzag
from tradebus.cli import main
from tradebus.interrupts import EXIT_INTERRUPTED
from tradebus.report import ReportUnavailableError
from tradebus.report import render_walk_forward_report
from tradebus.report import write_walk_forward_report
from tradebus.report.formatting import iso
from tradebus.report.formatting import percent
from tradebus.report.wf_series import MAX_BAND_LABELS
from tradebus.report.wf_series import MAX_NUMBER_LABELS
from tradebus.report.wf_series import SHADES
from tradebus.report.wf_series import UNTRADED
from tradebus.report.wf_series import bands
from tradebus.report.wf_series import comparison
from tradebus.report.wf_series import equity_points
from tradebus.sweep import InProcessExecutor
from tradebus.sweep import walk_forward
from tradebus.sweep.wf_cli import print_windows
from tradebus.sweep.wf_result import WalkForwardResult
from tradebus.sweep.wf_result import WindowResult
from tradebus.sweep.wf_result import annualised

T0 = datetime(2024, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)
FAILED = "every train run failed; the first: strategy error: boom"


def window(number: int, params: dict[str, Any] | None, *, partial: bool = False, is_metric: float | None = 0.02,
           oos: float | None = -0.01, failure: str | None = None) -> WindowResult:
    """Window ``number``: train 10 days, then test 5 days (3 when partial), one after the other."""
    test_start = T0 + (10 + 5 * (number - 1)) * DAY
    traded = params is not None
    return WindowResult(
        number=number, train_start=test_start - 10 * DAY, train_end=test_start, test_start=test_start,
        test_end=test_start + (3 if partial else 5) * DAY, partial=partial, params=params,
        is_metric=is_metric if traded else None, oos_metric=oos if traded else None,
        is_return=0.02 if traded else None, oos_return=oos if traded else None,
        is_annualised=0.5 if traded else None, oos_annualised=-0.3 if traded else None,
        trades=2 if traded else 0, fills=4 if traded else 0, train_runs=2 if traded else 0, warmup_bars=10,
        failure=failure,
    )


def hand_made(*, interrupted: bool = False) -> WalkForwardResult:
    """W1 traded hold=1 (100 -> 110 -> 99); W2 not traded (every train run failed); W3 hold=0, cut short,
    chosen blind (no set had the metric in sample): 99 -> 104.50."""
    windows = (window(1, {"hold": 1}), window(2, None, failure=FAILED),
               window(3, {"hold": 0}, partial=True, is_metric=None, oos=0.0556))
    w1, w3 = windows[0].test_start, windows[2].test_start
    times = (w1, w1 + DAY, w1 + 5 * DAY, w3 + DAY, w3 + 3 * DAY)
    equity = tuple(Decimal(v) for v in ("100000", "110000", "99000", "101000", "104500"))
    return WalkForwardResult(
        metric="total_return", params=("hold",), windows=windows, planned=4 if interrupted else 3,
        starting_cash=Decimal(100_000), equity_times=times, equity=equity, equity_windows=(1, 1, 1, 3, 3),
        statistics=None, periods_per_year=252.0, interrupted=interrupted)


def test_bands_cover_each_test_window_with_its_parameters() -> None:
    result = hand_made()
    found = bands(result)
    assert [(b.start, b.end) for b in found] == [(w.test_start.timestamp(), w.test_end.timestamp())
                                                 for w in result.windows]
    assert [b.label for b in found] == ["W1 hold=1", "W2 not traded", "W3 hold=0 (partial)"]
    assert [b.color for b in found] == [SHADES[0], UNTRADED, SHADES[0]]  # the shades alternate by position


def many(count: int) -> WalkForwardResult:
    windows = tuple(window(i, {"hold": i % 2}) for i in range(1, count + 1))
    return WalkForwardResult("total_return", ("hold",), windows, len(windows), Decimal(1), (), (), (), None, 252.0)


def test_many_windows_are_labelled_by_number_only() -> None:
    found = bands(many(MAX_BAND_LABELS + 1))
    assert [b.label for b in found] == [f"W{n}" for n in range(1, MAX_BAND_LABELS + 2)]
    assert [b.color for b in found][:3] == [SHADES[0], SHADES[1], SHADES[0]]
    assert [b.label for b in bands(many(MAX_NUMBER_LABELS))][-1] == f"W{MAX_NUMBER_LABELS}"


def test_parameter_labels_too_long_to_fit_side_by_side_become_numbers() -> None:
    long = {f"parameter_{i}": 0.125 for i in range(3)}  # about 60 characters a window: three would not fit
    windows = tuple(window(i, long) for i in range(1, 4))
    result = WalkForwardResult("total_return", tuple(long), windows, 3, Decimal(1), (), (), (), None, 252.0)
    assert [b.label for b in bands(result)] == ["W1", "W2", "W3"]
    two = WalkForwardResult("total_return", tuple(long), windows[:2], 2, Decimal(1), (), (), (), None, 252.0)
    first, _ = bands(two)  # two fit
    assert first.label.startswith("W1 parameter_0=0.125")


def test_too_many_windows_to_number_each_are_numbered_every_few() -> None:
    # 61 windows (a day of minute bars in half-hour windows) drew 61 labels over one another: now W1, W4, W7 ...
    found = bands(many(61))
    labels = [b.label for b in found if b.label]
    assert labels == [f"W{n}" for n in range(1, 62, 3)]
    assert len(labels) <= MAX_NUMBER_LABELS
    assert len(found) == 61  # every window is still shaded (and hovers with its own text)


def test_each_equity_point_hovers_with_its_window_and_has_its_drawdown() -> None:
    points = equity_points(hand_made())
    assert points.equity == [100_000.0, 110_000.0, 99_000.0, 101_000.0, 104_500.0]
    assert points.drawdown == pytest.approx([0.0, 0.0, -0.1, 101 / 110 - 1, 104.5 / 110 - 1])
    first = "window 1: test 2024-03-11 to 2024-03-16<br>hold=1<br>OOS return -1.00 %"
    last = "window 3: test 2024-03-21 to 2024-03-24 (partial: the data ended)<br>hold=0<br>OOS return 5.56 %"
    assert points.hover == [first] * 3 + [last] * 2


def test_reduced_points_keep_their_own_window_and_drawdown() -> None:
    result = hand_made()
    seconds = [T0.timestamp() + i * 3600 for i in range(400)]
    values = [100_000 + 50 * ((i * 37) % 23) - i for i in range(400)]  # jagged, with new peaks and drawdowns
    owner = tuple(1 if i < 200 else 3 for i in range(400))
    long = WalkForwardResult(result.metric, result.params, result.windows, 3, Decimal(100_000),
                             tuple(datetime.fromtimestamp(s, UTC) for s in seconds),
                             tuple(Decimal(v) for v in values), owner, None, 252.0)
    full, reduced = equity_points(long, limit=10_000), equity_points(long, limit=40)
    assert len(reduced.seconds) < 60
    for i, s in enumerate(reduced.seconds):
        at = full.seconds.index(s)
        assert (reduced.equity[i], reduced.drawdown[i], reduced.hover[i]) == (
            full.equity[at], full.drawdown[at], full.hover[at])
    assert min(reduced.drawdown) == min(full.drawdown)  # the deepest point survives the reduction


def test_in_and_out_of_sample_bars_per_window() -> None:
    xs, panels = comparison(hand_made())
    assert xs == ["W1", "W2 (not traded)", "W3 (partial)"]
    (metric_title, (is_bars, oos_bars)), (yearly_title, (is_yearly, oos_yearly)) = panels
    assert (metric_title, yearly_title) == ("total_return %", "annualised return %")
    assert is_bars.values == [2.0, None, None]  # percent; W3 was chosen without an in-sample value
    assert oos_bars.values == pytest.approx([-1.0, None, 5.56])
    assert (is_yearly.values, oos_yearly.values) == ([50.0, None, 50.0], [-30.0, None, -30.0])
    assert oos_bars.hover[0].startswith("W1 OOS: total_return -1.00 %<br>window 1: test 2024-03-11")
    assert "why: every train run failed; the first: strategy error: boom" in is_bars.hover[1]


def plot(page: str, div_id: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A figure's traces and layout, from plotly's ``Plotly.newPlot("<id>", [traces], {layout}, {config})``."""
    decoder = json.JSONDecoder()
    start = page.index("[", page.index(f'"{div_id}",'))
    traces, end = decoder.raw_decode(page, start)
    layout, _ = decoder.raw_decode(page, page.index("{", end))
    return traces, layout


def test_page_of_a_hand_made_walk_forward_says_why_windows_lack_values() -> None:
    pytest.importorskip("plotly")
    page = render_walk_forward_report(hand_made(interrupted=True))
    assert "Partial walk-forward: interrupted after 3 of 4 windows" in page
    table = page[page.index('class="grid wf-table"'):]
    assert table.count("<tr") == 1 + 3
    assert '<tr class="untraded">' in table
    assert "not traded: every train run failed; the first: strategy error: boom" in table
    assert "no set had a total_return in sample; the first in grid order was taken" in table
    assert "partial: the data ended inside the test window" in table
    assert "IS return" not in table  # ranked by total_return: the metric columns are the returns
    # train and test ranges break after "to": with both on one line the table ran past the page's width
    assert "<td>1</td><td>2024-03-01 to<br>2024-03-11</td><td>2024-03-11 to<br>2024-03-16</td>" in table
    _, layout = plot(page, "wf-equity")
    untraded = [s for s in layout["shapes"] if s.get("fillcolor") == UNTRADED]
    assert {(s["x0"], s["yref"]) for s in untraded} == {(iso(hand_made().windows[1].test_start.timestamp()), y)
                                                        for y in ("y domain", "y2 domain")}  # over both panels
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page)  # self-contained


def test_page_without_any_traded_window_says_so() -> None:
    pytest.importorskip("plotly")
    empty = WalkForwardResult("sharpe", ("hold",), (window(1, None, failure=FAILED),), 1, Decimal(100), (), (), (),
                              None, 252.0)
    page = render_walk_forward_report(empty)
    assert "No out-of-sample equity: no window was traded" in page
    assert 'id="wf-equity"' not in page
    assert 'id="wf-windows"' in page


VENUE = PaperConfig(starting_cash=Decimal(10_000))


@pytest.fixture(scope="module")
def real() -> WalkForwardResult:
    # 55 daily bars: 4 full windows of 10 and a last one cut to 5; hold wins the rising train legs
    return walk_forward(HOLD, zigzag(55), {"hold": [0, 1]}, train=10, test="10bars", metric="total_return",
                        venue=VENUE, executor=InProcessExecutor())


def test_page_of_a_real_walk_forward_draws_the_windows_where_they_are(real: WalkForwardResult, tmp_path: Path) -> None:
    pytest.importorskip("plotly")
    page = write_walk_forward_report(real, tmp_path).read_text(encoding="utf-8")
    for fact in ("tests.tradebus.wf_fixture:Hold", "rolling: train 10 bars, test 10bars, step 10bars",
                 "each test run first replays its train window", "5 of 5 planned", "in process"):
        assert fact in page
    traces, layout = plot(page, "wf-equity")
    equity = traces[0]
    assert equity["y"] == [float(e) for e in real.equity]
    assert equity["x"] == [iso(t.timestamp()) for t in real.equity_times]
    for x, text, number in zip(equity["x"], equity["text"], real.equity_windows, strict=True):
        w = real.windows[number - 1]
        assert text.startswith(f"window {number}: test {w.test_start:%Y-%m-%d} to {w.test_end:%Y-%m-%d}")
        assert f"OOS return {percent(w.oos_return)}" in text
        assert iso(w.test_start.timestamp()) <= x <= iso(w.test_end.timestamp())
    edges = sorted({(s["x0"], s["x1"]) for s in layout["shapes"] if s["type"] == "rect"})
    assert edges == [(iso(w.test_start.timestamp()), iso(w.test_end.timestamp())) for w in real.windows]
    labels = [a["text"] for a in layout["annotations"]]
    assert labels == ["W1 hold=1", "W2 hold=0", "W3 hold=1", "W4 hold=0", "W5 hold=1 (partial)"]
    cash = [s for s in layout["shapes"] if s["type"] == "line"]
    assert [(s["y0"], s["y1"]) for s in cash] == [(10_000, 10_000)]  # the starting cash
    assert traces[1]["name"] == "drawdown %"
    bars, _ = plot(page, "wf-windows")
    assert bars[0]["x"][-1] == "W5 (partial)"
    assert bars[1]["y"] == pytest.approx([w.oos_return * 100 for w in real.windows])  # type: ignore[operator]
    assert f"{real.summary()['final_equity']:,.2f}" in page
    assert "Walk-forward efficiency" in page


@pytest.mark.usefixtures("no_plotly")
def test_without_plotly_the_report_names_the_extra(tmp_path: Path) -> None:
    with pytest.raises(ReportUnavailableError, match=re.escape("pip install 'tradebus[report]'")):
        write_walk_forward_report(hand_made(), tmp_path)
    assert not (tmp_path / "walkforward.html").exists()


@pytest.fixture(scope="module")
def bars_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_daily_bars(tmp_path_factory.mktemp("wf-report") / "daily.csv", days=60)


ARGS = ["walk-forward", SPEC, "--grid", "fast=3,6", "--grid", "slow=12", "--train", "20bars", "--test", "15bars",
        "--metric", "total_return", "--no-progress"]


def test_cli_writes_walkforward_html_next_to_the_csvs(bars_file: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("plotly")
    out = tmp_path / "out"
    assert main([*ARGS, "--data", str(bars_file), "--executor", "local", "--workers", "1", "--out", str(out)]) == 0
    assert "wrote windows.csv, oos_equity.csv, walkforward.html" in capsys.readouterr().out
    page = (out / "walkforward.html").read_text(encoding="utf-8")
    assert "local, 1 worker" in page
    assert "Partial walk-forward" not in page
    traces, _ = plot(page, "wf-equity")
    assert len(traces[0]["y"]) == len((out / "oos_equity.csv").read_text(encoding="utf-8").splitlines()) - 1


@pytest.mark.usefixtures("no_plotly")
def test_cli_without_plotly_skips_the_report_in_one_line(bars_file: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tradebus.sweep.wf_cli.executor_from_args", lambda args: InProcessExecutor())
    out = tmp_path / "out"
    assert main([*ARGS, "--data", str(bars_file), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "walk-forward report skipped: the HTML report needs plotly, which is not installed: " \
           "pip install 'tradebus[report]'\n" in err
    assert err.count("walk-forward report skipped") == 1
    assert (out / "windows.csv").is_file()
    assert not (out / "walkforward.html").exists()


def test_cli_interrupted_writes_a_partial_report(bars_file: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("plotly")
    # 60 bars: windows test at 20, 35, 50 (the last cut short); 3 x 2 train runs, then stop after one test run
    monkeypatch.setattr("tradebus.sweep.wf_cli.executor_from_args", lambda args: InterruptAfter(7))
    out = tmp_path / "out"
    assert main([*ARGS, "--data", str(bars_file), "--out", str(out)]) == EXIT_INTERRUPTED
    page = (out / "walkforward.html").read_text(encoding="utf-8")
    assert "Partial walk-forward: interrupted after 1 of 3 windows" in page
    _, layout = plot(page, "wf-equity")
    assert [a["text"].split()[0] for a in layout["annotations"]] == ["W1"]


def test_efficiency_compares_returns_per_bar_and_short_runs_are_not_annualised() -> None:
    # OOS: 100,000 -> 104,500 over 4 bar periods; IS: +2 % over 10 periods (W1) and 20 periods (W3)
    result = hand_made()
    windows = (replace(result.windows[0], is_periods=10), result.windows[1], replace(result.windows[2], is_periods=20))
    result = replace(result, windows=windows)
    oos_rate = 1.045 ** (1 / 4) - 1
    is_rate = ((1.02 ** (1 / 10) - 1) + (1.02 ** (1 / 20) - 1)) / 2
    assert result.efficiency == pytest.approx(oos_rate / is_rate)
    # four daily periods are far from the 20 trading days the statistics annualise: no annualised return
    assert result.oos_annualised is None
    # the statistics' rule (annualization_note): 20 trading days' worth of equity samples, one more than returns
    assert annualised(0.02, 18, 252.0) is None
    assert annualised(0.02, 19, 252.0) == pytest.approx(1.02 ** (252 / 19) - 1)
    assert annualised(0.02, 7_798, 98_280.0) is None  # 1-minute bars: 20 sessions are 7,800 samples


def test_the_annualised_panel_is_left_out_when_no_window_is_long_enough_to_annualise() -> None:
    result = hand_made()
    assert [title for title, _ in comparison(result)[1]] == ["total_return %", "annualised return %"]
    short = replace(result, windows=tuple(replace(w, is_annualised=None, oos_annualised=None) for w in result.windows))
    assert [title for title, _ in comparison(short)[1]] == ["total_return %"]
    assert "OOS annualised return</th><td>not annualised (run too short)" in render_walk_forward_report(short)


def test_the_printed_windows_carry_their_times_when_windows_start_at_different_times_of_day(
    capsys: pytest.CaptureFixture[str],
) -> None:
    daily = many(2)
    print_windows(daily)
    assert capsys.readouterr().out.splitlines()[1].split()[:3] == ["1", "2024-03-11", "2024-03-16"]
    hour = timedelta(hours=1)
    halves = tuple(replace(w, test_start=w.test_start + i * hour, test_end=w.test_end + i * hour)
                   for i, w in enumerate(daily.windows))  # a second window an hour later in its day
    print_windows(replace(daily, windows=halves))
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[:5] == ["1", "2024-03-11", "00:00", "2024-03-16", "00:00"]
    assert lines[2].split()[:5] == ["2", "2024-03-16", "01:00", "2024-03-21", "01:00"]
