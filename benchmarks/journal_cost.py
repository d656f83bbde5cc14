"""Benchmark: what the SQLite order journal costs per order intent, order event and fill.

Runs ``--orders`` market orders through the real engine path, Engine -> ScriptedBroker (accepts
and fills each order at once) -> Engine queue, with a :class:`~framework.journal.SqliteJournal` on a
fresh file, once per durability setting: ``synchronous="full"`` (on disk when the call returns, the
default) and ``"normal"`` (survives a process crash, not a power cut). The journal is a subclass
that times its own ``record_intent`` / ``record_event`` calls, so the figures are the journal's
share of the work: one intent, two order events (submitted, accepted) and one fill per order. The
whole order round trip (submit, then drain the queue) is also timed, with and without a journal.

The fsync behind ``"full"`` costs what the disk makes it cost: on tmpfs it is free, on a laptop SSD
tens of microseconds, on network or virtual disks milliseconds. The file system of ``--dir`` is
printed with the results.

Usage::

    .venv/bin/python benchmarks/journal_cost.py [--orders 2000] [--dir /path/on/the/real/disk]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Literal

from framework.config import EngineConfig
from framework.engine import Engine
from framework.events import OrderEvent
from framework.events import OrderFilled
from framework.events import OrderPartiallyFilled
from framework.marketdata import Quote
from framework.models import Instrument
from framework.models import Order
from framework.models import OrderRequest
from framework.models import Side
from framework.testing import FakeClock
from framework.testing import ScriptedBroker
from tradebus.journal import SqliteJournal

AAPL = Instrument(symbol="AAPL")
TARGET_FILL_MS = 1.0
Mode = Literal["full", "normal", "none"]


class TimedJournal(SqliteJournal):
    """A SqliteJournal that records how long each write takes, in nanoseconds, by kind."""

    def __init__(self, path: Path, *, synchronous: Literal["full", "normal"]) -> None:
        super().__init__(path, synchronous=synchronous)
        self.timings: dict[str, list[int]] = {"intent": [], "order event": [], "fill": []}

    def record_intent(self, order: Order, run_id: str) -> None:
        start = time.perf_counter_ns()
        super().record_intent(order, run_id)
        self.timings["intent"].append(time.perf_counter_ns() - start)

    def record_event(self, event: OrderEvent, order: Order) -> bool:
        start = time.perf_counter_ns()
        stored = super().record_event(event, order)
        kind = "fill" if isinstance(event, OrderFilled | OrderPartiallyFilled) else "order event"
        self.timings[kind].append(time.perf_counter_ns() - start)
        return stored


def run(mode: Mode, orders: int, folder: Path) -> tuple[dict[str, list[int]], list[int]]:
    """Place ``orders`` market orders; return the journal's timings and each order's round trip."""
    clock = FakeClock()
    broker = ScriptedBroker(clock)
    journal = None if mode == "none" else TimedJournal(folder / f"journal-{mode}.sqlite", synchronous=mode)
    engine = Engine(broker, clock=clock, config=EngineConfig(order_id_prefix=mode), journal=journal)
    engine.start()
    broker.push_quote(Quote("AAPL", clock.now(), bid=100.0, ask=100.01))
    engine.run_pending()
    round_trips: list[int] = []
    for i in range(orders):
        clock.advance(timedelta(milliseconds=1))
        side = Side.BUY if i % 2 == 0 else Side.SELL
        request = OrderRequest(
            client_order_id=engine.next_client_order_id(), instrument=AAPL, side=side, quantity=Decimal(1)
        )
        start = time.perf_counter_ns()
        engine.submit_order(request)
        engine.run_pending()
        round_trips.append(time.perf_counter_ns() - start)
    engine.stop()
    filled = sum(1 for o in engine.orders.all() if o.status.value == "filled")
    assert filled == orders, f"only {filled} of {orders} orders filled"
    if journal is None:
        return {}, round_trips
    assert len(journal.fills()) == orders, "every fill must be in the journal"
    assert engine.journal_errors == 0
    journal.close()
    return journal.timings, round_trips


def percentile(sorted_ns: Sequence[int], fraction: float) -> int:
    """Nearest-rank percentile of already sorted values."""
    return sorted_ns[max(0, math.ceil(fraction * len(sorted_ns)) - 1)]


def duration(ns: float) -> str:
    """Nanoseconds as microseconds, or milliseconds from 1 ms on."""
    return f"{ns / 1e3:8.1f} us" if ns < 1e6 else f"{ns / 1e6:8.3f} ms"


def row(mode: str, operation: str, values: Sequence[int]) -> str:
    ordered = sorted(values)
    mean = sum(ordered) / len(ordered)
    cells = (duration(mean), duration(percentile(ordered, 0.5)), duration(percentile(ordered, 0.99)))
    return f"{mode:<7} {operation:<24} {len(ordered):>6}  " + "  ".join(cells) + f"  {duration(ordered[-1])}"


def file_system(folder: Path) -> str:
    """The type of the file system holding ``folder`` (Linux /proc/mounts), or 'unknown'."""
    try:
        mounts = Path("/proc/mounts").read_text(encoding="utf-8").splitlines()
    except OSError:
        return "unknown"
    best, kind = "", "unknown"
    resolved = str(folder.resolve())
    for line in mounts:
        parts = line.split()
        if len(parts) > 2 and resolved.startswith(parts[1]) and len(parts[1]) > len(best):
            best, kind = parts[1], parts[2]
    return f"{kind} at {best}" if best else kind


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=2000, help="market orders per durability setting")
    parser.add_argument("--dir", type=Path, default=None, help="folder for the journal files (default: a temp folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="journal-cost-") as tmp:
        folder = Path(tmp)
        print(f"{args.orders:,} market orders per setting, each: 1 intent, 2 order events, 1 fill")
        print(f"journal files in {folder} ({file_system(folder)})\n")
        print(f"{'sync':<7} {'operation':<24} {'count':>6}  {'mean':>11}  {'p50':>11}  {'p99':>11}  {'max':>11}")
        fills: dict[str, list[int]] = {}
        trips: dict[str, list[int]] = {}
        for mode in ("full", "normal", "none"):
            timings, trips[mode] = run(mode, args.orders, folder)
            for operation, values in timings.items():
                print(row(mode, operation, values))
            if timings:
                fills[mode] = timings["fill"]
            print(row(mode, "order round trip", trips[mode]))
    bare = sum(trips["none"]) / len(trips["none"])
    print()
    for mode in ("full", "normal"):
        overhead = sum(trips[mode]) / len(trips[mode]) - bare
        print(f"journal overhead per order ({mode}): {duration(overhead).strip()} over a bare round trip")
    ordered = sorted(fills["full"])
    mean_ms, p99_ms = sum(ordered) / len(ordered) / 1e6, percentile(ordered, 0.99) / 1e6
    verdict = "meets" if p99_ms < TARGET_FILL_MS else "mean meets, p99 misses" if mean_ms < TARGET_FILL_MS else "misses"
    target = f"{TARGET_FILL_MS:g} ms"
    print(f"fill with durability on: mean {mean_ms:.3f} ms, p99 {p99_ms:.3f} ms: {verdict} the {target} target")


if __name__ == "__main__":
    main()
