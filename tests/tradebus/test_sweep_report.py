"""The sweep report: the heat map's cells on a hand-made sweep, the page, the CLI's sweep.html, no plotly."""

from __future__ import annotations

import html
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from framework.errors import ConfigError
from tests.tradebus.doc_blocks import python_blocks
from tests.tradebus.sweep_fixture import SPEC
from tests.tradebus.sweep_fixture import InterruptAfter
from tests.tradebus.sweep_fixture import write_daily_bars
from tradebus.cli import main
from tradebus.interrupts import EXIT_INTERRUPTED
from tradebus.report import ReportUnavailableError
from tradebus.report import write_sweep_report
from tradebus.report.sweep_cells import MAX_AXIS
from tradebus.report.sweep_cells import heat_map
from tradebus.report.sweep_page import TOP_ROWS
from tradebus.sweep.grid import expand
from tradebus.sweep.info import SweepInfo
from tradebus.sweep.table import SweepResult
from tradebus.sweep.table import rank
from tradebus.sweep.tasks import TaskResult

GRID = {"fast": (2, 4, 6), "slow": (5, 10), "size": (1, 2)}


def run(index: int, params: dict[str, Any], sharpe: float | None, vol: float = 0.2,
        failure: str | None = None) -> TaskResult:
    stats = {"sharpe": sharpe, "annualized_volatility": vol, "total_return": 0.01 * index, "max_drawdown": -0.05,
             "trade_count": 3, "win_rate": 0.5}
    return TaskResult(index, params, stats, Decimal(100_000 + index), 6, failure)


def sweep(metric: str = "sharpe", *, interrupted: bool = False, search: str = "grid") -> SweepResult:
    """fast x slow x size with fast < slow; (6, 5) is excluded; (4, 5) failed; (2, 10) has no Sharpe.

    Interrupted: (4, 10, size 2) and (6, 10, both sizes) were planned but did not run.
    """
    sets = expand(GRID, lambda p: p["fast"] < p["slow"])
    values = {(2, 5, 1): (1.0, 0.30), (2, 5, 2): (1.5, 0.10), (4, 10, 1): (0.4, 0.05), (4, 10, 2): (0.9, 0.25),
              (6, 10, 1): (-0.3, 0.40), (6, 10, 2): (0.2, 0.35), (2, 10, 1): (None, 0.2), (2, 10, 2): (None, 0.2)}
    results = []
    for i, p in enumerate(sets):
        key = (p["fast"], p["slow"], p["size"])
        if interrupted and key in {(4, 10, 2), (6, 10, 1), (6, 10, 2)}:
            continue
        if key[:2] == (4, 5):
            results.append(run(i, p, 2.0, failure="strategy error: boom"))
            continue
        sharpe, vol = values[key]
        results.append(run(i, p, sharpe, vol))
    info = SweepInfo(SPEC, GRID, tuple(sets), search=search, executor="local, 2 workers", symbols=("AAPL",),
                     start=0.0, end=86_400.0 * 10, bar_seconds=86_400.0, bars=10)
    return SweepResult(metric, tuple(GRID), tuple(rank(results, metric)), len(sets), interrupted, info)


def cell_of(chart: Any, fast: int, slow: int) -> Any:
    return chart.cells[chart.ys.index(slow)][chart.xs.index(fast)]


def test_each_cell_is_the_best_over_the_other_parameters() -> None:
    chart = heat_map(sweep(), "fast", "slow")
    assert (chart.xs, chart.ys, chart.others) == ([2, 4, 6], [5, 10], ("size",))
    assert chart.higher_is_better
    assert chart.values == [[1.5, None, None], [None, 0.9, 0.2]]
    assert cell_of(chart, 2, 5).params == {"fast": 2, "slow": 5, "size": 2}
    hover = chart.hover("sharpe")
    assert hover[0][0] == "fast=2, slow=5, size=2<br>sharpe 1.50<br>best over size"


def test_blank_cells_say_why() -> None:
    chart = heat_map(sweep(), "fast", "slow")
    assert cell_of(chart, 4, 5).why == "failed: strategy error: boom"
    assert cell_of(chart, 6, 5).why == "excluded by a constraint"
    assert cell_of(chart, 2, 10).why.startswith("no sharpe")
    assert chart.hover("sharpe")[0][2] == "fast=6, slow=5<br>blank: excluded by a constraint"
    random = heat_map(sweep(search="random"), "fast", "slow")
    assert cell_of(random, 6, 5).why == "not drawn by the random search"


