"""A run's summary as a small HTML table, for notebooks (``RunResult._repr_html_``).

No pandas and no charts: the run's status, its counts, the headline statistics (labelled as the
report labels them) and why annualised figures are missing when they are. The full report is
:func:`tradebus.report.write_report`.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from tradebus.report import headline

if TYPE_CHECKING:
    from tradebus.results import RunResult


def _rows(pairs: list[tuple[str, str]]) -> str:
    return "".join(
        f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in pairs
    )


def result_html(result: RunResult) -> str:
    """Render ``result`` as an HTML fragment: counts, then the headline statistics."""
    info = result.run_info()
    stats = result.statistics
    counts = [
        ("Status", info["status"] + (" (partial)" if result.partial else "")),
        ("Bars", f"{result.bar_count:,}"),
        ("Orders", f"{len(result.orders):,}"),
        ("Fills", f"{len(result.fills):,}"),
        ("Starting cash", f"{result.starting_cash:,.2f}"),
        ("Final equity", f"{result.final_equity:,.2f}"),
        ("Open positions", ", ".join(f"{p.symbol} {p.quantity}" for p in result.open_positions) or "none"),
    ]
    note = f"<p><em>{html.escape(stats.annualization_note)}</em></p>" if stats.annualization_note else ""
    return (
        "<div class='tradebus-result'><strong>RunResult</strong>"
        f"<table>{_rows(counts)}{_rows(headline(stats))}</table>{note}</div>"
    )
