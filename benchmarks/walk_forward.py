"""A walk-forward of SmaCross on seeded 1-minute bars: wall time in process and on a local pool.

Run by hand (speed targets are not asserted in tests)::

    .venv/bin/python benchmarks/walk_forward.py [--bars 20000] [--workers 2]

Builds a seeded random walk of one symbol, then times ``walk_forward`` (train 2,000 bars, test 1,000,
a 3 x 2 grid) on :class:`InProcessExecutor` and :class:`LocalExecutor`, and a plain ``run_sweep`` of the
same grid over all the bars for scale. Prints the runs, the bars they replayed (train runs replay their
window; test runs their warm-up, the train window, and the test window) and bars per second.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC
from datetime import datetime
from datetime import timedelta

from framework.history import BarData
from framework.history import BarSeriesBuilder
from tradebus import run_sweep
from tradebus import walk_forward
from tradebus.sweep import InProcessExecutor
from tradebus.sweep import LocalExecutor

SPEC = "strategies.sma_cross:SmaCross"
GRID = {"fast": [5, 10, 20], "slow": [40, 80]}
START = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)


def bars(count: int, seed: int = 7) -> BarData:
    rng = random.Random(seed)
    builder = BarSeriesBuilder("AAPL", timedelta(minutes=1))
    price = 100.0
    for i in range(count):
        close = round(price * (1 + rng.gauss(0, 0.001)), 2)
        high, low = max(price, close) + 0.02, min(price, close) - 0.02
        builder.append((int(START.timestamp()) + 60 * i, price, high, low, close, 1000.0), i)
        price = close
    return BarData([builder.build()])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    data = bars(args.bars)
    executors = (("in process", InProcessExecutor()), (f"local x{args.workers}", LocalExecutor(args.workers)))
    for name, executor in executors:
        began = time.perf_counter()
        result = walk_forward(SPEC, data, GRID, train=2000, test=1000, metric="total_return", executor=executor)
        took = time.perf_counter() - began
        windows = len(result.windows)
        replayed = windows * (6 * 2000 + 2000 + 1000)
        print(f"walk-forward, {name}: {windows} windows, {windows * 7} runs, {replayed:,} bars replayed "
              f"in {took:.2f} s ({replayed / took:,.0f} bars/s); OOS return {result.oos_return:+.4f}")
    began = time.perf_counter()
    run_sweep(SPEC, data, GRID, metric="total_return", executor=InProcessExecutor())
    took = time.perf_counter() - began
    print(f"sweep over all bars, in process: 6 runs, {6 * args.bars:,} bars in {took:.2f} s "
          f"({6 * args.bars / took:,.0f} bars/s)")


if __name__ == "__main__":
    main()
