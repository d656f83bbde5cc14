"""The walk-forward report page (``walkforward.html``): one self-contained HTML file, on the reports' shared page.

Sections, in order: the title (strategy, data span, window scheme, warm-up, metric, executor), a banner
when the walk-forward was interrupted, the stitched out-of-sample equity over its drawdown with each
test window shaded and labelled by its parameters, in-sample versus out-of-sample bars per window
(the metric, the annualised return), the summary figures, and the windows table. The chart data
comes from :mod:`~tradebus.report.wf_series`.
"""

from __future__ import annotations

import html

from tradebus.report import figures
from tradebus.report.formatting import human_duration
from tradebus.report.formatting import money
from tradebus.report.formatting import number
from tradebus.report.formatting import percent
from tradebus.report.formatting import timestamp
from tradebus.report.layout import page_html
from tradebus.report.layout import section
from tradebus.report.series import quiet_times
from tradebus.report.sweep_cells import metric_text
from tradebus.report.tables import TOO_SHORT
from tradebus.report.tables import key_value_table
from tradebus.report.wf_series import bands
from tradebus.report.wf_series import comparison
from tradebus.report.wf_series import equity_points
from tradebus.report.wf_series import params_text
from tradebus.report.wf_series import when
from tradebus.sweep.table import LOWER_IS_BETTER
from tradebus.sweep.wf_result import WalkForwardResult
from tradebus.sweep.wf_result import WindowResult

EFFICIENCY_NOTE = ("Walk-forward efficiency: the out-of-sample return per bar over the mean in-sample return "
                   "per bar (compounded rates). Near 1 the edge found in sample held up out of sample; near 0 or "
                   "below, it did not (n/a when the mean in-sample return is not positive).")


def heading(result: WalkForwardResult) -> str:
    """The page's title."""
    name = result.info.sweep.strategy.rpartition(":")[2] if result.info else "strategy"
    return f"{name}: walk-forward ranked by {result.metric}"


def title_facts(result: WalkForwardResult) -> list[tuple[str, str]]:
    """The facts under the title: strategy, data, windows, warm-up, parameter sets, metric, executor."""
    info = result.info
    order = "lower is better" if result.metric in LOWER_IS_BETTER else "higher is better"
    facts = [("Strategy", info.sweep.strategy if info else "unknown")]
    if info is not None:
        data = info.sweep
        span = "no bars"
        if data.start is not None and data.end is not None:
            span = f"{timestamp(data.start)} to {timestamp(data.end)} ({human_duration(data.end - data.start)})"
        size = "mixed" if data.bar_seconds is None else human_duration(data.bar_seconds)
        facts += [("Data", f"{span}; {', '.join(data.symbols) or 'no symbols'}; {data.bars:,} bars of {size}"),
                  ("Windows", info.scheme + ("" if info.partial else "; a cut-short last window dropped")),
                  ("Warm-up", info.warmup_text),
                  ("Parameter sets", f"{len(data.sets):,} per train window ({data.search} search)")]
    facts.append(("Windows run", f"{len(result.windows):,} of {result.planned:,} planned"))
    facts.append(("Swept", ", ".join(result.params)))
    facts.append(("Ranked by", f"{result.metric} ({order})"))
    if info is not None and info.sweep.executor:
        facts.append(("Executor", info.sweep.executor))
    return facts


def partial_banner(result: WalkForwardResult) -> str:
    """A warning that the walk-forward was interrupted (empty when every window ran)."""
    if not result.interrupted:
        return ""
    text = (f"Partial walk-forward: interrupted after {len(result.windows):,} of {result.planned:,} windows. "
            "The equity stitches only the windows that finished in a row from the first; the figures cover "
            "only those.")
    return f'<div class="banner" role="alert">{html.escape(text)}</div>'


def equity_section(result: WalkForwardResult) -> str:
    """The stitched OOS equity over its drawdown, every test window shaded and labelled (or why there is none)."""
    if not result.equity:
        return ('<p class="empty">No out-of-sample equity: no window was traded (see the windows table '
                "for why).</p>")
    points = equity_points(result)
    chart = figures.equity_figure(
        points.seconds, points.equity, points.drawdown, None, starting_cash=float(result.starting_cash),
        hover=points.hover, bands=bands(result), div_id="wf-equity",
        breaks=quiet_times([t.timestamp() for t in result.equity_times]),
    )
    note = ("Each shaded span is a test window, labelled with the parameters its train window chose (grey: not "
            "traded); hover for its dates and out-of-sample return. The dashed line is the starting cash; each "
            "window starts from the previous one's ending equity. Drawdown is below the running peak, in percent.")
    return chart + f'<p class="note">{html.escape(note)}</p>'


