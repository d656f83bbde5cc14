"""The report: a PNG chart and an HTML page that embeds it."""

from __future__ import annotations

import base64
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tradebus.report import downsample
from tradebus.report import write_report
from tradebus.results import EquityCurve
from tradebus.results import RunResult

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def result(samples: int = 500) -> RunResult:
    curve = EquityCurve(timedelta(minutes=1))
    t0 = datetime(2024, 1, 2, 14, 30, tzinfo=UTC).timestamp()
    for i in range(samples):
        curve.append(t0 + 60 * i, 1_000_000 + 1000 * ((i % 50) - 25) + 10 * i, i % 3 == 0)
    return RunResult(
        orders=[], fills=[], curve=curve, starting_cash=Decimal(1_000_000), final_cash=Decimal(1_000_000),
        final_equity=Decimal(1_000_000), bar_count=samples,
    )  # fmt: skip


def test_report_writes_a_png_and_an_html_page_embedding_it(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    png, page = write_report(result(), tmp_path, title="SMA cross")
    data = png.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    html = page.read_text(encoding="utf-8")
    assert "data:image/png;base64," + base64.b64encode(data).decode() in html
    assert "<title>SMA cross</title>" in html
    assert "Max drawdown" in html


def test_report_is_deterministic(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    first = write_report(result(), tmp_path / "a")[0].read_bytes()
    second = write_report(result(), tmp_path / "b")[0].read_bytes()
    assert first == second


def test_downsample_keeps_the_extremes_of_a_long_curve() -> None:
    values = [float(i % 1000) for i in range(100_000)]
    values[54_321] = -5.0
    xs, ys = downsample(list(range(100_000)), values, limit=400)
    assert len(ys) <= 400
    assert min(ys) == -5.0
    assert max(ys) == 999.0
    assert xs == sorted(xs)