def test_an_interrupted_sweep_blanks_the_sets_not_run_and_keeps_the_best_finished() -> None:
    chart = heat_map(sweep(interrupted=True), "fast", "slow")
    assert cell_of(chart, 6, 10).why == "not run: the sweep was interrupted"
    assert cell_of(chart, 4, 10).value == 0.4  # size 2 did not run: the best of what did


def test_lower_is_better_takes_the_minimum_and_flips_the_colours() -> None:
    chart = heat_map(sweep("annualized_volatility"), "fast", "slow")
    assert not chart.higher_is_better
    assert chart.values == [[0.10, None, None], [0.2, 0.05, 0.35]]
    assert cell_of(chart, 4, 10).params == {"fast": 4, "slow": 10, "size": 1}


def test_axes_can_be_swapped_and_must_be_two_swept_parameters() -> None:
    chart = heat_map(sweep(), "size", "fast")
    assert (chart.xs, chart.ys, chart.others) == ([1, 2], [2, 4, 6], ("slow",))
    assert chart.values[0] == [1.0, 1.5]  # fast 2: size 1 best at slow 5 (slow 10 has no value)
    for bad in (("fast", "fast"), ("fast", "nope")):
        with pytest.raises(ConfigError) as e:
            heat_map(sweep(), *bad)
        assert e.value.key == "--heatmap"


def test_an_axis_too_long_to_draw_keeps_the_values_planned() -> None:
    grid = {"fast": tuple(range(1, MAX_AXIS + 100)), "slow": (50, 60)}
    sets = [{"fast": 250, "slow": 60}, {"fast": 7, "slow": 50}, {"fast": 30, "slow": 60}]  # a random search's draw
    results = tuple(run(i, p, 1.0 + i) for i, p in enumerate(sets[:2]))
    info = SweepInfo(SPEC, grid, tuple(sets), search="random")
    chart = heat_map(SweepResult("sharpe", ("fast", "slow"), results, 3, True, info), "fast", "slow")
    assert (chart.xs, chart.ys) == ([7, 30, 250], [50, 60])
    assert chart.values == [[2.0, None, None], [None, None, 1.0]]
    assert cell_of(chart, 30, 60).why == "not run: the sweep was interrupted"
    assert cell_of(chart, 7, 60).why == "not drawn by the random search"


def figure_json(page: str, div_id: str) -> dict[str, Any]:
    # plotly's to_html: Plotly.newPlot("<id>", [traces], {layout}, {config})
    start = page.index("[", page.index(f'"{div_id}",'))
    traces, _ = json.JSONDecoder().raw_decode(page, start)
    return {"data": traces}


def test_page_draws_the_heat_map_with_the_colours_the_right_way_round(tmp_path: Path) -> None:
    pytest.importorskip("plotly")
    for metric, reversed_ in (("sharpe", False), ("annualized_volatility", True)):
        page = write_sweep_report(sweep(metric), tmp_path / metric).read_text(encoding="utf-8")
        trace = figure_json(page, "sweep-heatmap")["data"][0]
        assert trace["type"] == "heatmap"
        assert trace["reversescale"] is reversed_
        assert trace["z"][0][1] is None
        assert "best over size" in page
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page)  # self-contained


def test_partial_banner_ranking_and_best_link(tmp_path: Path) -> None:
    pytest.importorskip("plotly")
    page = write_sweep_report(sweep(interrupted=True), tmp_path).read_text(encoding="utf-8")
    assert "Partial sweep: interrupted after 7 of 10 parameter sets" in page
    assert "7 run of 10 planned" in page
    assert 'href="report.html"' not in page  # no report.html in the folder
    (tmp_path / "report.html").write_text("<html></html>", encoding="utf-8")
    page = write_sweep_report(sweep(), tmp_path).read_text(encoding="utf-8")
    assert "Partial sweep" not in page
    assert 'href="report.html"' in page
    table = page[page.index('class="grid sweep-table"'):]
    assert table.count("<tr>") == 1 + 10  # header and every run (fewer than TOP_ROWS)
    assert html.escape("strategy error: boom") in table


