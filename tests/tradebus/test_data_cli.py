"""``tradebus backtest --data`` with files users have: a Yahoo daily export runs on inferred 1-day bars."""

from __future__ import annotations

import argparse
import csv
import math
import os
from datetime import date
from datetime import timedelta
from pathlib import Path

import pytest

from framework.errors import DataError
from tradebus.backtest_command import COMMAND
from tradebus.backtest_command import bars_from_file


def yahoo_daily(path: Path, days: int = 120) -> Path:
    """A Yahoo-shaped daily export of a price that swings (so moving averages cross), weekdays only."""
    lines = ["Date,Open,High,Low,Close,Adj Close,Volume"]
    day, close = date(2024, 1, 2), 100.0
    for i in range(days):
        while day.weekday() >= 5:
            day += timedelta(days=1)
        open_, close = close, 100 + 10 * math.sin(i / 6)
        high, low = max(open_, close) + 0.5, min(open_, close) - 0.5
        lines.append(f"{day.isoformat()},{open_:.2f},{high:.2f},{low:.2f},{close:.2f},{close:.2f},{1000 + i}")
        day += timedelta(days=1)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def args_for(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    COMMAND.configure(parser)
    return parser.parse_args(["strategies.sma_cross:SmaCross", *argv])


def test_a_yahoo_daily_file_loads_with_one_day_bars(tmp_path: Path) -> None:
    data = bars_from_file(args_for("--data", str(yahoo_daily(tmp_path / "XYZ.csv"))))
    assert list(data) == ["XYZ"]
    assert data["XYZ"].duration == timedelta(days=1)


def test_backtest_runs_a_strategy_on_a_yahoo_daily_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in [k for k in os.environ if k.startswith("TRADEBUS_")]:
        monkeypatch.delenv(key)
    path = yahoo_daily(tmp_path / "XYZ.csv")
    out = tmp_path / "out"
    args = args_for("--data", str(path), "--out", str(out), "--no-progress", "--param", "symbol=XYZ",
                    "--param", "fast=3", "--param", "slow=8", "--param", "bar_seconds=86400")
    assert COMMAND.run(args) == 0
    with (out / "orders.csv").open(encoding="utf-8", newline="") as f:
        orders = list(csv.DictReader(f))
    assert orders  # the strategy saw the daily bars and traded on them
    assert ": 120 bars, " in capsys.readouterr().out


def test_bar_seconds_and_tz_reach_the_loader(tmp_path: Path) -> None:
    path = tmp_path / "SPY.csv"
    path.write_text("date,open,high,low,close,volume\n2024-01-02 09:30:00,1,2,1,2,3\n", encoding="utf-8")
    with pytest.raises(DataError, match="no timezone"):
        bars_from_file(args_for("--data", str(path), "--bar-seconds", "60"))
    data = bars_from_file(args_for("--data", str(path), "--bar-seconds", "60", "--tz", "America/New_York"))
    assert (data["SPY"].duration, data["SPY"].bar(0).start.hour) == (timedelta(minutes=1), 14)
