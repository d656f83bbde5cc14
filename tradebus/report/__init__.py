"""A run's report: one self-contained, interactive HTML page (``report.html``).

Equity and drawdown with a buy-and-hold benchmark, price charts with every entry and exit, the
statistics, trades, open positions, and the cost and fill assumptions, drawn with plotly (the
``report`` extra: ``pip install 'tradebus[report]'``). plotly.js is inlined once, so the page opens
without a network. Modules: :mod:`~tradebus.report.page` assembles the page from
:mod:`~tradebus.report.figures` (charts), :mod:`~tradebus.report.tables` (tables),
:mod:`~tradebus.report.assumptions` (the venue in words), :mod:`~tradebus.report.series` (curves,
benchmark) and :mod:`~tradebus.report.formatting` (numbers, times, durations).

A sweep's report (``sweep.html``, :func:`write_sweep_report`) is drawn by :mod:`~tradebus.report.sweep_page`
from :mod:`~tradebus.report.sweep_cells` (the heat map's cells); a walk-forward's (``walkforward.html``,
:func:`write_walk_forward_report`) by :mod:`~tradebus.report.wf_page` from :mod:`~tradebus.report.wf_series`
(its charts' data). Every page shares :mod:`~tradebus.report.layout` and the chart helpers of
:mod:`~tradebus.report.figures`.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from framework.errors import FrameworkError
from framework.private_files import private_dir
from framework.private_files import write_private_text
from tradebus.report.page import ReportInfo
from tradebus.report.series import MAX_POINTS
from tradebus.report.series import Closes
from tradebus.report.series import downsample
from tradebus.report.tables import headline
from tradebus.results import RunResult

if TYPE_CHECKING:
    from tradebus.sweep.table import SweepResult
    from tradebus.sweep.wf_result import WalkForwardResult

__all__ = [
    "INSTALL_HINT",
    "MAX_POINTS",
    "Closes",
    "ReportInfo",
    "ReportUnavailableError",
    "downsample",
    "headline",
    "render_report",
    "render_sweep_report",
    "render_walk_forward_report",
    "report_available",
    "write_report",
    "write_sweep_report",
    "write_walk_forward_report",
]

INSTALL_HINT = "pip install 'tradebus[report]'"


class ReportUnavailableError(FrameworkError, ImportError):
    """The report cannot be drawn: plotly (the ``report`` extra) is not installed."""


def report_available() -> bool:
    """Whether plotly, which draws the report, can be imported."""
    try:
        import plotly  # noqa: F401, PLC0415 - optional dependency, only probed
    except ImportError:
        return False
    return True


def _require_plotly() -> None:
    if not report_available():
        msg = f"the HTML report needs plotly, which is not installed: {INSTALL_HINT}"
        raise ReportUnavailableError(msg)


def render_report(result: RunResult, info: ReportInfo | None = None, closes: Mapping[str, Closes] | None = None) -> str:
    """Return the report page for ``result``.

    Args:
        result: The run.
        info: Mode and strategies for the title (default: a backtest of unnamed strategies).
        closes: Closing prices per symbol for the price charts and the benchmark (default: the
            result's own ``prices``).

    Raises:
        ReportUnavailableError: If plotly is not installed.
    """
    _require_plotly()
    from tradebus.report.page import render_page  # noqa: PLC0415 - keeps the package import light

    return render_page(result, info or ReportInfo(), result.prices if closes is None else closes)


def write_report(
    result: RunResult,
    directory: str | Path,
    title: str | None = None,
    *,
    mode: str = "backtest",
    strategies: Sequence[str] = (),
) -> Path:
    """Write ``report.html`` into ``directory`` and return its path.

    Args:
        result: The run.
        directory: Output folder (created private if missing).
        title: Page title (default: the strategies and the mode).
        mode: ``backtest``, ``paper`` or ``live``.
        strategies: Ids of the strategies that ran.

    Raises:
        ReportUnavailableError: If plotly is not installed (the message names the extra to install).
    """
    page = render_report(result, ReportInfo(mode=mode, strategies=tuple(strategies), title=title))
    out = Path(directory)
    private_dir(out)
    path = out / "report.html"
    write_private_text(path, page)
    return path


def render_sweep_report(
    result: SweepResult, heatmap: Sequence[str] | None = None, best_report: str | None = None
) -> str:
    """Return the sweep report page for ``result`` (see :func:`write_sweep_report`).

    Raises:
        ReportUnavailableError: If plotly is not installed.
        ConfigError: If ``heatmap`` does not name two different swept parameters.
    """
    _require_plotly()
    from tradebus.report.sweep_page import render_sweep_page  # noqa: PLC0415 - keeps the package import light

    return render_sweep_page(result, heatmap, best_report)


def write_sweep_report(result: SweepResult, directory: str | Path, *, heatmap: Sequence[str] | None = None) -> Path:
    """Write ``sweep.html`` into ``directory`` (created private if missing) and return its path.

    The page: the title (strategy, data, bar size, sets run of planned, metric, executor), a banner when the
    sweep was interrupted, the heat map of the metric over two swept parameters (a line chart when only one
    was swept), the top rows of the ranked table, and a link to the best run's ``report.html`` when that file
    is in ``directory`` (``tradebus sweep`` writes it there).

    Args:
        result: The sweep (:func:`tradebus.sweep.run_sweep`).
        directory: Output folder.
        heatmap: The heat map's two parameters, across then down (default: the first two swept). With more
            swept parameters, each cell shows the best value over the others.

    Raises:
        ReportUnavailableError: If plotly is not installed (the message names the extra to install).
        ConfigError: If ``heatmap`` does not name two different swept parameters.
    """
    out = Path(directory)
    best = "report.html" if (out / "report.html").is_file() else None
    page = render_sweep_report(result, heatmap, best)
    private_dir(out)
    path = out / "sweep.html"
    write_private_text(path, page)
    return path


def render_walk_forward_report(result: WalkForwardResult) -> str:
    """Return the walk-forward report page for ``result`` (see :func:`write_walk_forward_report`).

    Raises:
        ReportUnavailableError: If plotly is not installed.
    """
    _require_plotly()
    from tradebus.report.wf_page import render_walk_forward_page  # noqa: PLC0415 - keeps the package import light

    return render_walk_forward_page(result)


def write_walk_forward_report(result: WalkForwardResult, directory: str | Path) -> Path:
    """Write ``walkforward.html`` into ``directory`` (created private if missing) and return its path.

    The page: the title (strategy, data span, window scheme, warm-up, metric, executor), a banner when the
    walk-forward was interrupted, the stitched out-of-sample equity over its drawdown with every test window
    shaded and labelled by the parameters chosen for it, in-sample versus out-of-sample bars per window (the
    metric and the annualised return), the summary figures (efficiency explained) and the windows table.

    Args:
        result: The walk-forward (:func:`tradebus.sweep.walk_forward`).
        directory: Output folder.

    Raises:
        ReportUnavailableError: If plotly is not installed (the message names the extra to install).
    """
    page = render_walk_forward_report(result)
    out = Path(directory)
    private_dir(out)
    path = out / "walkforward.html"
    write_private_text(path, page)
    return path
