"""The examples in docs/backtesting.md run as written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tradebus.doc_blocks import python_blocks
from tradebus.sweep import InProcessExecutor


def test_the_pandas_empyrical_and_quantstats_example_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("quantstats")
    (code,) = python_blocks("backtesting.md", "Results in pandas, empyrical and quantstats")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "docs/backtesting.md", "exec"), {"__name__": "__doc_example__"})
    out = capsys.readouterr().out
    assert "holding_time" in out
    assert "Sharpe" in out


def test_the_parameter_sweep_example_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    (code,) = python_blocks("sweeps.md", "Parameter sweeps")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "docs/sweeps.md", "exec"), {"__name__": "__doc_example__"})
    assert capsys.readouterr().out.strip() == "{'fast': 10, 'slow': 40}"
    assert (tmp_path / "sweep.csv").read_text(encoding="utf-8").startswith("fast,slow,total_return")


def test_the_walk_forward_example_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    (code,) = python_blocks("sweeps.md", "Walk-forward")
    monkeypatch.chdir(tmp_path)
    # the process pool is tested with the sweeps and the walk-forward tests; here the example's own lines
    monkeypatch.setattr("tradebus.sweep.walkforward.LocalExecutor", InProcessExecutor)
    exec(compile(code, "docs/sweeps.md", "exec"), {"__name__": "__doc_example__"})
    lines = capsys.readouterr().out.strip().splitlines()
    # the sample's five sessions: two train sessions, then one test session per window (Sat-Sun hold no bar)
    assert [line[:12] for line in lines[:3]] == ["1 Thu 04 Jan", "2 Fri 05 Jan", "3 Mon 08 Jan"]
    assert lines[3].startswith("efficiency ")
    assert (tmp_path / "windows.csv").read_text(encoding="utf-8").startswith("window,train_start")
    assert (tmp_path / "oos_equity.csv").read_text(encoding="utf-8").startswith("time,equity,window")
