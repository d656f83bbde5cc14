"""Benchmark: the reference SMA crossover over 1,000,000 synthetic 1-minute bars.

Runs ``strategies.SmaCross`` (fast 10, slow 30, 100 shares, market orders at the next bar's open, no
costs, 1,000,000 cash) through the real stack: HistoricalFeed -> PaperBroker -> Engine queue ->
EventBus -> Strategy.on_bar, and fills PaperBroker -> Engine -> OrderBook -> Portfolio. Then it runs
a plain-Python loop implementing the same rules on the same arrays, as the floor, and checks that
both end with the same fills and equity.

Memory is reported two ways: tracemalloc's peak of Python allocations during the run (a separate
pass, since tracing slows Python down about 2x), and the process's peak resident set size
(``resource.getrusage(...).ru_maxrss``), which includes the interpreter, pydantic and the data.

Usage::

    .venv/bin/python benchmarks/backtest_sma.py [--bars 1000000] [--repeat 3] [--no-tracemalloc]

Each side runs ``--repeat`` times and the fastest run is reported, as :mod:`timeit` advises: the
slower runs measure what else the machine was doing (on a shared VM, +-5 % from run to run).
"""

from __future__ import annotations

import argparse
import gc
import resource
import statistics
import sys
import time
import tracemalloc
from collections import deque
from decimal import Decimal

from framework.history import BarData
from framework.history import BarSeries
from framework.models import Instrument
from strategies import SmaCross
from strategies import SmaCrossConfig
from tradebus import run_backtest
from tradebus.sample_data.generate import synthetic_series

FAST, SLOW, QUANTITY, CASH = 10, 30, Decimal(100), Decimal(1_000_000)


def plain_loop(series: BarSeries) -> tuple[int, Decimal]:
    """The reference rules as a bare loop on the columns: (number of fills, final equity)."""
    tick = Instrument(symbol=series.symbol)
    closes, opens = series.closes, series.opens
    fast_w: deque[float] = deque()
    slow_w: deque[float] = deque()
    fast_sum = slow_sum = 0.0
    previous = None
    cash, position, pending, fills = CASH, Decimal(0), None, 0
    for i in range(len(closes)):
        if pending is not None:
            price = tick.round_price(opens[i])
            cash -= pending * price
            position += pending
            pending, fills = None, fills + 1
        c = closes[i]
        fast_w.append(c)
        fast_sum += c
        if len(fast_w) > FAST:
            fast_sum -= fast_w.popleft()
        slow_w.append(c)
        slow_sum += c
        if len(slow_w) > SLOW:
            slow_sum -= slow_w.popleft()
        if len(slow_w) < SLOW:
            continue
        slow = slow_sum / SLOW
        diff = fast_sum / FAST - slow
        if abs(diff) <= 1e-9 * slow:  # equal averages: see strategies/sma_cross.py
            diff = 0.0
        if previous is not None:
            if previous <= 0 < diff and position == 0:
                pending = QUANTITY
            elif previous >= 0 > diff and position > 0:
                pending = -position
        previous = diff
    return fills, cash + position * tick.round_price(closes[-1])


def traced_peak(config: SmaCrossConfig, data: BarData) -> None:
    """Run once more under tracemalloc and print the peak of Python allocations."""
    gc.collect()
    tracemalloc.start()
    run_backtest(SmaCross(config), data)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"  tracemalloc peak of one run (the loaded data set excluded): {peak / 2**20:,.0f} MB")


def main() -> int:
    parser = argparse.ArgumentParser(description="Reference SMA crossover backtest throughput and memory.")
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--no-tracemalloc", action="store_true", help="skip the traced (slower) memory pass")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each; the best is reported")
    args = parser.parse_args()

    t0 = time.perf_counter()
    series = synthetic_series("AAPL", args.bars, seed=7, price=185.0)
    data = BarData([series])
    print(f"generated + validated {len(series):,} bars in {time.perf_counter() - t0:.2f} s (not timed below)")

    config = SmaCrossConfig(symbol="AAPL", fast=FAST, slow=SLOW, quantity=QUANTITY)
    times = []
    for _ in range(args.repeat):
        gc.collect()
        t0 = time.perf_counter()
        result = run_backtest(SmaCross(config), data)
        times.append(time.perf_counter() - t0)
        orders, fills, equity = len(result.orders), len(result.fills), result.final_equity
        del result
        if len(times) == 1:  # the peak of one run (later runs reuse freed memory unevenly)
            rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    elapsed = min(times)
    print(
        f"framework backtest: {len(series) / elapsed:>12,.0f} bars/s  (best of {args.repeat}: {elapsed:.2f} s, "
        f"median {statistics.median(times):.2f} s; {orders:,} orders, {fills:,} fills, final equity {equity})"
    )
    print(f"  peak RSS after the first run (ru_maxrss, includes generating the data): {rss_mb:,.0f} MB")

    floors = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        floor_fills, floor_equity = plain_loop(series)
        floors.append(time.perf_counter() - t0)
    floor = min(floors)
    print(
        f"plain-Python loop:  {len(series) / floor:>12,.0f} bars/s  (best of {args.repeat}: {floor:.2f} s; "
        f"{floor_fills:,} fills, final equity {floor_equity})"
    )
    print(f"framework speed as a share of the plain loop: {floor / elapsed:.1%}")
    if not args.no_tracemalloc:
        traced_peak(config, data)
    if (fills, equity) != (floor_fills, floor_equity):
        print("MISMATCH between the framework and the plain loop", file=sys.stderr)
        return 1
    print("framework and plain loop agree: same number of fills, same final equity")
    return 0


if __name__ == "__main__":
    sys.exit(main())