def test_the_ranked_table_stops_at_the_top_rows(tmp_path: Path) -> None:
    pytest.importorskip("plotly")
    results = tuple(run(i, {"fast": i}, float(i)) for i in range(TOP_ROWS + 5))
    result = SweepResult("sharpe", ("fast",), tuple(rank(results, "sharpe")), len(results))
    page = write_sweep_report(result, tmp_path).read_text(encoding="utf-8")
    table = page[page.index('class="grid sweep-table"'):]
    assert table.count("<tr>") == 1 + TOP_ROWS
    assert f"the best {TOP_ROWS} of {TOP_ROWS + 5}" in page
    assert 'id="sweep-curve"' in page  # one parameter: a line chart, no heat map
    assert "sweep-heatmap" not in page


@pytest.mark.usefixtures("no_plotly")
def test_without_plotly_the_report_names_the_extra(tmp_path: Path) -> None:
    with pytest.raises(ReportUnavailableError, match=re.escape("pip install 'tradebus[report]'")):
        write_sweep_report(sweep(), tmp_path)
    assert not (tmp_path / "sweep.html").exists()


@pytest.fixture(scope="module")
def bars_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_daily_bars(tmp_path_factory.mktemp("sweep-report") / "daily.csv", days=120)


def test_cli_writes_sweep_html_next_to_the_table(bars_file: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("plotly")
    out = tmp_path / "out"
    code = main(["sweep", SPEC, "--data", str(bars_file), "--grid", "fast=3:9:3", "--grid", "slow=6,12",
                 "--grid", "quantity=1,2", "--where", "fast < slow", "--heatmap", "slow,fast", "--metric",
                 "total_return", "--executor", "local", "--workers", "1", "--out", str(out), "--no-progress"])
    assert code == 0
    assert "sweep.html" in capsys.readouterr().out
    page = (out / "sweep.html").read_text(encoding="utf-8")
    assert 'href="report.html"' in page
    assert (out / "report.html").is_file()
    trace = figure_json(page, "sweep-heatmap")["data"][0]
    assert (trace["x"], trace["y"]) == (["6", "12"], ["3", "6", "9"])  # --heatmap slow,fast: slow across
    assert "total_return by slow and fast (each cell: the best over quantity)" in page
    assert "local, 1 worker" in page


def test_cli_heatmap_must_name_swept_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", SPEC, "--grid", "fast=3,6", "--grid", "slow=12", "--heatmap", "fast,quantity",
                 "--no-progress"]) == 2
    assert capsys.readouterr().err.strip() == (
        "tradebus sweep: error: --heatmap: 'quantity' is not swept; choose from fast, slow")


@pytest.mark.usefixtures("no_plotly")
def test_cli_without_plotly_skips_the_sweep_report_in_one_line(bars_file: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["sweep", SPEC, "--data", str(bars_file), "--grid", "fast=3,6", "--grid", "slow=12",
                 "--workers", "1", "--out", str(out), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "sweep report skipped: the HTML report needs plotly, which is not installed: " \
           "pip install 'tradebus[report]'\n" in err
    assert (out / "sweep.csv").is_file()
    assert not (out / "sweep.html").exists()


def test_the_sweep_report_example_in_the_docs_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("plotly")
    (code,) = python_blocks("sweeps.md", "The sweep report")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "docs/sweeps.md", "exec"), {"__name__": "__doc_example__"})
    assert capsys.readouterr().out.strip() == "sweep.html"
    page = (tmp_path / "sweep-report" / "sweep.html").read_text(encoding="utf-8")
    assert "max_drawdown_duration by slow and fast (each cell: the best over quantity)" in page
    assert figure_json(page, "sweep-heatmap")["data"][0]["reversescale"] is True


def test_cli_interrupted_writes_a_partial_sweep_report(bars_file: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("plotly")
    monkeypatch.setattr("tradebus.sweep.cli.executor_from_args", lambda args: InterruptAfter(2))
    out = tmp_path / "out"
    assert main(["sweep", SPEC, "--data", str(bars_file), "--grid", "fast=3,6", "--grid", "slow=12,20",
                 "--out", str(out), "--no-progress"]) == EXIT_INTERRUPTED
    page = (out / "sweep.html").read_text(encoding="utf-8")
    assert "Partial sweep: interrupted after 2 of 4 parameter sets" in page
    assert "not run: the sweep was interrupted" in page
    assert not (out / "report.html").exists()
    assert "its full report was not written" in page
