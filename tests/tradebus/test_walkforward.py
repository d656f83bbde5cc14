"""``walk_forward`` on real backtests: choices from train data only, warm-up, stitching, executors, Ctrl-C, CLI."""

from __future__ import annotations

import csv
import itertools
import math
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from brokers.paper.config import PaperConfig
from framework.errors import ConfigError
from framework.history import BarData
from framework.history import BarSeriesBuilder
from tests.tradebus.sweep_fixture import SPEC
from tests.tradebus.sweep_fixture import InterruptAfter
from tests.tradebus.sweep_fixture import write_daily_bars
from tests.tradebus.wf_fixture import HOLD
from tests.tradebus.wf_fixture import zigzag
from tradebus import load_bars
from tradebus import walk_forward
from tradebus.cli import main
from tradebus.sweep import InProcessExecutor
from tradebus.sweep import LocalExecutor
from tradebus.sweep import WalkForwardResult
from tradebus.sweep.tasks import Span
from tradebus.sweep.tasks import SweepJob
from tradebus.sweep.tasks import SweepTask
from tradebus.sweep.tasks import run_task

DAY = 86_400
VENUE = PaperConfig(starting_cash=Decimal(10_000))


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def zig() -> BarData:
    return zigzag()  # 50 daily bars: up 10, down 10, up 10, down 10, up 10


@pytest.fixture(scope="module")
def hold_result(zig: BarData) -> WalkForwardResult:
    return walk_forward(HOLD, zig, {"hold": [0, 1]}, train=10, test=10, metric="total_return", venue=VENUE,
                        executor=InProcessExecutor())


def test_each_window_picks_what_won_on_its_own_train_bars(hold_result: WalkForwardResult) -> None:
    # train windows: bars 0-9 rise (hold wins), 10-19 fall (flat wins), 20-29 rise, 30-39 fall;
    # each test window is the opposite leg, so every winner does worse out of sample than in
    windows = hold_result.windows
    assert [w.params for w in windows] == [{"hold": 1}, {"hold": 0}, {"hold": 1}, {"hold": 0}]
    assert [w.train_runs for w in windows] == [2, 2, 2, 2]
    assert all(w.train_end == w.test_start for w in windows)
    assert all(a.test_end == b.test_start for a, b in itertools.pairwise(windows))
    assert [(w.test_start - w.train_start).days for w in windows] == [10] * 4
    held = [w for w in windows if w.params == {"hold": 1}]
    assert all(w.is_metric is not None and w.is_metric > 0 for w in held)
    assert all(w.oos_metric is not None and w.oos_metric < 0 for w in held)
    assert all(w.oos_return == 0 and w.fills == 0 for w in windows if w.params == {"hold": 0})
    assert all(w.fills == 1 for w in held)


def test_the_stitched_equity_chains_the_windows_from_the_starting_cash(hold_result: WalkForwardResult) -> None:
    r = hold_result
    assert r.equity[0] == Decimal(10_000)
    assert r.equity_times[0] == r.windows[0].test_start
    assert list(r.equity_times) == sorted(r.equity_times)
    assert sorted(set(r.equity_windows)) == [1, 2, 3, 4]
    for window in r.windows[1:]:  # each window moves on from where the one before ended
        first, last = r.equity_windows.index(window.number), len(r.equity_windows) - 1
        last -= r.equity_windows[::-1].index(window.number)
        assert r.equity_times[first - 1] <= window.test_start <= r.equity_times[first]
        assert float(r.equity[last] / r.equity[first - 1] - 1) == pytest.approx(window.oos_return, abs=1e-6)
    growth = math.prod(1 + (w.oos_return or 0) for w in r.windows)
    assert float(r.equity[-1]) == pytest.approx(10_000 * growth, abs=0.02)
    assert r.oos_return == pytest.approx(growth - 1, abs=1e-6)
    assert r.statistics is not None
    assert r.statistics.total_return == pytest.approx(r.oos_return)
    assert r.summary()["final_equity"] == r.equity[-1]


def test_the_equity_compounds_rather_than_resetting_the_cash(zig: BarData) -> None:
    # always hold: each test window starts from the last one's equity, so a later window's move is scaled by it
    r = walk_forward(HOLD, zig, {"hold": [1]}, train=10, test=10, metric="total_return", venue=VENUE,
                     executor=InProcessExecutor())
    first_end = r.equity[r.equity_windows.index(2) - 1]
    assert float(first_end) == pytest.approx(10_000 * (1 + r.windows[0].oos_return), abs=0.01)
    second = [e for e, n in zip(r.equity, r.equity_windows, strict=True) if n == 2]
    # the second window's gain, in money, is its return on the first window's ending equity, not on 10,000
    assert float(second[-1] - first_end) == pytest.approx(float(first_end) * r.windows[1].oos_return, abs=0.02)
    assert r.windows[1].oos_return > 0 > r.windows[0].oos_return


