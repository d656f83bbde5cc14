"""The reports' interactive charts, drawn with plotly (the ``report`` extra).

The run report's equity and price charts, the sweep report's heat map and line, and the walk-forward
report's stitched equity (the same equity chart, its test windows shaded) and grouped bars.

Each function returns an HTML fragment: a ``<div>`` and the script that draws it, without plotly.js
itself (the page includes it once, inline, for every figure). Figures get fixed div ids, so the same
run writes the same page.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from framework.models import Fill
from framework.models import Side
from tradebus.report.formatting import iso
from tradebus.report.formatting import price
from tradebus.report.formatting import quantity
from tradebus.report.formatting import timestamp
from tradebus.report.series import MAX_POINTS
from tradebus.report.series import Closes
from tradebus.report.series import downsample
from tradebus.report.series import time_ticks

MAX_MARKERS = 2000
"""Fills marked at most per symbol (the last ones); the chart says when some are left out."""

_CONFIG = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["select2d", "lasso2d"]}
LAYOUT: dict[str, Any] = {
    "template": "plotly_white",
    "margin": {"l": 60, "r": 20, "t": 40, "b": 40},
    "hovermode": "x unified",
    "legend": {"orientation": "h", "y": 1.08, "x": 0},
    "font": {"family": "system-ui, sans-serif", "size": 12},
}
"""The layout every report chart starts from."""


@dataclass(frozen=True)
class Band:
    """A shaded span of an equity chart's time axis (a walk-forward's test window), labelled at its top left.

    Attributes:
        start: Epoch seconds where it starts.
        end: Epoch seconds where it ends.
        label: The text at its top left (empty: none).
        color: Its fill, a CSS colour (drawn faint, under the curves).
    """

    start: float
    end: float
    label: str
    color: str


@dataclass(frozen=True)
class Bars:
    """One series of a grouped bar chart.

    Attributes:
        name: Its legend entry.
        color: Its bars' colour.
        values: One value per category (None: no bar).
        hover: One hover text per category.
    """

    name: str
    color: str
    values: Sequence[float | None]
    hover: Sequence[str]


def plotly_js() -> str:
    """plotly.js, minified, to inline once in the page.

    Raises:
        ImportError: If plotly is not installed.
    """
    from plotly.offline import get_plotlyjs  # noqa: PLC0415 - optional dependency

    return str(get_plotlyjs())


def fragment(figure: Any, div_id: str) -> str:
    """``figure`` as a ``<div id=div_id>`` and its drawing script, without plotly.js (the page inlines it once)."""
    return str(figure.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config=_CONFIG))


def equity_figure(
    seconds: Sequence[float],
    equity: Sequence[float],
    drawdown: Sequence[float],
    benchmark: Sequence[float] | None,
    *,
    starting_cash: float,
    breaks: Sequence[dict[str, object]] = (),
    hover: Sequence[str] | None = None,
    bands: Sequence[Band] = (),
    div_id: str = "equity-chart",
) -> str:
    """Equity (with the buy-and-hold benchmark and the starting cash) over drawdown, shaded, in percent.

    ``seconds``, ``equity``, ``drawdown`` and ``benchmark`` are already reduced to the points drawn;
    ``breaks`` are the x-axis range breaks (see :func:`~tradebus.report.series.quiet_times`); ``hover``
    adds a text to each equity point's hover label; ``bands`` shade spans of time over both panels.
    """
    from plotly.subplots import make_subplots  # noqa: PLC0415 - optional dependency

    x = [iso(s) for s in seconds]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.72, 0.28], vertical_spacing=0.04)
    fig.add_scatter(x=x, y=list(equity), name="strategy equity", line={"color": "#1f6feb", "width": 1.5},
                    row=1, col=1, hovertemplate="%{y:,.2f}" if hover is None else "%{y:,.2f}<br>%{text}",
                    text=None if hover is None else list(hover))
    if benchmark is not None:
        fig.add_scatter(x=x, y=list(benchmark), name="buy and hold (equal weight)",
                        line={"color": "#8250df", "width": 1.2, "dash": "dot"}, row=1, col=1,
                        hovertemplate="%{y:,.2f}")
    fig.add_hline(y=starting_cash, line={"color": "#8b949e", "width": 1, "dash": "dash"}, row=1, col=1)
    fig.add_scatter(x=x, y=[d * 100 for d in drawdown], name="drawdown %", fill="tozeroy",
                    line={"color": "#cf222e", "width": 1}, fillcolor="rgba(207,34,46,0.3)", row=2, col=1,
                    hovertemplate="%{y:.2f} %")
    fig.update_yaxes(title_text="equity", tickformat=",.0f", row=1, col=1)
    fig.update_yaxes(title_text="drawdown %", rangemode="tozero", row=2, col=1)
    for band in bands:
        _shade(fig, band)
    _time_axis(fig, seconds, breaks)
    fig.update_layout(height=520, **LAYOUT)
    return fragment(fig, div_id)


def _shade(fig: Any, band: Band) -> None:
    fig.add_vrect(x0=iso(band.start), x1=iso(band.end), fillcolor=band.color, opacity=0.14, line_width=0,
                  layer="below", row="all", col=1)
    if band.label:
        fig.add_annotation(x=iso(band.start), xanchor="left", y=1, yref="y domain", yanchor="top", text=band.label,
                           showarrow=False, font={"size": 10, "color": "#57606a"}, row=1, col=1)


def _marker_trace(fills: Sequence[Fill], side: Side) -> dict[str, Any]:
    mine = [f for f in fills if f.side is side]
    buy = side is Side.BUY
    return {
        "x": [iso(f.ts.timestamp()) for f in mine],
        "y": [float(f.price) for f in mine],
        "mode": "markers",
        "name": "buy" if buy else "sell",
        "marker": {"symbol": "triangle-up" if buy else "triangle-down", "size": 10,
                   "color": "#1a7f37" if buy else "#cf222e", "line": {"width": 1, "color": "#ffffff"}},
        "text": [f"{side.value.upper()} {quantity(f.quantity)} @ {price(f.price)}<br>{timestamp(f.ts)}"
                 f"<br>commission {price(f.commission)}" for f in mine],
        "hovertemplate": "%{text}<extra></extra>",
    }


def price_figure(
    symbol: str, closes: Closes, fills: Sequence[Fill], index: int, breaks: Sequence[dict[str, object]] = ()
) -> str:
    """The closes of ``symbol`` with a marker at every fill (buys up, sells down; hover: quantity, price, time)."""
    import plotly.graph_objects as go  # noqa: PLC0415 - optional dependency

    xs, ys = downsample(closes.times, closes.prices, MAX_POINTS)
    shown = list(fills[-MAX_MARKERS:])
    fig = go.Figure()
    fig.add_scatter(x=[iso(s) for s in xs], y=ys, name=f"{symbol} close", line={"color": "#57606a", "width": 1.2},
                    hovertemplate="%{y:,.2f}")
    for side in (Side.BUY, Side.SELL):
        fig.add_scatter(**_marker_trace(shown, side))
    title = symbol if len(shown) == len(fills) else f"{symbol} (last {len(shown):,} of {len(fills):,} fills marked)"
    fig.update_layout(height=360, title={"text": title, "x": 0, "font": {"size": 14}}, **LAYOUT)
    fig.update_layout(hovermode="closest")
    fig.update_yaxes(title_text="price", tickformat=",.2f")
    _time_axis(fig, xs, breaks)
    return fragment(fig, f"price-chart-{index}")


def _time_axis(fig: Any, seconds: Sequence[float], breaks: Sequence[dict[str, object]]) -> None:
    # with range breaks, ticks of our own on the samples (see time_ticks); without, plotly's own are fine
    fig.update_xaxes(rangebreaks=list(breaks))
    if breaks:
        values, labels = time_ticks(seconds)
        fig.update_xaxes(tickvals=[iso(v) for v in values], ticktext=labels)


def price_figures(
    closes: Mapping[str, Closes], fills: Sequence[Fill], breaks: Sequence[dict[str, object]] = ()
) -> list[str]:
    """One price chart per symbol that has prices or fills, in symbol order."""
    symbols = sorted(set(closes) | {f.symbol for f in fills})
    return [
        price_figure(symbol, closes.get(symbol, Closes((), ())), [f for f in fills if f.symbol == symbol], i, breaks)
        for i, symbol in enumerate(symbols)
    ]


def heat_map_figure(
    xs: Sequence[str], ys: Sequence[str], z: Sequence[Sequence[float | None]], hover: Sequence[Sequence[str]], *,
    titles: tuple[str, str, str, str], reverse: bool, div_id: str,
) -> str:
    """A heat map: ``z[row][column]`` over categories ``xs`` (across) and ``ys`` (down), None cells left blank.

    Args:
        xs: The column labels.
        ys: The row labels.
        z: The values, row by row.
        hover: Each cell's hover text (shown for blank cells too).
        titles: The chart's, the x axis's, the y axis's and the colour bar's title.
        reverse: Reverse the colour scale (yellow for low values instead of high ones).
        div_id: The figure's div id.
    """
    import plotly.graph_objects as go  # noqa: PLC0415 - optional dependency

    title, x_title, y_title, scale = titles
    fig = go.Figure(go.Heatmap(
        x=list(xs), y=list(ys), z=[list(row) for row in z], text=[list(row) for row in hover],
        hovertemplate="%{text}<extra></extra>", hoverongaps=True, colorscale="Viridis", reversescale=reverse,
        colorbar={"title": {"text": scale}}, xgap=1, ygap=1,
    ))
    fig.update_layout(height=520, title={"text": title, "x": 0, "font": {"size": 14}}, **LAYOUT)
    fig.update_layout(hovermode="closest", plot_bgcolor="#ffffff")
    fig.update_xaxes(title_text=x_title, type="category", showgrid=False)
    fig.update_yaxes(title_text=y_title, type="category", showgrid=False)
    return fragment(fig, div_id)


def line_figure(
    xs: Sequence[str], ys: Sequence[float | None], hover: Sequence[str], *, titles: tuple[str, str, str], div_id: str
) -> str:
    """A line with markers over categories ``xs`` (gaps at None), each point with its hover text.

    ``titles`` are the chart's, the x axis's and the y axis's.
    """
    import plotly.graph_objects as go  # noqa: PLC0415 - optional dependency

    title, x_title, y_title = titles
    fig = go.Figure(go.Scatter(
        x=list(xs), y=list(ys), mode="lines+markers", text=list(hover), hovertemplate="%{text}<extra></extra>",
        line={"color": "#1f6feb"}, name=y_title,
    ))
    fig.update_layout(height=420, title={"text": title, "x": 0, "font": {"size": 14}}, **LAYOUT)
    fig.update_layout(hovermode="closest")
    fig.update_xaxes(title_text=x_title, type="category")
    fig.update_yaxes(title_text=y_title)
    return fragment(fig, div_id)


def grouped_bars_figure(
    xs: Sequence[str], panels: Sequence[tuple[str, Sequence[Bars]]], *, div_id: str
) -> str:
    """Grouped bars over categories ``xs``, one panel per ``(y axis title, series)``, the panels stacked.

    Every series of every panel has a value and a hover text per category; the legend lists the first
    panel's series (the others share their names and colours).
    """
    from plotly.subplots import make_subplots  # noqa: PLC0415 - optional dependency

    fig = make_subplots(rows=len(panels), cols=1, shared_xaxes=True, vertical_spacing=0.08)
    for row, (y_title, series) in enumerate(panels, 1):
        for bars in series:
            fig.add_bar(x=list(xs), y=list(bars.values), name=bars.name, marker_color=bars.color,
                        text=list(bars.hover), textposition="none", hovertemplate="%{text}<extra></extra>",
                        legendgroup=bars.name, showlegend=row == 1, row=row, col=1)
        fig.update_yaxes(title_text=y_title, zeroline=True, zerolinecolor="#8b949e", row=row, col=1)
    fig.update_layout(height=120 + 220 * len(panels), barmode="group", **LAYOUT)
    fig.update_layout(hovermode="closest")
    fig.update_xaxes(type="category")
    return fragment(fig, div_id)
