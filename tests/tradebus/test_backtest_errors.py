"""A backtest that stops on an error or on Ctrl-C keeps what it did: partial results, marked partial."""

from __future__ import annotations

import json
import os
import signal
from datetime import timedelta
from pathlib import Path

import pytest

from framework.config import ErrorPolicy
from framework.events import BarClosed
from framework.history import BarData
from framework.marketdata import Bar
from framework.models import OrderStatus
from framework.strategy import Strategy
from tradebus import BacktestRunner
from tradebus import cli
from tradebus import run_backtest
from tradebus.sample_data.generate import synthetic_series

BARS = 200


class FailsAt(Strategy):
    """Buys 10 at market on bar 5, rests a far limit on bar 7, raises on bar ``fail_at``."""

    def __init__(self, strategy_id: str = "fails", *, fail_at: int = 10, symbol: str = "AAPL") -> None:
        super().__init__(strategy_id=strategy_id)
        self.fail_at = fail_at
        self.symbol = symbol
        self.bars = 0

    def on_start(self) -> None:
        self.subscribe_bars(self.symbol, timedelta(minutes=1))

    def on_bar(self, bar: Bar) -> None:
        self.bars += 1
        if self.bars == 5:
            self.buy(self.symbol, 10)
        elif self.bars == 7:
            self.buy(self.symbol, 10, limit_price=1)
        if self.bars == self.fail_at:
            raise ValueError(f"bad bar {self.bars}")


class Counter(Strategy):
    """Counts the bars it hears."""

    def __init__(self, symbol: str = "MSFT", *, interrupt_at: int | None = None) -> None:
        super().__init__(strategy_id=f"count-{symbol}")
        self.symbol = symbol
        self.bars = 0
        self.interrupt_at = interrupt_at

    def on_start(self) -> None:
        self.subscribe_bars(self.symbol, timedelta(minutes=1))

    def on_bar(self, bar: Bar) -> None:
        self.bars += 1
        if self.bars == self.interrupt_at:
            os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C does to the process


def one_symbol() -> BarData:
    return BarData([synthetic_series("AAPL", BARS, seed=3)])


def two_symbols() -> BarData:
    return BarData([synthetic_series("AAPL", BARS, seed=3), synthetic_series("MSFT", BARS, seed=4, price=300.0)])


def test_a_failing_strategy_ends_the_replay_at_that_bar_and_the_result_says_partial(tmp_path: Path) -> None:
    strategy = FailsAt()
    result = run_backtest(strategy, one_symbol())
    assert strategy.bars == 10
    assert (result.bar_count, result.bars_total) == (10, BARS)
    assert result.partial
    assert result.outcome.status == "failed"
    [failure] = result.outcome.failures
    assert (failure.strategy_id, failure.hook, failure.error) == ("fails", "on_bar", "bad bar 10")
    assert failure.policy == "stop-run"
    assert failure.cancelled == ("BT.2",)
    statuses = [o.status for o in result.orders]
    assert statuses == [OrderStatus.FILLED, OrderStatus.CANCELLED]  # position kept, working limit cancelled
    assert result.final_equity != result.starting_cash
    assert len(result.curve) == 10
    written = {p.name for p in result.export(tmp_path)}
    assert {"orders.csv", "fills.csv", "equity.csv", "result.json"} <= written
    run = json.loads((tmp_path / "result.json").read_text(encoding="utf-8"))["run"]
    assert run["status"] == "failed"
    assert run["partial"] is True
    assert (run["bars_replayed"], run["bars_total"]) == (10, BARS)
    assert run["strategy_failures"][0]["hook"] == "on_bar"
    assert run["strategy_failures"][0]["error"] == "bad bar 10"
    assert run["strategy_failures"][0]["ts"] == failure.ts.isoformat()


def test_with_stop_strategy_the_others_replay_to_the_end(tmp_path: Path) -> None:
    failing, counter = FailsAt(), Counter()
    result = run_backtest([failing, counter], two_symbols(), on_strategy_error=ErrorPolicy.STOP_STRATEGY)
    assert failing.bars == 10
    assert counter.bars == BARS
    assert (result.bar_count, result.partial) == (2 * BARS, False)
    assert result.outcome.status == "failed"


def test_a_complete_backtest_is_marked_complete(tmp_path: Path) -> None:
    result = run_backtest(Counter("AAPL"), one_symbol())
    assert (result.bar_count, result.bars_total, result.partial) == (BARS, BARS, False)
    run = json.loads(result.to_json())["run"]
    assert run == {
        "status": "completed", "partial": False, "stop_reason": None, "bars_replayed": BARS, "bars_total": BARS,
        "strategy_failures": [], "errors_tolerated": {}, "errors": [],
    }


def test_an_on_start_error_replays_nothing() -> None:
    class BrokenStart(Counter):
        def on_start(self) -> None:
            raise RuntimeError("no such parameter")

    result = run_backtest(BrokenStart("AAPL"), one_symbol())
    assert (result.bar_count, result.partial, result.outcome.status) == (0, True, "failed")
    assert result.outcome.failures[0].hook == "on_start"


def test_a_failing_handler_outside_the_strategies_ends_the_replay() -> None:
    runner = BacktestRunner(Counter("AAPL"), one_symbol())
    seen: list[int] = []

    def broken(event: BarClosed) -> None:
        seen.append(1)
        if len(seen) == 3:
            raise RuntimeError("listener bug")

    runner.engine.subscribe(BarClosed, broken, sender="AAPL")
    result = runner.run()
    assert result.bar_count == 3
    assert result.partial
    assert result.outcome.status == "failed"
    assert "listener bug" in result.outcome.errors[0]


def test_ctrl_c_ends_the_replay_after_the_current_bar_and_keeps_the_results(tmp_path: Path) -> None:
    counter = Counter("AAPL", interrupt_at=25)
    result = run_backtest([counter], one_symbol())
    assert counter.bars == 25
    assert (result.bar_count, result.bars_total, result.partial) == (25, BARS, True)
    assert result.outcome.status == "interrupted"
    assert result.outcome.stop_reason == "interrupted (Ctrl-C)"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the caller's handler is back


def test_a_second_ctrl_c_raises_keyboard_interrupt() -> None:
    class Twice(Counter):
        def on_stop(self) -> None:  # the stop after the first Ctrl-C hangs, say: the user presses it again
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        run_backtest([Twice("AAPL", interrupt_at=1)], one_symbol())


def test_the_cli_reports_a_second_ctrl_c_in_one_line_and_exits_130(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    strategy = tmp_path / "twice.py"
    strategy.write_text(
        "import os, signal\n"
        "from datetime import timedelta\n"
        "from framework.strategy import Strategy\n\n"
        "class Twice(Strategy):\n"
        "    def on_start(self):\n"
        "        self.subscribe_bars('AAPL', timedelta(minutes=1))\n"
        "    def on_bar(self, bar):\n"
        "        os.kill(os.getpid(), signal.SIGINT)  # the first Ctrl-C: stop after this bar\n"
        "    def on_stop(self):\n"
        "        os.kill(os.getpid(), signal.SIGINT)  # the second, while the run stops\n",
        encoding="utf-8",
    )
    code = cli.main(["backtest", f"{strategy}:Twice", "--out", str(tmp_path / "out"), "--no-progress"])
    assert code == 130
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == "tradebus backtest: interrupted"
    assert "Traceback" not in err
