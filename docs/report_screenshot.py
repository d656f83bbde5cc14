"""Run the sample backtest, write its report, and save a full-page screenshot of it as docs/images/report.png.

    .venv/bin/python docs/report_screenshot.py [--out runs/report-screenshot] [--image docs/images/report.png]

Needs the ``report`` and ``test`` extras (plotly, playwright) and Chromium (``apt-get install chromium``);
the page is opened offline, in the same headless browser the tests use (:mod:`tradebus.report.browser`).
It prints the report's size and exits non-zero if a chart did not render, the console showed an
error, or the page asked for the network.
"""

from __future__ import annotations

import argparse
import sys
from decimal import Decimal
from pathlib import Path

from brokers.paper.config import PaperConfig
from brokers.paper.costs import PerShareCommission
from strategies.sma_cross import SmaCross
from strategies.sma_cross import SmaCrossConfig
from tradebus import run_backtest
from tradebus.data import load_bars
from tradebus.report import write_report
from tradebus.report.browser import report_browser
from tradebus.sample_data import sample_data_path

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/report-screenshot"), help="folder for report.html")
    parser.add_argument("--image", type=Path, default=HERE / "images" / "report.png", help="screenshot to write")
    parser.add_argument("--width", type=int, default=1280, help="browser width in pixels (default 1280)")
    args = parser.parse_args()

    data = load_bars(sample_data_path())
    strategy = SmaCross(SmaCrossConfig(symbol="AAPL", fast=10, slow=30, quantity=Decimal(100)))
    venue = PaperConfig(starting_cash=Decimal(100_000), commission=PerShareCommission())
    result = run_backtest(strategy, data, venue)
    page = write_report(result, args.out, mode="backtest", strategies=[strategy.id])
    print(f"report: {page} ({page.stat().st_size / 1e6:.2f} MB)")
    args.image.parent.mkdir(parents=True, exist_ok=True)
    with report_browser() as browser:
        check = browser.check(page, screenshot=args.image, width=args.width)
    print(f"screenshot: {args.image}; {check.rendered} of {check.figures} charts rendered")
    problems = [*check.console_errors, *(f"network request: {url}" for url in check.blocked)]
    if check.rendered != check.figures:
        problems.append("not every chart rendered")
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
