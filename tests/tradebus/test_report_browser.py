"""The report in a real headless Chromium: every chart renders, no console error, no network request.

One browser per module. Skipped (with the reason) only when Chromium is missing and
TRADEBUS_REQUIRE_BROWSER is unset; CI sets it, so there a missing browser fails the test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from brokers.paper.config import PaperConfig
from brokers.paper.costs import PerShareCommission
from strategies.sma_cross import SmaCross
from strategies.sma_cross import SmaCrossConfig
from tests.tradebus.wf_fixture import HOLD
from tests.tradebus.wf_fixture import zigzag
from tradebus import run_backtest
from tradebus.data import load_bars
from tradebus.report import write_report
from tradebus.report import write_sweep_report
from tradebus.report import write_walk_forward_report
from tradebus.report.browser import ReportBrowser
from tradebus.report.browser import find_chromium
from tradebus.report.browser import report_browser
from tradebus.report.formatting import percent
from tradebus.sample_data import sample_data_path
from tradebus.settings import load_settings
from tradebus.sweep import InProcessExecutor
from tradebus.sweep import run_sweep
from tradebus.sweep import walk_forward


@pytest.fixture(scope="module")
def browser() -> Iterator[ReportBrowser]:
    chromium = find_chromium()
    if chromium is None:
        reason = "Chromium is not installed (apt-get install chromium)"
        if os.environ.get("TRADEBUS_REQUIRE_BROWSER"):
            pytest.fail(f"{reason}, and TRADEBUS_REQUIRE_BROWSER is set")
        pytest.skip(f"{reason}; set TRADEBUS_REQUIRE_BROWSER=1 to fail instead of skipping")
    pytest.importorskip("playwright", reason="playwright (the test extra) is not installed")
    with report_browser(chromium) as opened:
        yield opened


def test_sample_backtest_report_renders_every_chart_offline(browser: ReportBrowser, tmp_path: Path) -> None:
    data = load_bars(sample_data_path())
    venue = PaperConfig(starting_cash=Decimal(100_000), commission=PerShareCommission())
    result = run_backtest(SmaCross(SmaCrossConfig(symbol="MSFT", quantity=Decimal(100))), data, venue)
    assert result.fills
    page = write_report(result, tmp_path, mode="backtest", strategies=["SmaCross"])
    check = browser.check(page)
    assert check.console_errors == []
    assert check.blocked == []
    assert check.figures == 1 + len(data)  # equity and drawdown, and one price chart per symbol
    assert check.rendered == check.figures
    assert check.hover_labels >= 1  # interactive: the mouse over the equity chart shows its values


def test_sweep_report_heat_map_renders_offline_and_hovers(browser: ReportBrowser, tmp_path: Path) -> None:
    data = load_bars(sample_data_path())
    result = run_sweep("strategies.sma_cross:SmaCross", data, {"fast": [5, 10, 15], "slow": [20, 30, 40]},
                       params={"symbol": "MSFT"}, metric="total_return", executor=InProcessExecutor())
    page = write_sweep_report(result, tmp_path)
    check = browser.check(page)
    assert check.console_errors == []
    assert check.blocked == []
    assert (check.figures, check.rendered) == (1, 1)  # the heat map
    assert check.hover_labels >= 1  # the mouse over the middle cell shows its parameters and value
    middle = next(r for r in result.results if r.params == {"fast": 10, "slow": 30})
    assert check.hover_text == f"fast=10, slow=30total_return {percent(middle.statistics['total_return'])}"


def test_walk_forward_report_renders_offline_and_hovers_with_the_window(browser: ReportBrowser,
                                                                         tmp_path: Path) -> None:
    result = walk_forward(HOLD, zigzag(55), {"hold": [0, 1]}, train=10, test=10, metric="total_return",
                          executor=InProcessExecutor())
    page = write_walk_forward_report(result, tmp_path)
    check = browser.check(page)
    assert check.console_errors == []
    assert check.blocked == []
    assert (check.figures, check.rendered) == (2, 2)  # the stitched equity, the in- vs out-of-sample bars
    assert check.hover_labels >= 1  # the mouse over the middle of the equity chart: its window
    hovered = [w for w in result.windows if f"window {w.number}: test {w.test_start:%Y-%m-%d}" in check.hover_text]
    assert len(hovered) == 1
    assert f"hold={hovered[0].params['hold']}" in check.hover_text  # type: ignore[index]


def test_the_variable_that_requires_the_browser_is_not_a_setting() -> None:
    # CI exports it for the whole test run, and every command reads the TRADEBUS_* environment
    assert load_settings(None, {"TRADEBUS_REQUIRE_BROWSER": "1"}) == load_settings(None, {})


def test_the_check_catches_network_requests_and_console_errors(browser: ReportBrowser, tmp_path: Path) -> None:
    page = tmp_path / "bad.html"
    page.write_text(
        '<!doctype html><html><head><script src="http://127.0.0.1:9/plotly.js"></script></head><body>'
        '<div class="plotly-graph-div"></div><script>console.error("broken on purpose")</script></body></html>',
        encoding="utf-8",
    )
    check = browser.check(page, timeout_ms=1000)  # it cannot render: no plotly.js
    assert check.blocked == ["http://127.0.0.1:9/plotly.js"]
    assert "broken on purpose" in check.console_errors
    assert (check.figures, check.rendered) == (1, 0)
