"""The examples in docs/backtesting.md run as written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tradebus.doc_blocks import python_blocks


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
