"""The README's strategy example runs as written, and its commands match CI."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from framework.events import OrderFilled
from framework.marketdata import Bar
from framework.testing import DEFAULT_START
from framework.testing import run_strategy

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


def test_ci_runs_the_readme_test_command() -> None:
    commands = re.findall(r"```bash\n(.*?)\n```", README, flags=re.DOTALL)
    test_command = commands[1].strip()
    assert test_command in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