def test_a_symbol_missing_from_some_windows_trades_where_it_has_bars(zig: BarData) -> None:
    late = zigzag(bars=20, start=zig["AAPL"].bar(30).start, symbol="MSFT")["MSFT"]  # from bar 30 on
    data = BarData([zig["AAPL"], late])
    r = walk_forward(HOLD, data, {"hold": [0, 1]}, train=10, test=10, metric="total_return",
                     params={"symbol": "MSFT"}, venue=VENUE, executor=InProcessExecutor())
    assert [w.train_runs for w in r.windows] == [2, 2, 2, 2]
    assert [w.fills for w in r.windows] == [0, 0, 0, 1]  # MSFT rises over bars 30-39: held on 40-49
    assert [w.params for w in r.windows][-1] == {"hold": 1}


def test_warm_up_bars_are_seen_but_not_traded(zig: BarData) -> None:
    # "after": 5 bars before it trades. The test window is bars 10-19 (days 10-19)
    job = SweepJob(HOLD, zig, VENUE, {}, keep_results=True)
    first, start, end = zig["AAPL"].starts[0], zig["AAPL"].starts[10], zig["AAPL"].starts[19] + DAY

    def fills(warm_from: int) -> tuple[list[int], list[str]]:
        r = run_task(job, SweepTask(0, {"after": 5}, Span(warm_from, end, trade_from=start, keep_curve=True)))
        assert r.result is not None
        assert r.segment is not None
        assert r.segment.seconds[0] == start
        return [int(f.ts.timestamp()) for f in r.result.fills], [o.status.value for o in r.result.orders]

    (warm,), statuses = fills(first)  # ten warm-up bars (0-9): the strategy wants to buy from bar 5 on
    assert statuses == ["denied"] * 4 + ["filled"]  # denied on bars 5-8; bar 9's order meets only test bars
    assert start <= warm < start + DAY  # bought on bar 9's close, filled on bar 10: the test's first, as unbroken
    (cold,), statuses = fills(start)  # no warm-up: its sixth bar is the first it trades on
    assert statuses == ["filled"]
    assert start + 6 * DAY <= cold < start + 7 * DAY  # bought on bar 15's close, filled on bar 16


def test_on_minute_bars_the_last_warm_up_bars_order_fills_on_the_first_test_bar_as_in_an_unbroken_run() -> None:
    builder = BarSeriesBuilder("AAPL", timedelta(minutes=1))
    t0 = int(datetime(2024, 1, 2, 14, 30, tzinfo=UTC).timestamp())
    for i in range(20):
        builder.append((t0 + 60 * i, 100.0 + i, 100.5 + i, 99.5 + i, 100.0 + i, 1000.0), i)
    data = BarData([builder.build()])
    job = SweepJob(HOLD, data, VENUE, {}, keep_results=True)
    start = t0 + 600  # bars 0-9 warm up, bars 10-19 are the test window
    tested = run_task(job, SweepTask(0, {"after": 5}, Span(t0, t0 + 1200, trade_from=start)))
    assert tested.result is not None
    assert [o.status.value for o in tested.result.orders] == ["denied"] * 4 + ["filled"]
    # bar 9 is delivered at its end, the test's start: its order meets bar 10, filled when bar 10 is delivered
    (fill,) = tested.result.fills
    assert int(fill.ts.timestamp()) == start + 60
    unbroken = run_task(job, SweepTask(0, {"after": 9}))  # the same strategy, ready on bar 9, never denied
    assert unbroken.result is not None
    (same,) = unbroken.result.fills
    assert (same.ts, same.price) == (fill.ts, fill.price)


def test_warm_up_is_the_train_window_by_default_and_can_be_turned_off(zig: BarData) -> None:
    grid = {"hold": [1], "after": [5]}
    warm = walk_forward(HOLD, zig, grid, train=10, test=10, metric="total_return", venue=VENUE,
                        executor=InProcessExecutor())
    cold = walk_forward(HOLD, zig, grid, train=10, test=10, metric="total_return", venue=VENUE,
                        executor=InProcessExecutor(), warmup=0)
    some = walk_forward(HOLD, zig, grid, train=10, test=10, metric="total_return", venue=VENUE,
                        executor=InProcessExecutor(), warmup=3)
    assert [w.warmup_bars for w in warm.windows] == [10] * 4
    assert [w.warmup_bars for w in cold.windows] == [0] * 4
    assert [w.warmup_bars for w in some.windows] == [3] * 4
    # warm, it holds through the first test window's whole fall; cold, it buys five bars later and loses less
    assert warm.windows[0].oos_return is not None
    assert cold.windows[0].oos_return is not None
    assert warm.windows[0].oos_return < cold.windows[0].oos_return < 0


