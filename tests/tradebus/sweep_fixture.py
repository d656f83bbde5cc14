"""A few hundred synthetic daily bars for the sweep tests (long enough to annualise a Sharpe ratio)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from collections.abc import Sequence
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

from tradebus.sweep.tasks import SweepJob
from tradebus.sweep.tasks import SweepTask
from tradebus.sweep.tasks import TaskResult
from tradebus.sweep.tasks import run_task

SPEC = "strategies.sma_cross:SmaCross"


def write_daily_bars(path: Path, days: int = 260) -> Path:
    start = datetime(2023, 1, 2, tzinfo=UTC)
    lines = ["timestamp,symbol,open,high,low,close,volume"]
    for i in range(days):
        close = 100 + 10 * math.sin(i / 9) + 3 * math.sin(i / 2.3) + i * 0.05
        open_ = close - 0.5 * math.cos(i)
        high, low = max(open_, close) + 0.7, min(open_, close) - 0.7
        ts = (start + timedelta(days=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
        lines.append(f"{ts},AAPL,{open_:.2f},{high:.2f},{low:.2f},{close:.2f},1000")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class InterruptAfter:
    """An executor that runs tasks in this process and presses Ctrl-C (KeyboardInterrupt) before the
    ``count``-th task, counted over every batch it is given (a walk-forward's train runs, then its test runs)."""

    def __init__(self, count: int) -> None:
        self.count, self.started = count, 0

    def run(self, job: SweepJob, tasks: Sequence[SweepTask]) -> Iterator[TaskResult]:
        """Run ``tasks`` one after the other, interrupting as set."""
        for task in tasks:
            if self.started == self.count:
                raise KeyboardInterrupt
            self.started += 1
            yield run_task(job, task)
