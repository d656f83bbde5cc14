"""Fixtures shared by the application's tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from framework.history import BarData
from tests.tradebus.sweep_fixture import write_daily_bars
from tradebus import load_bars


@pytest.fixture
def no_plotly(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import plotly`` raise ImportError for the test, as where the ``report`` extra is not installed."""
    for name in [m for m in sys.modules if m == "plotly" or m.startswith("plotly.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "plotly", None)


@pytest.fixture(scope="module")
def bars_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sweep tests' daily bars, written once per test module (a module may override it with other days)."""
    return write_daily_bars(tmp_path_factory.mktemp("sweep") / "daily.csv")


@pytest.fixture(scope="module")
def data(bars_file: Path) -> BarData:
    """The module's ``bars_file``, loaded."""
    return load_bars(bars_file)
