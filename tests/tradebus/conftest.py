"""Fixtures shared by the application's tests."""

from __future__ import annotations

import sys

import pytest


@pytest.fixture
def no_plotly(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import plotly`` raise ImportError for the test, as where the ``report`` extra is not installed."""
    for name in [m for m in sys.modules if m == "plotly" or m.startswith("plotly.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "plotly", None)
