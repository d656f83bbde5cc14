"""The sweep report page (``sweep.html``): one self-contained HTML file, on the run report's page and charts.

Sections, in order: the title (strategy, data span, bar size, sets run of planned, metric, executor), a
banner when the sweep was interrupted, the heat map of the metric over two parameters (a line chart for
a one-parameter sweep), the ranked table (the top :data:`TOP_ROWS`), and a link to the best run's report.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from tradebus.report import figures
from tradebus.report.formatting import human_duration
from tradebus.report.formatting import money
from tradebus.report.formatting import timestamp
from tradebus.report.layout import page_html
from tradebus.report.layout import section
from tradebus.report.sweep_cells import HeatMap
from tradebus.report.sweep_cells import check_heatmap
from tradebus.report.sweep_cells import curve
from tradebus.report.sweep_cells import heat_map
from tradebus.report.sweep_cells import metric_text
from tradebus.report.tables import key_value_table
from tradebus.sweep.table import LOWER_IS_BETTER
from tradebus.sweep.table import SweepResult

TOP_ROWS = 20
"""Rows of the ranked table shown."""

KEY_STATS = ("total_return", "sharpe", "max_drawdown", "trade_count", "win_rate")
"""The statistics the ranked table shows besides the metric."""

def heading(result: SweepResult) -> str:
    """The page's title."""
    name = result.info.strategy.rpartition(":")[2] if result.info else "strategy"
    return f"{name}: parameter sweep ranked by {result.metric}"


def title_facts(result: SweepResult) -> list[tuple[str, str]]:
    """The facts under the title: strategy, data, bars, sets run of planned, metric, executor."""
    info = result.info
    order = "lower is better" if result.metric in LOWER_IS_BETTER else "higher is better"
    facts = [("Strategy", info.strategy if info else "unknown")]
    if info is not None:
        span = "no bars"
        if info.start is not None and info.end is not None:
            span = f"{timestamp(info.start)} to {timestamp(info.end)} ({human_duration(info.end - info.start)})"
        size = "mixed" if info.bar_seconds is None else human_duration(info.bar_seconds)
        facts += [("Data", f"{span}; {', '.join(info.symbols) or 'no symbols'}"),
                  ("Bars", f"{info.bars:,} bars of {size}")]
    facts.append(("Parameter sets", f"{len(result.results):,} run of {result.planned:,} planned"
                  + (f" ({info.search} search)" if info else "")))
    facts.append(("Swept", ", ".join(result.params)))
    facts.append(("Ranked by", f"{result.metric} ({order})"))
    if info is not None and info.executor:
        facts.append(("Executor", info.executor))
    return facts


def partial_banner(result: SweepResult) -> str:
    """A warning that the sweep was interrupted (empty when every set ran)."""
    if not result.interrupted:
        return ""
    text = (f"Partial sweep: interrupted after {len(result.results):,} of {result.planned:,} parameter sets. "
            "The ranking and the chart cover only the sets that finished; blank cells include those not run.")
    return f'<div class="banner" role="alert">{html.escape(text)}</div>'


def _label(value: Any) -> str:
    return str(value)


def heat_map_figure(result: SweepResult, chart: HeatMap) -> str:
    """The heat map: blank cells left empty, hover with the set and the metric or why the cell is blank."""
    metric = result.metric
    title = f"{metric} by {chart.x} and {chart.y}"
    if chart.others:
        title += f" (each cell: the best over {', '.join(chart.others)})"
    scale = f"{metric}<br>({'higher' if chart.higher_is_better else 'lower'} is better)"
    return figures.heat_map_figure(
        [_label(v) for v in chart.xs], [_label(v) for v in chart.ys], chart.values, chart.hover(metric),
        titles=(title, chart.x, chart.y, scale), reverse=not chart.higher_is_better, div_id="sweep-heatmap",
    )


def curve_figure(result: SweepResult, name: str) -> str:
    """The metric against the one swept parameter (gaps where a run has no value; hover says why)."""
    xs, cells = curve(result, name)
    text = [f"{name}={x}<br>" + (f"{result.metric} {metric_text(result.metric, c.value)}" if c.params is not None
                                  else f"blank: {c.why}") for x, c in zip(xs, cells, strict=True)]
    return figures.line_figure([_label(v) for v in xs], [c.value for c in cells], text,
                               titles=(f"{result.metric} by {name}", name, result.metric), div_id="sweep-curve")


def chart_section(result: SweepResult, pair: tuple[str, str] | None) -> str:
    """The heat map over ``pair`` (default: the first two swept), or the line chart of a one-parameter sweep."""
    if not result.results:
        return '<p class="empty">No parameter set finished.</p>'
    if len(result.params) == 1:
        return curve_figure(result, result.params[0])
    x, y = pair or (result.params[0], result.params[1])
    chart = heat_map(result, x, y)
    note = ("Blank cells have no value; hover over one to see why (a failed run, no value of the metric, "
            "or no run with those values).")
    return heat_map_figure(result, chart) + f'<p class="note">{html.escape(note)}</p>'


def _stat(row: dict[str, Any], name: str) -> str:
    if name == "trade_count":
        return "n/a" if row.get(name) is None else f"{row[name]:,}"
    if name == "final_equity":
        return money(row.get(name))
    return metric_text(name, row.get(name))


def ranked_table(result: SweepResult, count: int = TOP_ROWS) -> str:
    """The best ``count`` rows: rank, parameters, the metric, key statistics, final equity, failure."""
    if not result.results:
        return '<p class="empty">No parameter set finished.</p>'
    stats = [result.metric, *(s for s in KEY_STATS if s != result.metric)]
    if "final_equity" not in stats:
        stats.append("final_equity")
    head = ["rank", *result.params, *stats, "failure"]
    rows = []
    for i, row in enumerate(result.rows[:count], 1):
        cells = [str(i), *(str(row[p]) for p in result.params), *(_stat(row, s) for s in stats),
                 row.get("failure") or ""]
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    header = "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"
    shown = f"the best {min(count, len(result.results)):,} of {len(result.results):,}"
    note = f'<p class="note">Showing {shown} runs; every run is in sweep.csv.</p>'
    return f'{note}<table class="grid sweep-table">{header}{"".join(rows)}</table>'


def best_link(result: SweepResult, best_report: str | None) -> str:
    """A link to the best run's full report (or why there is none)."""
    if result.best is None:
        return '<p class="empty">No best run: no parameter set finished without a failure.</p>'
    params = ", ".join(f"{k}={v}" for k, v in result.best.items())
    if best_report is None:
        return f'<p class="empty">Best set: {html.escape(params)} (its full report was not written).</p>'
    return (f'<p>Best set: {html.escape(params)}. <a href="{html.escape(best_report, quote=True)}">'
            "Open its full backtest report</a> (equity, trades, prices, assumptions).</p>")


def render_sweep_page(result: SweepResult, heatmap: Sequence[str] | None = None,
                      best_report: str | None = None) -> str:
    """The whole sweep report page.

    Raises:
        ImportError: If plotly is not installed.
        ConfigError: If ``heatmap`` does not name two different swept parameters.
    """
    pair = None
    if heatmap is not None and len(result.params) > 1:
        pair = check_heatmap(result.params, list(heatmap))
    body = [
        f"<header><h1>{html.escape(heading(result))}</h1>{key_value_table(title_facts(result), 'facts')}</header>",
        partial_banner(result),
        section("Metric by parameters", chart_section(result, pair)),
        section(f"Ranking (top {TOP_ROWS})", ranked_table(result)),
        section("Best run", best_link(result, best_report)),
    ]
    return page_html(heading(result), figures.plotly_js(), body)

