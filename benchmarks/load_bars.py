"""Loading 1,000,000 bars of the tradebus CSV format: parse speed and peak memory of each path.

Run by hand (speed targets are not asserted in tests)::

    .venv/bin/python benchmarks/load_bars.py [--rows 1000000]

Writes a seeded file of several interleaved symbols (1-minute bars) to a temporary folder and times:
the ``csv`` module just reading the rows, ``load_csv`` (pyarrow fast path), ``load_csv`` on the pure
Python path, and pandas ``read_csv`` (parse only, no checks) when installed. Memory: the tracemalloc
peak of Python allocations during the load (pyarrow's and numpy's buffers included) and the growth
of the process's peak RSS.
"""

from __future__ import annotations

import argparse
import csv
import gc
import random
import resource
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from tradebus.data import load_csv

SYMBOLS = ("AAPL", "MSFT", "SPY", "QQQ", "IWM")
START = int(datetime(2024, 1, 2, 14, 30, tzinfo=UTC).timestamp())


def write_file(path: Path, rows: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    price = dict.fromkeys(SYMBOLS, 100.0)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["timestamp", "symbol", "open", "high", "low", "close", "volume"])
        for i in range(rows):
            symbol = SYMBOLS[i % len(SYMBOLS)]
            ts = datetime.fromtimestamp(START + 60 * (i // len(SYMBOLS)), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            o = price[symbol]
            c = round(o * (1 + rng.gauss(0, 0.001)), 2)
            h, low = round(max(o, c) + rng.random() * 0.05, 2), round(min(o, c) - rng.random() * 0.05, 2)
            price[symbol] = c
            writer.writerow([ts, symbol, o, h, low, c, rng.randint(100, 5000)])


def plain_csv(path: Path) -> int:
    with path.open(newline="", encoding="utf-8") as f:
        return sum(1 for _ in csv.reader(f))


def import_arrow() -> None:
    import numpy  # noqa: F401, PLC0415 - timed: what the first fast load pays once
    import pyarrow.compute  # noqa: PLC0415
    import pyarrow.csv  # noqa: F401, PLC0415


def pandas_read(path: Path) -> Any:
    import pandas as pd  # noqa: PLC0415 - optional

    return pd.read_csv(path)


def measure(work: Callable[[], Any], repeat: int) -> tuple[float, float, float, float]:
    """Seconds of the first call (imports included), best of ``repeat``, tracemalloc peak MB, peak-RSS growth MB."""
    gc.collect()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        work()
        times.append(time.perf_counter() - began)
    rss = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    tracemalloc.start()
    result = work()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    del result
    return times[0], min(times), peak, rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each (best is shown)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bars.csv"
        write_file(path, args.rows)
        print(f"{args.rows:,} rows, {len(SYMBOLS)} symbols, {path.stat().st_size / 2**20:.1f} MB")
        runs: list[tuple[str, Callable[[], Any]]] = [
            ("csv module, rows only", lambda: plain_csv(path)),
            ("load_csv (pure Python path)", lambda: load_csv(path, engine="python")),
        ]
        if find_spec("pyarrow"):
            runs.append(("import pyarrow, numpy", import_arrow))
            runs.append(("load_csv (pyarrow path)", lambda: load_csv(path, engine="arrow")))
        if find_spec("pandas"):
            runs.append(("pandas.read_csv (no checks)", lambda: pandas_read(path)))
        # RSS peaks only grow: run the lighter loads first, so each row's growth is its own
        print(f"{'what':<30} {'first s':>8} {'best s':>7} {'tracemalloc peak MB':>20} {'peak RSS growth MB':>19}")
        for name, work in runs:
            first, best, peak, rss = measure(work, args.repeat)
            print(f"{name:<30} {first:>8.2f} {best:>7.2f} {peak:>20.1f} {rss:>19.1f}")
        print("first: the first call; best: of --repeat runs. Peak RSS only grows, so each row shows the growth")
        print("over the rows above it; tracemalloc sees Python and numpy allocations, not pyarrow's own pool.")


if __name__ == "__main__":
    main()
