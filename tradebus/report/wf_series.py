"""The walk-forward report's chart data, without plotly: the stitched equity's points, the windows' bands, the bars.

Each window is labelled ``W<n>`` with its chosen parameters (by number only, or only every few, when
there are too many to fit: :func:`bands`); its hover text gives the window's number,
its test dates, the parameters and its out-of-sample return. A window that was not traded (every
train run failed) or that the data cut short says so, in its label and in its hover text.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tradebus.report.figures import Band
from tradebus.report.figures import Bars
from tradebus.report.formatting import percent
from tradebus.report.series import MAX_POINTS
from tradebus.report.series import downsample
from tradebus.report.sweep_cells import PERCENT_METRICS
from tradebus.report.sweep_cells import metric_text
from tradebus.stats import drawdown_series
from tradebus.sweep.wf_result import WalkForwardResult
from tradebus.sweep.wf_result import WindowResult

SHADES = ("#1f6feb", "#8250df")
"""Traded test windows' fills, alternating so neighbours stand apart."""
UNTRADED = "#8b949e"
"""The fill of a test window that was not traded."""
MAX_BAND_LABELS = 8
"""With more windows than this the bands carry only ``W<n>`` (the hover still gives the parameters)."""
LABEL_CHARS = 150
"""At most this many characters of parameter labels in all (about the chart's width at the labels' size)."""
MAX_NUMBER_LABELS = 30
"""With more windows than this only every k-th band is numbered, so at most this many labels share the axis."""
IS_COLOR, OOS_COLOR = "#8b949e", "#1f6feb"


def params_text(params: Mapping[str, Any] | None) -> str:
    """``fast=5, slow=20``; ``not traded`` without parameters."""
    if params is None:
        return "not traded"
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "no parameters"


def when(moment: datetime) -> str:
    """A window edge: the date alone at midnight UTC, else the date and the time to the minute."""
    if (moment.hour, moment.minute, moment.second) == (0, 0, 0):
        return f"{moment:%Y-%m-%d}"
    return f"{moment:%Y-%m-%d %H:%M}"


def window_name(window: WindowResult) -> str:
    """``W3``, with ``(partial)`` or ``(not traded)`` when so: the bar chart's categories."""
    name = f"W{window.number}"
    if window.params is None:
        return f"{name} (not traded)"
    return f"{name} (partial)" if window.partial else name


def window_hover(window: WindowResult) -> str:
    """The window in a hover label (its text escaped): number, test dates, parameters, OOS return or why none."""
    head = f"window {window.number}: test {when(window.test_start)} to {when(window.test_end)}"
    lines = [head + (" (partial: the data ended)" if window.partial else ""), params_text(window.params)]
    if window.params is None:
        lines.append(f"why: {window.failure or 'no train run finished'}")
    else:
        lines.append(f"OOS return {percent(window.oos_return)}")
        if window.failure:
            lines.append(f"stopped: {window.failure}")
    return "<br>".join(html.escape(line) for line in lines)


def bands(result: WalkForwardResult) -> list[Band]:
    """One band per window over its test dates: alternating shades, grey when not traded.

    Labels fit the axis: up to :data:`MAX_BAND_LABELS` windows carry their parameters (if those take
    no more than :data:`LABEL_CHARS` characters in all), up to
    :data:`MAX_NUMBER_LABELS` their number, and beyond that every k-th band is numbered (the first, then
    every k-th), so that no more than :data:`MAX_NUMBER_LABELS` labels are drawn.
    """
    count = len(result.windows)
    full = [f"W{w.number} {params_text(w.params)}" + (" (partial)" if w.partial and w.params is not None else "")
            for w in result.windows]
    wide = count > MAX_BAND_LABELS or sum(len(label) for label in full) > LABEL_CHARS
    every = -(-count // MAX_NUMBER_LABELS)  # ceiling division
    found = []
    for i, w in enumerate(result.windows):
        label = full[i] if not wide else f"W{w.number}" if i % every == 0 else ""
        color = UNTRADED if w.params is None else SHADES[i % 2]
        found.append(Band(w.test_start.timestamp(), w.test_end.timestamp(), html.escape(label), color))
    return found


@dataclass(frozen=True)
class EquityPoints:
    """The stitched equity as drawn: at most :data:`~tradebus.report.series.MAX_POINTS` points.

    Attributes:
        seconds: Epoch seconds of each point.
        equity: The stitched equity.
        drawdown: Below its running peak (<= 0), a fraction.
        hover: Each point's window (see :func:`window_hover`).
    """

    seconds: list[float]
    equity: list[float]
    drawdown: list[float]
    hover: list[str]


def equity_points(result: WalkForwardResult, limit: int = MAX_POINTS) -> EquityPoints:
    """The stitched equity reduced to ``limit`` points, with each point's drawdown and window hover text."""
    seconds = [t.timestamp() for t in result.equity_times]
    equity = [float(e) for e in result.equity]
    by_time = dict(zip(seconds, zip(drawdown_series(equity), result.equity_windows, strict=True), strict=True))
    hover = {w.number: window_hover(w) for w in result.windows}
    xs, ys = downsample(seconds, equity, limit)
    return EquityPoints(xs, ys, [by_time[x][0] for x in xs], [hover[by_time[x][1]] for x in xs])


def comparison(result: WalkForwardResult) -> tuple[list[str], list[tuple[str, list[Bars]]]]:
    """The categories (one per window) and the panels of IS-versus-OOS bars.

    The metric, and the annualised return unless no window is long enough to annualise.
    """
    windows, metric = result.windows, result.metric
    xs = [window_name(w) for w in windows]
    scale = 100 if metric in PERCENT_METRICS else 1

    def hover(w: WindowResult, side: str, name: str, value: str) -> str:
        head = f"{window_name(w)} {side}: {name} {value}"
        return "<br>".join([html.escape(head), window_hover(w)])

    def series(side: str, color: str, metrics: list[float | None], yearly: list[float | None]) -> tuple[Bars, Bars]:
        m_hover = [hover(w, side, metric, metric_text(metric, v)) for w, v in zip(windows, metrics, strict=True)]
        a_hover = [hover(w, side, "annualised return", percent(v)) for w, v in zip(windows, yearly, strict=True)]
        name = f"in sample ({side})" if side == "IS" else f"out of sample ({side})"
        return Bars(name, color, _scaled(metrics, scale), m_hover), Bars(name, color, _scaled(yearly, 100), a_hover)

    is_metric, is_yearly = series("IS", IS_COLOR, [w.is_metric for w in windows], [w.is_annualised for w in windows])
    oos_metric, oos_yearly = series("OOS", OOS_COLOR, [w.oos_metric for w in windows],
                                    [w.oos_annualised for w in windows])
    title = f"{metric} %" if scale == 100 else metric
    panels = [(title, [is_metric, oos_metric])]
    if any(v is not None for v in (*is_yearly.values, *oos_yearly.values)):  # none when windows are too short
        panels.append(("annualised return %", [is_yearly, oos_yearly]))
    return xs, panels


def _scaled(values: list[float | None], factor: float) -> list[float | None]:
    return [None if v is None else v * factor for v in values]