def test_executors_and_worker_counts_give_the_same_result(tmp_path_factory: pytest.TempPathFactory) -> None:
    data = load_bars(write_daily_bars(tmp_path_factory.mktemp("wf") / "daily.csv"))
    grid = {"fast": [3, 6], "slow": [12, 20]}
    results = [walk_forward(SPEC, data, grid, train=120, test=40, metric="total_return", executor=e)
               for e in (InProcessExecutor(), LocalExecutor(2))]
    assert results[0] == results[1]
    assert len(results[0].windows) == 4
    assert results[0].windows[-1].partial  # 260 bars: tests at 120, 160, 200 and a cut-short 240-259


def test_ctrl_c_keeps_the_finished_windows(zig: BarData, tmp_path: Path) -> None:
    # 4 windows x 2 sets = 8 train runs, then the test runs: stop before the third test run
    r = walk_forward(HOLD, zig, {"hold": [0, 1]}, train=10, test=10, metric="total_return", venue=VENUE,
                     executor=InterruptAfter(10))
    assert r.interrupted
    assert ([w.number for w in r.windows], r.planned) == ([1, 2], 4)
    assert set(r.equity_windows) == {1, 2}
    assert len(read_rows(r.to_csv(tmp_path / "w.csv"))) == 2
    early = walk_forward(HOLD, zig, {"hold": [0, 1]}, train=10, test=10, metric="total_return", venue=VENUE,
                         executor=InterruptAfter(3))  # during the train runs: no window finished
    assert early.interrupted
    assert (early.windows, early.equity) == ((), ())


def test_bad_settings_fail_before_any_run(zig: BarData) -> None:
    never = InterruptAfter(0)  # would raise KeyboardInterrupt if anything ran
    with pytest.raises(ConfigError, match=r"^--metric: sharpe is not given for runs shorter than about a month"):
        walk_forward(HOLD, zig, {"hold": [0, 1]}, train=10, test=10, executor=never)
    with pytest.raises(ConfigError, match=r"^--warmup: must be 0 or more"):
        walk_forward(HOLD, zig, {"hold": [0, 1]}, train=10, test=10, metric="total_return", warmup=-1,
                     executor=never)
    with pytest.raises(ConfigError, match=r"^--train: 60 bars leaves no bar to test: the data has 50 bar times"):
        walk_forward(HOLD, zig, {"hold": [0, 1]}, train=60, test=10, metric="total_return", executor=never)
    with pytest.raises(ConfigError, match=r"^grid.nope: unknown parameter"):
        walk_forward(HOLD, zig, {"nope": [0, 1]}, train=10, test=10, executor=never)


def test_files_and_frames(hold_result: WalkForwardResult, tmp_path: Path) -> None:
    rows = read_rows(hold_result.to_csv(tmp_path / "windows.csv"))
    assert [r["hold"] for r in rows] == ["1", "0", "1", "0"]
    assert list(rows[0])[:7] == ["window", "train_start", "train_end", "test_start", "test_end", "partial", "hold"]
    assert rows[0]["test_start"] == "2024-01-11T00:00:00+00:00"
    equity = read_rows(hold_result.equity_to_csv(tmp_path / "oos.csv"))
    assert [Decimal(r["equity"]) for r in equity] == list(hold_result.equity)
    pytest.importorskip("pandas")
    assert list(hold_result.frame["hold"]) == [1, 0, 1, 0]
    frame = hold_result.equity_frame
    assert list(frame["window"]) == list(hold_result.equity_windows)
    assert frame.index[0] == hold_result.windows[0].test_start


def test_cli_walk_forward_writes_the_windows_and_the_equity(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bars = write_daily_bars(tmp_path / "daily.csv", days=200)
    out = tmp_path / "out"
    code = main(["walk-forward", SPEC, "--data", str(bars), "--grid", "fast=3,6", "--grid", "slow=12,20",
                 "--train", "100bars", "--test", "50d", "--anchored", "--metric", "sharpe", "--workers", "1",
                 "--out", str(out), "--no-progress"])
    assert code == 0
    rows = read_rows(out / "windows.csv")
    assert [(r["window"], r["train_start"][:10], r["test_start"][:10]) for r in rows] == [
        ("1", "2023-01-02", "2023-04-12"), ("2", "2023-01-02", "2023-06-01")]  # bar 100, then 50 days on
    equity = read_rows(out / "oos_equity.csv")
    assert equity[0]["time"][:10] == "2023-04-12"
    assert {r["window"] for r in equity} == {"1", "2"}
    printed = capsys.readouterr().out
    assert "window  test_start  test_end  fast  slow  is_sharpe  oos_sharpe" in printed
    assert "efficiency: " in printed
    assert f"   1  2023-04-12  2023-06-01  {rows[0]['fast']}  {rows[0]['slow']}" in printed


def test_cli_bad_length_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["walk-forward", SPEC, "--grid", "fast=5", "--train", "0bars", "--test", "5bars",
                 "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("tradebus walk-forward: error: --train: 0bars must be positive")
    assert "\n" not in err
