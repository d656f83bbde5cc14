"""A run's report: an equity and drawdown chart (PNG) and an HTML page around it.

The page leads with the picture (equity on top, drawdown below, shaded), then a short table of the
statistics that matter and the last trades; it is a single self-contained file (the PNG is embedded
as base64) and is also written next to it as ``equity.png``.

Needs matplotlib (the ``report`` extra: ``pip install 'tradebus[report]'``); it is imported only
when a chart is drawn, always with the non-interactive Agg backend, and every figure is closed.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

from framework.private_files import private_dir
from framework.private_files import write_private_bytes
from framework.private_files import write_private_text
from tradebus.results import RunResult
from tradebus.stats import Statistics

MAX_POINTS = 4000
"""Samples drawn at most; longer curves keep each bucket's first, lowest, highest and last value."""

_TRADE_ROWS = 50


def downsample(
    seconds: Sequence[float], values: Sequence[float], limit: int = MAX_POINTS
) -> tuple[list[float], list[float]]:
    """Reduce a series to about ``limit`` points, keeping every bucket's extremes (so drawdowns stay visible)."""
    n = len(values)
    if n <= limit:
        return list(seconds), list(values)
    bucket = -(-n // (limit // 4))  # ceiling division: four points per bucket
    xs: list[float] = []
    ys: list[float] = []
    for start in range(0, n, bucket):
        stop = min(start + bucket, n)
        chunk = range(start, stop)
        low = min(chunk, key=values.__getitem__)
        high = max(chunk, key=values.__getitem__)
        for i in sorted({start, low, high, stop - 1}):
            xs.append(seconds[i])
            ys.append(values[i])
    return xs, ys


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.2f} %"


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def headline(stats: Statistics) -> list[tuple[str, str]]:
    """The statistics as ``(label, formatted value)`` pairs, most telling first."""
    return [
        ("Total return", _percent(stats.total_return)),
        ("CAGR", _percent(stats.cagr)),
        ("Max drawdown", _percent(stats.max_drawdown)),
        ("Drawdown duration", str(stats.max_drawdown_duration)),
        ("Sharpe", _number(stats.sharpe)),
        ("Sortino", _number(stats.sortino)),
        ("Volatility (ann.)", _percent(stats.annualized_volatility)),
        ("Trades", str(stats.trade_count)),
        ("Win rate", _percent(stats.win_rate)),
        ("Profit factor", _number(stats.profit_factor)),
        ("Exposure", _percent(stats.exposure)),
    ]


def render_chart(result: RunResult, title: str = "Equity") -> bytes:
    """Draw equity (top) and drawdown (bottom) and return the PNG bytes.

    The x axis is sample number (trading time), labelled with dates, so nights and weekends do not
    stretch the picture with flat lines.

    Raises:
        ImportError: If matplotlib is not installed.
    """
    import matplotlib as mpl  # noqa: PLC0415 - optional dependency, imported when drawing

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    curve = result.curve
    positions = range(len(curve))
    xs, equity = downsample(positions, curve.equity)
    dd_xs, drawdown = downsample(positions, list(curve.drawdowns()))
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(10, 6), height_ratios=(3, 1), layout="constrained")
    try:
        stats = result.statistics
        top.plot(xs, equity, color="#1f6feb", linewidth=1.2)
        top.axhline(float(result.starting_cash), color="#8b949e", linewidth=0.8, linestyle="--")
        top.set_title(
            f"{title}: {_percent(stats.total_return)} total, max drawdown {_percent(stats.max_drawdown)}", loc="left"
        )
        top.ticklabel_format(axis="y", style="plain", useOffset=False)
        top.set_ylabel("equity")
        top.grid(alpha=0.3)
        bottom.fill_between(dd_xs, [d * 100 for d in drawdown], 0, color="#cf222e", alpha=0.35, linewidth=0)
        bottom.set_ylabel("drawdown %")
        bottom.grid(alpha=0.3)
        ticks = [round(i * (len(curve) - 1) / 6) for i in range(7)] if len(curve) > 1 else [0]
        span = curve.seconds[-1] - curve.seconds[0] if len(curve) > 1 else 0.0
        bottom.set_xticks(ticks, [_date_label(curve.seconds[i], span) for i in ticks])
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    finally:
        plt.close(fig)
    return buffer.getvalue()


