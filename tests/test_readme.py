"""The README's strategy example runs as written, and its commands match CI."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from framework.events import OrderFilled
from framework.marketdata import Bar
from framework.testing import DEFAULT_START
from framework.testing import run_strategy
from tradebus.sweep import InProcessExecutor

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)


def test_readme_strategy_example_trades_as_described() -> None:
    namespace: dict[str, object] = {}
    exec(python_blocks()[0], namespace)
    breakout = namespace["Breakout"]
    closes = [10.0] * 20 + [11.0, 11.5, 9.0, 8.0]
    bars = [
        Bar("AAPL", DEFAULT_START + timedelta(minutes=i), timedelta(minutes=1), c, c, c, c, 100.0)
        for i, c in enumerate(closes)
    ]
    events = run_strategy(breakout(), bars)  # type: ignore[operator]
    fills = [(e.fill.side.value, e.fill.quantity) for e in events if isinstance(e, OrderFilled)]
    assert fills == [("buy", 100), ("sell", 100)]


def test_readme_test_example_runs_as_written_on_the_sample_data(capsys: pytest.CaptureFixture[str]) -> None:
    strategy_block, test_block = python_blocks()[:2]
    assert "bars = load_bars(" in test_block  # the example says where its bars come from
    namespace: dict[str, object] = {"__name__": "__readme__"}
    exec(compile(strategy_block + "\n" + test_block, "README.md", "exec"), namespace)
    fills = namespace["fills"]
    assert isinstance(fills, list)
    assert fills, "the breakout example traded nothing on the sample data"
    assert {(f.symbol, f.quantity) for f in fills} == {("AAPL", 100)}
    sides = [f.side.value for f in fills]
    assert sides[::2] == ["buy"] * len(sides[::2])  # buys and flattening sells alternate
    assert sides[1::2] == ["sell"] * len(sides[1::2])
    assert capsys.readouterr().out.startswith(f"{len(fills)} fills, first: ")


def test_readme_links_the_documentation_site_and_says_how_to_serve_it() -> None:
    assert "mkdocs serve" in README
    assert (ROOT / "mkdocs.yml").is_file()


def test_ci_runs_the_readme_test_command() -> None:
    commands = re.findall(r"```bash\n(.*?)\n```", README, flags=re.DOTALL)
    test_command = commands[1].strip()
    assert test_command in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()


def test_readme_sweep_and_walk_forward_example_runs(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("pandas")
    (block,) = [b for b in python_blocks() if "walk_forward(" in b]
    # the process pool is tested with the sweeps; here the example's own lines, in this process
    monkeypatch.setattr("tradebus.sweep.walkforward.LocalExecutor", InProcessExecutor)
    monkeypatch.setattr("tradebus.sweep.run.LocalExecutor", InProcessExecutor)
    exec(compile(block, "README.md", "exec"), {"__name__": "__readme__"})
    best, *out = capsys.readouterr().out.splitlines()
    assert best == "{'fast': 10, 'slow': 40}"
    assert out[0].split() == ["test_start", "fast", "slow", "is_total_return", "oos_total_return"]
    assert [line.split()[1] for line in out[1:4]] == ["2024-01-04", "2024-01-05", "2024-01-08"]