def comparison_section(result: WalkForwardResult) -> str:
    """In-sample versus out-of-sample bars per window: the metric, the annualised return."""
    if not result.windows:
        return '<p class="empty">No window finished.</p>'
    xs, panels = comparison(result)
    chart = figures.grouped_bars_figure(xs, panels, div_id="wf-windows")
    note = ("In sample: the chosen set on its train window; out of sample: the same set on the test window after "
            "it. A missing bar has no value (a window not traded, or a metric not given for so short a run).")
    return chart + f'<p class="note">{html.escape(note)}</p>'


def _annualised(value: float | None) -> str:
    # None: the run, or every window, is shorter than the statistics annualise (wf_result.annualised)
    return TOO_SHORT if value is None else percent(value)


def summary_rows(result: WalkForwardResult) -> list[tuple[str, str]]:
    """The headline figures as ``(label, value)`` pairs."""
    s, m = result.summary(), result.metric
    stats = result.statistics
    short = stats is not None and stats.annualization_note is not None
    return [
        ("OOS total return", percent(s["oos_total_return"])),
        ("OOS annualised return", _annualised(s["oos_annualised_return"])),
        ("Mean IS annualised return", _annualised(s["is_annualised_return"])),
        ("Walk-forward efficiency", number(s["efficiency"])),
        ("OOS Sharpe", TOO_SHORT if s["oos_sharpe"] is None and short else number(s["oos_sharpe"])),
        ("OOS max drawdown", percent(s["oos_max_drawdown"])),
        ("OOS drawdown duration", human_duration(stats.max_drawdown_duration if stats else None)),
        (f"Mean IS {m}", metric_text(m, s[f"mean_is_{m}"])),
        (f"Mean OOS {m}", metric_text(m, s[f"mean_oos_{m}"])),
        ("OOS trades (fills)", f"{s['oos_trades']:,} ({s['oos_fills']:,})"),
        ("Starting cash", money(result.starting_cash)),
        ("Final equity", money(s["final_equity"])),
    ]


def summary_section(result: WalkForwardResult) -> str:
    """The summary figures and what efficiency means."""
    notes = [EFFICIENCY_NOTE]
    if result.statistics is not None and result.statistics.annualization_note:
        note = result.statistics.annualization_note
        notes.append(f"{note[:1].upper()}{note[1:]} (for the stitched equity).")
    return key_value_table(summary_rows(result)) + "".join(f'<p class="note">{html.escape(n)}</p>' for n in notes)


def _note(window: WindowResult, metric: str) -> str:
    notes = []
    if window.partial:
        notes.append("partial: the data ended inside the test window")
    if window.params is not None and window.is_metric is None:
        notes.append(f"no set had a {metric} in sample; the first in grid order was taken")
    if window.failure:
        notes.append(("not traded: " if window.params is None else "stopped: ") + window.failure)
    return "; ".join(notes)


def windows_table(result: WalkForwardResult) -> str:
    """One row per window: dates, parameters, IS and OOS metric and return, trades, train runs, notes."""
    if not result.windows:
        return '<p class="empty">No window finished.</p>'
    m = result.metric
    returns = m != "total_return"  # else the metric columns are the returns
    head = ["window", "train", "test", "parameters", f"IS {m}", f"OOS {m}",
            *(["IS return", "OOS return"] if returns else []), "OOS trades", "train runs", "notes"]
    rows = []
    for w in result.windows:
        cells = [str(w.number), f"{when(w.train_start)} to {when(w.train_end)}",
                 f"{when(w.test_start)} to {when(w.test_end)}", params_text(w.params),
                 metric_text(m, w.is_metric), metric_text(m, w.oos_metric),
                 *([percent(w.is_return), percent(w.oos_return)] if returns else []), f"{w.trades:,}",
                 f"{w.train_runs:,}", _note(w, m)]
        css = ' class="untraded"' if w.params is None else ""
        tds = [f"<td>{html.escape(c)}</td>" for c in cells[:-1]] + [f'<td class="wrap">{html.escape(cells[-1])}</td>']
        for i in (1, 2):  # a date range breaks after "to", so the table fits the page beside its notes
            tds[i] = tds[i].replace(" to ", " to<br>", 1)
        rows.append(f"<tr{css}>{''.join(tds)}</tr>")
    header = "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"
    note = ('<p class="note">Dates are window edges in UTC; each end is exclusive (the next window starts there). '
            "Every column is also in windows.csv.</p>")
    return f'{note}<table class="grid wf-table">{header}{"".join(rows)}</table>'


def render_walk_forward_page(result: WalkForwardResult) -> str:
    """The whole walk-forward report page.

    Raises:
        ImportError: If plotly is not installed.
    """
    body = [
        f"<header><h1>{html.escape(heading(result))}</h1>{key_value_table(title_facts(result), 'facts')}</header>",
        partial_banner(result),
        section("Stitched out-of-sample equity", equity_section(result)),
        section("In sample vs out of sample", comparison_section(result)),
        section("Summary", summary_section(result)),
        section(f"Windows ({len(result.windows):,})", windows_table(result)),
    ]
    return page_html(heading(result), figures.plotly_js(), body)