def _date_label(seconds: float, span: float) -> str:
    # the finest unit that tells the ticks apart: seconds for a short live run, minutes for a day
    layout = "%Y-%m-%d\n%H:%M:%S UTC" if span < 3600 else "%Y-%m-%d\n%H:%M UTC"
    return datetime.fromtimestamp(seconds, UTC).strftime(layout)


def _trade_rows(result: RunResult) -> str:
    rows = []
    for t in result.trades[-_TRADE_ROWS:]:
        colour = "win" if t.pnl > 0 else "loss"
        times = (t.entry_time.strftime("%Y-%m-%d %H:%M"), t.exit_time.strftime("%Y-%m-%d %H:%M"))
        prices = (f"{t.entry_price:.2f}", f"{t.exit_price:.2f}", f"{t.pnl:.2f}")
        cells = (t.symbol, t.side.value, *times, format(t.quantity, "f"), *prices)
        rows.append(f'<tr class="{colour}">' + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return "\n".join(rows)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 1040px; color: #1f2328; }}
.stats {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 8px; margin: 1em 0; }}
.stat {{ background: #f6f8fa; border-radius: 6px; padding: 8px 10px; }}
.stat b {{ display: block; font-size: 18px; }}
table {{ border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }}
td, th {{ padding: 3px 8px; border-bottom: 1px solid #d0d7de; text-align: right; }}
tr.win td:last-child {{ color: #1a7f37; }} tr.loss td:last-child {{ color: #cf222e; }}
</style></head><body>
<h1>{title}</h1>
<p>{bars} bars, {orders} orders, {fills} fills. Final equity {final} (start {start}).</p>
<img src="{image}" alt="equity and drawdown chart" width="1000">
<div class="stats">{stats}</div>
<h2>Last {shown} of {count} trades</h2>
<table><tr><th>symbol</th><th>side</th><th>entry</th><th>exit</th><th>quantity</th><th>entry price</th>
<th>exit price</th><th>P&amp;L</th></tr>
{trades}
</table></body></html>
"""


def render_html(result: RunResult, image_src: str, title: str = "Backtest report") -> str:
    """Return the report page; ``image_src`` is the chart's URL or a ``data:`` URI."""
    stats = "".join(
        f'<div class="stat">{html.escape(label)}<b>{html.escape(value)}</b></div>'
        for label, value in headline(result.statistics)
    )
    fields: dict[str, Any] = {
        "title": html.escape(title),
        "bars": f"{result.bar_count:,}",
        "orders": f"{len(result.orders):,}",
        "fills": f"{len(result.fills):,}",
        "final": f"{result.final_equity:,.2f}",
        "start": f"{result.starting_cash:,.2f}",
        "image": html.escape(image_src, quote=True),
        "stats": stats,
        "shown": min(len(result.trades), _TRADE_ROWS),
        "count": len(result.trades),
        "trades": _trade_rows(result),
    }
    return _PAGE.format(**fields)


def write_report(result: RunResult, directory: str | Path, title: str = "Backtest report") -> tuple[Path, Path]:
    """Write ``equity.png`` and a self-contained ``report.html`` (chart embedded) into ``directory``.

    Returns:
        The paths of the PNG and the HTML page.

    Raises:
        ImportError: If matplotlib is not installed.
    """
    out = Path(directory)
    private_dir(out)
    png = render_chart(result, title)
    png_path = out / "equity.png"
    write_private_bytes(png_path, png)
    data_uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    html_path = out / "report.html"
    write_private_text(html_path, render_html(result, data_uri, title))
    return png_path, html_path
