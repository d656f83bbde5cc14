"""A few hundred synthetic daily bars for the sweep tests (long enough to annualise a Sharpe ratio)."""

from __future__ import annotations

import math
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

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
