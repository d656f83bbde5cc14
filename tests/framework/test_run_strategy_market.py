"""run_strategy takes what tradebus.load_bars returns, and refuses anything else with one clear line."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from framework import Bar
from framework import Strategy
from framework import StrategyConfig
from framework.events import BarClosed
from framework.events import OrderFilled
from framework.testing import DEFAULT_START
from framework.testing import run_strategy
from tradebus import load_bars


class BuyFirstBar(Strategy[StrategyConfig]):
    """Subscribes to AAPL and MSFT, records every bar it hears and buys 10 AAPL on the first AAPL bar."""

    def on_start(self) -> None:
        self.heard: list[tuple[str, str]] = []
        self.subscribe_bars("AAPL")
        self.subscribe_bars("MSFT")

    def on_bar(self, bar: Bar) -> None:
        self.heard.append((bar.start.strftime("%H:%M"), bar.symbol))
        if bar.symbol == "AAPL" and not self.portfolio.holds("AAPL"):
            self.buy("AAPL", 10)


def write_bars(path: Path) -> Path:
    # two symbols, MSFT listed first in the file, AAPL missing its 14:31 bar
    path.write_text(
        "timestamp,symbol,open,high,low,close,volume\n"
        "2024-01-02T14:30:00Z,MSFT,370,371,369,370.5,1000\n"
        "2024-01-02T14:30:00Z,AAPL,185,186,184,185.5,1000\n"
        "2024-01-02T14:31:00Z,MSFT,370.5,372,370,371,1000\n"
        "2024-01-02T14:32:00Z,AAPL,185.5,187,185,186,1000\n"
        "2024-01-02T14:32:00Z,MSFT,371,371,368,369,1000\n",
        encoding="utf-8",
    )
    return path


def test_bars_loaded_from_a_file_replay_by_end_time_then_symbol(tmp_path: Path) -> None:
    strategy = BuyFirstBar()
    events = run_strategy(strategy, load_bars(write_bars(tmp_path / "bars.csv")))
    assert strategy.heard == [("14:30", "AAPL"), ("14:30", "MSFT"), ("14:31", "MSFT"), ("14:32", "AAPL"),
                              ("14:32", "MSFT")]
    fills = [e.fill for e in events if isinstance(e, OrderFilled)]
    assert [(f.symbol, f.quantity, str(f.price)) for f in fills] == [("AAPL", 10, "185.5")]
    # the clock followed the data: each bar was delivered at its end time
    assert [e.ts for e in events if isinstance(e, BarClosed)][-1] == DEFAULT_START + timedelta(minutes=3)


def test_one_bar_series_is_accepted(tmp_path: Path) -> None:
    strategy = BuyFirstBar()
    run_strategy(strategy, load_bars(write_bars(tmp_path / "bars.csv"))["AAPL"])
    assert strategy.heard == [("14:30", "AAPL"), ("14:32", "AAPL")]


@pytest.mark.parametrize(
    ("market", "names"),
    [
        ("bars.csv", "market is a path or text ('bars.csv')"),
        (Path("bars.csv"), "market is a path or text (PosixPath('bars.csv'))"),
        (["AAPL"], "market item 0 is of type str ('AAPL')"),
        (42, "market is of type int"),
        ({"AAPL": [1, 2]}, "market['AAPL'] is of type list, not a BarSeries"),
    ],
)
def test_anything_else_is_refused_naming_what_was_passed_and_what_is_expected(market: object, names: str) -> None:
    with pytest.raises(TypeError) as caught:
        run_strategy(BuyFirstBar(), market)  # type: ignore[arg-type]
    message = str(caught.value)
    assert message.startswith(f"run_strategy: {names}")
    assert message.endswith("or the BarData that tradebus.load_bars(path) returns")
    assert "\n" not in message
