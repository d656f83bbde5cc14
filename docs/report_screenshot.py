"""Write a report of the sample data and save a full-page screenshot of it under docs/images/.

    .venv/bin/python docs/report_screenshot.py [--kind backtest|sweep|walk-forward] [--out FOLDER] [--image PNG]

``backtest`` (the default) runs the sample backtest and writes ``report.html`` (``images/report.png``);
``sweep`` sweeps SmaCross's ``fast`` and ``slow`` on it and writes ``sweep.html`` (``images/sweep.png``);
``walk-forward`` runs a walk-forward of the same grid and writes ``walkforward.html``
(``images/walkforward.png``). Needs the ``report`` and ``test`` extras (plotly, playwright) and Chromium
(``apt-get install chromium``); the page is opened offline, in the same headless browser the tests use
(:mod:`tradebus.report.browser`). It prints the report's size and exits non-zero if a chart did not
render, the console showed an error, or the page asked for the network.
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
from tradebus import run_sweep
from tradebus import walk_forward
from tradebus.data import load_bars
from tradebus.report import write_report
from tradebus.report import write_sweep_report
from tradebus.report import write_walk_forward_report
from tradebus.report.browser import report_browser
from tradebus.sample_data import sample_data_path
from tradebus.sweep import InProcessExecutor

HERE = Path(__file__).resolve().parent
SMA = "strategies.sma_cross:SmaCross"


GRID = {"fast": [5, 10, 15, 20], "slow": [30, 45, 60, 90]}
FIXED = {"symbol": "AAPL", "quantity": 100}
IMAGES = {"backtest": "report.png", "sweep": "sweep.png", "walk-forward": "walkforward.png"}


def write_page(kind: str, out: Path) -> Path:
    """Run ``kind`` on the sample data and write its page into ``out``."""
    data = load_bars(sample_data_path())
    venue = PaperConfig(starting_cash=Decimal(100_000), commission=PerShareCommission())
    if kind == "sweep":
        swept = run_sweep(SMA, data, GRID, metric="total_return", params=FIXED, venue=venue,
                          executor=InProcessExecutor())
        return write_sweep_report(swept, out)
    if kind == "walk-forward":
        walked = walk_forward(SMA, data, GRID, train="450bars", test="250bars", metric="total_return",
                              params=FIXED, venue=venue, executor=InProcessExecutor())
        return write_walk_forward_report(walked, out)
    strategy = SmaCross(SmaCrossConfig(symbol="AAPL", fast=10, slow=30, quantity=Decimal(100)))
    result = run_backtest(strategy, data, venue)
    return write_report(result, out, mode="backtest", strategies=[strategy.id])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=sorted(IMAGES), default="backtest", help="which page (default backtest)")
    parser.add_argument("--out", type=Path, default=Path("runs/report-screenshot"), help="folder for the page")
    parser.add_argument("--image", type=Path, help="screenshot to write (default docs/images/<the kind's>.png)")
    parser.add_argument("--width", type=int, default=1280, help="browser width in pixels (default 1280)")
    args = parser.parse_args()
    args.image = args.image or HERE / "images" / IMAGES[args.kind]

    page = write_page(args.kind, args.out)
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
