"""Cost of one order lifecycle (ticket -> checks -> venue -> accepted -> filled -> portfolio) in a backtest.

Runs the same bars twice through the backtest stack: once with a strategy that places one market order
every bar (alternating buy and sell, so the position stays small), once with a strategy that only
reads the bar. The difference in time, divided by the number of orders, is the cost of one order's
whole lifecycle: the strategy's ticket (validated once), the order gateway's checks, the paper venue
accepting and later filling it, the engine's order book, the fill's checks and booking, and the
events delivered. The difference in tracemalloc's peak, divided by orders, is the memory an order
keeps alive until the end of the run (its ticket, its final snapshot, its fill, its share of the
results).

Usage::

    .venv/bin/python benchmarks/order_lifecycle.py [--bars 100000]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc

from framework.history import BarData
from framework.marketdata import Bar
from framework.strategy import Strategy
from tradebus import run_backtest
from tradebus.results import RunResult
from tradebus.sample_data.generate import synthetic_series


class Idle(Strategy):
    def on_start(self) -> None:
        self.subscribe_bars("AAPL")

    def on_bar(self, bar: Bar) -> None:
        pass


class EveryBar(Strategy):
    def on_start(self) -> None:
        self.subscribe_bars("AAPL")
        self.flip = False

    def on_bar(self, bar: Bar) -> None:
        self.flip = not self.flip
        if self.flip:
            self.buy("AAPL", 1)
        else:
            self.sell("AAPL", 1)


def timed(strategy: Strategy, data: BarData) -> tuple[float, int]:
    gc.collect()
    t0 = time.perf_counter()
    result = run_backtest(strategy, data)
    return time.perf_counter() - t0, len(result.orders)


def peak(strategy: Strategy, data: BarData) -> int:
    gc.collect()
    tracemalloc.start()
    result: RunResult = run_backtest(strategy, data)
    top = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    del result
    return top


def main() -> int:
    parser = argparse.ArgumentParser(description="Cost of one order lifecycle in the backtest stack.")
    parser.add_argument("--bars", type=int, default=100_000)
    args = parser.parse_args()
    data = BarData([synthetic_series("AAPL", args.bars, seed=7, price=185.0)])
    idle = min(timed(Idle(), data)[0] for _ in range(3))
    busy_runs = [timed(EveryBar(), data) for _ in range(3)]
    busy = min(t for t, _ in busy_runs)
    orders = busy_runs[0][1]
    per_order_us = (busy - idle) / orders * 1e6
    per_order_bytes = (peak(EveryBar(), data) - peak(Idle(), data)) / orders
    print(f"{args.bars:,} bars; idle run {idle:.2f} s, one order per bar {busy:.2f} s ({orders:,} orders)")
    print(f"cost per order lifecycle: {per_order_us:.1f} us; memory kept per order: {per_order_bytes / 1024:.2f} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
