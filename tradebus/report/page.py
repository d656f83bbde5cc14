"""The report page: one self-contained HTML file (plotly.js and the styles inline, no network).

Sections, in order: the title (strategy, mode, data span, symbols, bar size, bar count), a banner
when the result is partial, equity and drawdown with the buy-and-hold benchmark, the statistics,
price charts with entries and exits, the trades, the positions still open, and the cost and fill
assumptions the numbers rest on.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from tradebus.report import figures
from tradebus.report.assumptions import assumptions
from tradebus.report.formatting import human_duration
from tradebus.report.formatting import money
from tradebus.report.formatting import timestamp
from tradebus.report.layout import page_html
from tradebus.report.layout import section
from tradebus.report.series import MAX_POINTS
from tradebus.report.series import Closes
from tradebus.report.series import benchmark
from tradebus.report.series import downsample
from tradebus.report.series import quiet_times
from tradebus.report.tables import key_value_table
from tradebus.report.tables import positions_table
from tradebus.report.tables import statistics_table
from tradebus.report.tables import trades_table
from tradebus.results import RunResult

BENCHMARK_NOTE = (
    "Benchmark: the starting cash split equally over the traded symbols at the first sample, each part "
    "bought at the last close known then (fractional shares, no costs) and held to the end."
)
METHOD_NOTES = (
    "Equity is cash plus positions at the last price, sampled at every bar end (paper and live: on the "
    "engine's sampling clock). Returns are simple returns between samples; annualised figures assume 252 "
    "trading days of 6.5-hour sessions and a zero risk-free rate. Trade P&L is net of commission.",
    BENCHMARK_NOTE,
)


@dataclass(frozen=True, slots=True)
class ReportInfo:
    """What the title says about a run that the result does not hold.

    Attributes:
        mode: ``backtest``, ``paper`` or ``live``.
        strategies: Ids of the strategies that ran.
        title: A title to use instead of the one made from the strategies and mode.
    """

    mode: str = "backtest"
    strategies: Sequence[str] = ()
    title: str | None = None

    def heading(self) -> str:
        """The page's title."""
        if self.title:
            return self.title
        names = ", ".join(self.strategies) or "strategy"
        return f"{names}: {self.mode} report"


def _span(result: RunResult) -> str:
    seconds = result.curve.seconds
    if not len(seconds):
        return "no equity samples"
    start, end = seconds[0], seconds[-1]
    return f"{timestamp(start)} to {timestamp(end)} ({human_duration(end - start)})"


def _bars(result: RunResult, mode: str) -> str:
    if mode == "backtest":
        total = f" of {result.bars_total:,}" if result.bars_total not in (None, result.bar_count) else ""
        return f"{result.bar_count:,}{total} bars replayed, bars of {human_duration(result.curve.period)}"
    return f"{result.bar_count:,} bars received; equity sampled every {human_duration(result.curve.period)}"


def title_facts(result: RunResult, info: ReportInfo, symbols: Sequence[str]) -> list[tuple[str, str]]:
    """The facts under the title: mode, span, symbols, bars, orders and fills, equity."""
    return [
        ("Mode", info.mode),
        ("Data", _span(result)),
        ("Symbols", ", ".join(symbols) or "none"),
        ("Bars", _bars(result, info.mode)),
        ("Orders / fills", f"{len(result.orders):,} / {len(result.fills):,}"),
        ("Equity", f"{money(result.starting_cash)} to {money(result.final_equity)}"),
        ("Commissions", money(sum((f.commission for f in result.fills), Decimal(0)))),
    ]


def partial_banner(result: RunResult) -> str:
    """A warning that the result covers only part of the run (empty when it completed)."""
    if not result.partial:
        return ""
    outcome = result.outcome
    why = outcome.stop_reason or "it stopped before the end of its data"
    bars = f" {result.bar_count:,} of {result.bars_total:,} bars were replayed." if result.bars_total else ""
    text = f"Partial result ({outcome.status}): {why}.{bars} Every figure below covers only the part that ran."
    return f'<div class="banner" role="alert">{html.escape(text)}</div>'


def _equity_section(
    result: RunResult, closes: Mapping[str, Closes], symbols: Sequence[str]
) -> tuple[str, float | None]:
    curve = result.curve
    xs, equity = downsample(curve.seconds, curve.equity, MAX_POINTS)
    _, drawdown = downsample(curve.seconds, list(curve.drawdowns()), MAX_POINTS)
    drawdown = drawdown[: len(xs)] + [0.0] * (len(xs) - len(drawdown))
    traded = sorted({f.symbol for f in result.fills}) or list(symbols)
    bench = benchmark(xs, closes, traded, float(result.starting_cash))
    bench_return = bench[-1] / float(result.starting_cash) - 1.0 if bench and result.starting_cash else None
    chart = figures.equity_figure(
        xs, equity, drawdown, bench, starting_cash=float(result.starting_cash), breaks=quiet_times(curve.seconds)
    )
    note = (
        f'<p class="note">Dotted: buy and hold of {html.escape(", ".join(traded))}, equal weight, from the same '
        "starting cash (defined under Costs and fills assumed). Drawdown is below the running peak, in percent.</p>"
    )
    return chart + (note if bench is not None else ""), bench_return


def render_page(result: RunResult, info: ReportInfo, closes: Mapping[str, Closes]) -> str:
    """The whole report page.

    Raises:
        ImportError: If plotly is not installed.
    """
    script = figures.plotly_js()
    seconds = result.curve.seconds
    window = dict(closes)  # the prices of the span the equity covers (the bar before its first sample on)
    if len(seconds):
        first = seconds[0] - result.curve.period.total_seconds()
        window = {symbol: c.between(first, seconds[-1]) for symbol, c in closes.items()}
    symbols = sorted(set(closes) | {f.symbol for f in result.fills})
    equity, bench_return = '<p class="empty">No equity samples were recorded.</p>', None
    if len(seconds):
        equity, bench_return = _equity_section(result, window, symbols)
    prices = "".join(figures.price_figures(window, result.fills, quiet_times(seconds)))
    notes = "".join(f'<p class="note">{html.escape(n)}</p>' for n in METHOD_NOTES)
    body = [
        f"<header><h1>{html.escape(info.heading())}</h1>{key_value_table(title_facts(result, info, symbols), 'facts')}"
        "</header>",
        partial_banner(result),
        section("Equity and drawdown", equity),
        section("Statistics", statistics_table(result.statistics, result.curve.period, bench_return)),
        section("Prices, entries and exits", prices),
        section(f"Trades ({len(result.trades):,} closed)", trades_table(result.trades)),
        section("Open positions at the end", positions_table(result.open_positions)),
        section("Costs and fills assumed", key_value_table(assumptions(result.paper_config)) + notes),
    ]
    return page_html(info.heading(), script, body)
