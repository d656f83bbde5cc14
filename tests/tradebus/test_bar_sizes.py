"""Bar sizes end to end from the CLI: daily files that trade, --bar-size, refused subscriptions, the doc example."""

from __future__ import annotations

import csv
import json
import random
import re
from datetime import date
from datetime import timedelta
from pathlib import Path

import pytest

from tradebus import cli

ROOT = Path(__file__).resolve().parents[2]


def write_daily(path: Path, days: int = 160, seed: int = 7) -> Path:
    """A seeded random walk of AAPL daily bars on weekdays, stamped at midnight UTC like vendor files."""
    rng = random.Random(seed)
    price, day, rows = 100.0, date(2023, 1, 2), []
    while len(rows) < days:
        if day.weekday() < 5:
            close = round(price * (1 + rng.gauss(0, 0.02)), 2)
            high, low = round(max(price, close) * 1.01, 2), round(min(price, close) * 0.99, 2)
            rows.append([f"{day.isoformat()}T00:00:00Z", "AAPL", price, high, low, close, 1_000_000])
            price = close
        day += timedelta(days=1)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["timestamp", "symbol", "open", "high", "low", "close", "volume"])
        writer.writerows(rows)
    return path


def backtest(tmp_path: Path, *extra: str) -> int:
    return cli.main(["backtest", "strategies.sma_cross:SmaCross", "--out", str(tmp_path / "out"), "--no-progress",
                     "--param", "fast=5", "--param", "slow=20", *extra])


@pytest.mark.parametrize("params", [[], ["--param", "bar_seconds=86400"]])
def test_a_daily_file_backtest_places_and_fills_orders_with_daily_statistics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], params: list[str]
) -> None:
    data = write_daily(tmp_path / "daily.csv")
    assert backtest(tmp_path, "--data", str(data), "--bar-size", "1d", *params) == 0
    summary = capsys.readouterr().out
    orders, fills = (int(x) for x in re.search(r"(\d+) orders, (\d+) fills", summary).groups())  # type: ignore[union-attr]
    assert orders >= 4
    result = json.loads((tmp_path / "out" / "result.json").read_text(encoding="utf-8"))
    assert result["summary"]["periods_per_year"] == 252
    with (tmp_path / "out" / "orders.csv").open(encoding="utf-8") as f:
        statuses = [row["status"] for row in csv.DictReader(f)]
    # every order filled on the next day's open, but one placed on the last bar, which has no next day
    assert set(statuses[:-1]) == {"filled"}
    assert statuses[-1] in {"filled", "accepted"}
    assert fills == statuses.count("filled")


@pytest.mark.parametrize("size", ["7x", "0m", "5", "1.5h"])
def test_a_bad_bar_size_is_a_usage_error_naming_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], size: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        backtest(tmp_path, "--bar-size", size)
    assert exited.value.code == 2
    assert f"argument --bar-size: {size!r} is not a bar size" in capsys.readouterr().err


@pytest.mark.parametrize(("extra", "line"), [
    (["--bar-size", "1d", "--param", "bar_seconds=60"],
     "strategy SmaCross subscribed to 1m bars of AAPL, which the data cannot give: finer than the data's 1d bars"),
    (["--param", "bar_seconds=90"],
     "strategy SmaCross subscribed to 90s bars of AAPL, which the data cannot give: not a whole multiple of the "
     "data's 1m bars"),
    (["--param", "symbol=ZZZ"],
     "strategy SmaCross subscribed to bars of ZZZ: no historical data for ZZZ; the data has AAPL, MSFT, SPY"),
])
def test_a_subscription_the_data_cannot_give_is_one_line_and_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], line: str
) -> None:
    data = write_daily(tmp_path / "daily.csv") if "1d" in extra else None
    args = ["--data", str(data)] if data else []
    assert backtest(tmp_path, *args, *extra) == 2
    err = capsys.readouterr().err
    assert err == f"tradebus backtest: error: {line}\n"
    assert not (tmp_path / "out").exists()


def test_five_minute_bars_on_the_one_minute_sample_via_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert backtest(tmp_path, "--param", "bar_seconds=300") == 0
    out = capsys.readouterr().out
    assert re.search(r"SmaCross: 5,850 bars, [1-9]\d* orders", out)
    with (tmp_path / "out" / "fills.csv").open(encoding="utf-8") as f:
        minutes = [int(row["ts"][14:16]) for row in csv.DictReader(f)]
    assert minutes
    assert all(m % 5 == 1 for m in minutes)  # on the 1-minute bar after a 5-minute bar closed


def test_the_resampling_example_in_the_docs_runs_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    doc = (ROOT / "docs" / "backtesting.md").read_text(encoding="utf-8")
    section = doc.split("## Bar sizes and resampling", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    namespace: dict[str, object] = {"__name__": "doc_example"}
    exec(code, namespace)
    printed = capsys.readouterr().out.strip()
    promised = re.search(r"# (\d+ five-minute bars, \d+ fills)", code)
    assert promised is not None
    assert printed == promised.group(1)
    assert printed.startswith("390 five-minute bars")  # 5 sessions x 78
