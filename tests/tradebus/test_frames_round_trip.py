"""Bars out to pandas and back, a backtest fed from a DataFrame, and a daily file run from the CLI."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pytest

from strategies.sma_cross import SmaCross
from strategies.sma_cross import SmaCrossConfig
from tests.tradebus.test_data_cli import yahoo_daily
from tradebus.backtest import run_backtest
from tradebus.cli import main
from tradebus.data import bars_from_frame
from tradebus.data import load_bars
from tradebus.frames import bars_to_frame
from tradebus.sample_data import sample_data_path

pd = pytest.importorskip("pandas")


def test_bars_go_to_a_dataframe_and_back_unchanged() -> None:
    data = load_bars(sample_data_path())
    frame = bars_to_frame(data)
    assert list(frame.columns) == ["symbol", "open", "high", "low", "close", "volume"]
    assert len(frame) == data.bar_count
    assert str(frame.index.tz) == "UTC"
    back = bars_from_frame(frame)
    assert sorted(back) == sorted(data)
    for symbol, series in data.items():
        other = back[symbol]
        assert other.duration == series.duration == timedelta(minutes=1)
        assert (other.starts, other.opens, other.highs, other.lows, other.closes, other.volumes) == (
            series.starts, series.opens, series.highs, series.lows, series.closes, series.volumes)


def test_a_backtest_on_bars_from_a_dataframe_equals_the_one_on_the_file() -> None:
    from_file = run_backtest(SmaCross(), load_bars(sample_data_path()))
    from_frame = run_backtest(SmaCross(), bars_from_frame(bars_to_frame(load_bars(sample_data_path()))))
    assert from_frame.to_json() == from_file.to_json()
    trades = from_frame.frames.trades
    assert len(trades) == len(from_file.trades) > 0


def test_a_daily_yahoo_file_fills_from_the_cli_on_inferred_daily_bars(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith("TRADEBUS_") and k != "TRADEBUS_REQUIRE_BROWSER"]:
        monkeypatch.delenv(key)
    path = yahoo_daily(tmp_path / "XYZ.csv")
    out = tmp_path / "out"
    code = main(["backtest", "strategies.sma_cross:SmaCross", "--data", str(path), "--out", str(out),
                 "--no-progress", "--no-report", "--param", "symbol=XYZ", "--param", "fast=3", "--param", "slow=8"])
    assert code == 0
    result = json.loads((out / "result.json").read_text(encoding="utf-8"))
    assert result["summary"]["periods_per_year"] == 252.0
    assert result["summary"]["bars"] == 120
    filled = [o for o in result["orders"] if o["status"] == "filled"]
    assert len(filled) >= 4  # the swings cross the averages several times, and each order fills next day
    assert result["summary"]["sharpe"] is not None  # 120 trading days: long enough to annualise


def test_strategy_bar_size_defaults_to_the_data() -> None:
    assert SmaCrossConfig().bar_seconds is None
