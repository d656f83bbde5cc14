"""Backtest the SMA crossover on the shipped sample data, offline, in a few seconds.

The sample (``tradebus/sample_data/bars_1m.csv``) holds one-minute bars of AAPL, MSFT and SPY over
five sessions. The run goes through the same engine, strategy API and paper venue as live trading;
it prints the orders, the statistics and where the exports and the HTML report were written::

    .venv/bin/python examples/backtest_sample.py
    .venv/bin/python examples/backtest_sample.py --symbol MSFT --fast 5 --slow 20 --out runs/msft
"""

from __future__ import annotations

import argparse
from decimal import Decimal
from pathlib import Path

from strategies import SmaCross
from strategies import SmaCrossConfig
from tradebus import run_backtest
from tradebus.data import load_bars
from tradebus.defaults import describe_venue
from tradebus.defaults import venue_config
from tradebus.recording import write_outputs
from tradebus.report import headline
from tradebus.sample_data import sample_data_path


def main() -> None:
    parser = argparse.ArgumentParser(description="SMA crossover backtest on the shipped sample data")
    parser.add_argument("--symbol", default="AAPL", help="AAPL, MSFT or SPY (default AAPL)")
    parser.add_argument("--fast", type=int, default=10, help="fast SMA period in bars (default 10)")
    parser.add_argument("--slow", type=int, default=30, help="slow SMA period in bars (default 30)")
    parser.add_argument("--out", type=Path, default=Path("runs/backtest_sample"), help="output folder")
    args = parser.parse_args()

    data = load_bars(sample_data_path())
    strategy = SmaCross(SmaCrossConfig(symbol=args.symbol, fast=args.fast, slow=args.slow, quantity=Decimal(100)))
    venue = venue_config()  # the defaults of every tradebus run: 100,000 cash, IBKR per-share commission
    print(describe_venue(venue))
    result = run_backtest(strategy, data, venue)

    print(f"replayed {data.bar_count:,} bars of {', '.join(data)} from {sample_data_path().name}")
    print(f"{len(result.orders)} orders, {len(result.fills)} fills; first fills:")
    for fill in result.fills[:6]:
        print(f"  {fill.ts:%Y-%m-%d %H:%M} UTC  {fill.side:<4} {fill.quantity} {fill.symbol} @ {fill.price:.2f}")
    print(f"equity {result.starting_cash:,.2f} -> {result.final_equity:,.2f}")
    for label, value in headline(result.statistics):
        print(f"{label:>26}: {value}")

    written = write_outputs(result, args.out, title=f"SMA crossover on {args.symbol} (sample data)")
    print(f"exports: {', '.join(p.name for p in written)} in {args.out}/")
    report = args.out / "report.html"
    print(f"report: {report}" if report in written else "report: not written (install the 'report' extra)")


if __name__ == "__main__":
    main()
