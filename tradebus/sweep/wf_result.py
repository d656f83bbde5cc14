"""The result of a walk-forward: one row per window, the stitched out-of-sample equity, summary figures.

Definitions (also in ``docs/sweeps.md``):

* **in-sample (IS)** figures are the best parameter set's on its train window, **out-of-sample
  (OOS)** figures that set's on the test window that follows (from its first test bar, warm-up excluded);
* the **stitched equity** chains the test windows: each starts from the previous one's ending
  equity (the first from the venue's starting cash) and moves by the window's own returns;
* an **annualised return** is ``(1 + total return) ** (periods_per_year / returns) - 1``, counting
  bar periods as :mod:`tradebus.stats` does (not calendar time), and None for a run shorter than the
  20 trading days the statistics annualise;
* **walk-forward efficiency** is the stitched OOS return per bar period over the mean of the windows'
  IS returns per bar period (compounded rates; for small returns the ratio of the annualised returns,
  but defined for windows too short to annualise; None when the IS mean is not positive): near 1 the
  edge found in sample held up out of sample; near 0 or below, it did not.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from statistics import fmean
from typing import TYPE_CHECKING
from typing import Any

from tradebus.frames import require_pandas
from tradebus.stats import Statistics
from tradebus.stats import annualization_note
from tradebus.sweep.grid import Params
from tradebus.sweep.wf_info import WalkForwardInfo

if TYPE_CHECKING:
    import pandas as pd


def annualised(total: float | None, periods: int | None, per_year: float) -> float | None:
    """``(1 + total) ** (per_year / periods) - 1``.

    None without a return or periods, if it overflows, or when the run is shorter than the statistics
    annualise (:func:`~tradebus.stats.annualization_note`, the same rule): a few days' gain compounded to
    a year says nothing about a year.
    """
    if total is None or not periods or total <= -1.0 or annualization_note(periods + 1, per_year) is not None:
        return None
    try:
        return float((1.0 + total) ** (per_year / periods) - 1.0)
    except OverflowError:
        return None


def per_period(total: float | None, periods: int | None) -> float | None:
    """The compounded return per bar period, ``(1 + total) ** (1 / periods) - 1`` (None without either)."""
    if total is None or not periods or total <= -1.0:
        return None
    return float((1.0 + total) ** (1.0 / periods) - 1.0)


@dataclass(frozen=True)
class WindowResult:
    """One walk-forward window: where it lies, what won in sample, how that did out of sample.

    Attributes:
        number: 1 for the first window.
        train_start: First train bar's start.
        train_end: End of the train window (exclusive; the test window's start).
        test_start: First test bar's start.
        test_end: End of the test window (exclusive: the next bar's start, or the data's end).
        partial: The data ended before the test window's full length.
        params: The best parameters on the train window (None when every train run failed).
        is_metric: The ranking metric of the best train run.
        oos_metric: The same metric on the test window.
        is_return: Total return of the best train run.
        oos_return: Total return of the test window.
        is_annualised: ``is_return`` annualised (see the module docstring).
        oos_annualised: ``oos_return`` annualised.
        trades: Round trips closed in the test window.
        fills: Fills in the test window.
        train_runs: Train runs that finished (and did not fail).
        warmup_bars: Bar times the test run saw before its first test bar (not traded).
        failure: Why the window has no out-of-sample result, or why its test run stopped early.
        is_periods: The bar periods the best train run's return covers.
    """

    number: int
    train_start: datetime
    train_end: datetime
    test_start: datetime
    test_end: datetime
    partial: bool
    params: Params | None
    is_metric: float | None
    oos_metric: float | None
    is_return: float | None
    oos_return: float | None
    is_annualised: float | None
    oos_annualised: float | None
    trades: int
    fills: int
    train_runs: int
    warmup_bars: int
    failure: str | None = None
    is_periods: int | None = None


@dataclass(frozen=True)
class WalkForwardResult:
    """Every window of a walk-forward and the out-of-sample equity stitched from them (see the module docstring).

    Attributes:
        metric: What each train window's sets were ranked by.
        params: The swept parameter names.
        windows: The finished windows, in time order.
        planned: How many windows the walk-forward had.
        starting_cash: Where the stitched equity starts.
        equity_times: Times of the stitched equity (a window's first sample is its test start).
        equity: The stitched equity, Decimal to the cent.
        equity_windows: The window each stitched sample belongs to.
        statistics: Statistics of the stitched equity and the OOS trades (None without any window).
        periods_per_year: The annualisation factor of the data's bars.
        interrupted: Ctrl-C ended the walk-forward early (``windows`` holds those that finished; the
            equity stitches the leading run of them).
        info: What it ran on and the window scheme, for the report (None when built by hand; not compared:
            the same walk-forward on another executor is equal).
    """

    metric: str
    params: tuple[str, ...]
    windows: tuple[WindowResult, ...]
    planned: int
    starting_cash: Decimal
    equity_times: tuple[datetime, ...]
    equity: tuple[Decimal, ...]
    equity_windows: tuple[int, ...]
    statistics: Statistics | None
    periods_per_year: float
    interrupted: bool = False
    info: WalkForwardInfo | None = field(default=None, compare=False)

    @property
    def oos_return(self) -> float | None:
        """Total return of the stitched equity."""
        return float(self.equity[-1] / self.starting_cash - 1) if self.equity else None

    @property
    def oos_annualised(self) -> float | None:
        """The stitched equity's annualised return."""
        return annualised(self.oos_return, len(self.equity) - 1, self.periods_per_year)

    @property
    def is_annualised(self) -> float | None:
        """Mean of the windows' in-sample annualised returns."""
        return _mean(w.is_annualised for w in self.windows)

    @property
    def efficiency(self) -> float | None:
        """Walk-forward efficiency: the stitched OOS return per bar over the mean IS return per bar.

        Compounded per-period rates, so it needs no year of data (for small returns it is the ratio the
        annualised returns give). None when the mean IS rate is not positive.
        """
        oos = per_period(self.oos_return, len(self.equity) - 1)
        ins = _mean(per_period(w.is_return, w.is_periods) for w in self.windows)
        if oos is None or ins is None or ins <= 0 or not math.isfinite(oos / ins):
            return None
        return oos / ins

    @property
    def mean_is_metric(self) -> float | None:
        """Mean in-sample metric over the windows that have one."""
        return _mean(w.is_metric for w in self.windows)

    @property
    def mean_oos_metric(self) -> float | None:
        """Mean out-of-sample metric over the windows that have one."""
        return _mean(w.oos_metric for w in self.windows)

    def summary(self) -> dict[str, Any]:
        """The headline figures as plain values."""
        stats = self.statistics
        return {
            "windows": len(self.windows), "planned": self.planned, "metric": self.metric,
            "oos_total_return": self.oos_return, "oos_annualised_return": self.oos_annualised,
            "is_annualised_return": self.is_annualised, "efficiency": self.efficiency,
            f"mean_is_{self.metric}": self.mean_is_metric, f"mean_oos_{self.metric}": self.mean_oos_metric,
            "oos_sharpe": None if stats is None else stats.sharpe,
            "oos_max_drawdown": None if stats is None else stats.max_drawdown,
            "oos_trades": sum(w.trades for w in self.windows), "oos_fills": sum(w.fills for w in self.windows),
            "final_equity": self.equity[-1] if self.equity else self.starting_cash,
            "interrupted": self.interrupted,
        }

    @property
    def columns(self) -> list[str]:
        """The window table's columns."""
        m = self.metric
        names = ["window", "train_start", "train_end", "test_start", "test_end", "partial", *self.params,
                 f"is_{m}", f"oos_{m}", "is_total_return", "oos_total_return", "is_annualised_return",
                 "oos_annualised_return", "oos_trades", "oos_fills", "train_runs", "warmup_bars", "failure"]
        return list(dict.fromkeys(names))  # ranked by total_return: its columns once

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The window table: one dict per window (see :attr:`columns`)."""
        m = self.metric
        return [{
            "window": w.number, "train_start": w.train_start, "train_end": w.train_end, "test_start": w.test_start,
            "test_end": w.test_end, "partial": w.partial, **{p: (w.params or {}).get(p) for p in self.params},
            f"is_{m}": w.is_metric, f"oos_{m}": w.oos_metric, "is_total_return": w.is_return,
            "oos_total_return": w.oos_return, "is_annualised_return": w.is_annualised,
            "oos_annualised_return": w.oos_annualised, "oos_trades": w.trades, "oos_fills": w.fills,
            "train_runs": w.train_runs, "warmup_bars": w.warmup_bars, "failure": w.failure,
        } for w in self.windows]

    def to_csv(self, path: str | Path) -> Path:
        """Write the window table as CSV (ISO times, empty cells for missing values) and return the path."""
        return _write(Path(path), self.columns, self.rows)

    def equity_to_csv(self, path: str | Path) -> Path:
        """Write the stitched equity (``time,equity,window``) as CSV and return the path."""
        rows = [{"time": t, "equity": e, "window": w}
                for t, e, w in zip(self.equity_times, self.equity, self.equity_windows, strict=True)]
        return _write(Path(path), ["time", "equity", "window"], rows)

    @property
    def frame(self) -> pd.DataFrame:
        """The window table as a pandas DataFrame (needs the ``pandas`` extra)."""
        lib = require_pandas("WalkForwardResult.frame")
        frame: pd.DataFrame = lib.DataFrame(self.rows, columns=self.columns)
        return frame

    @property
    def equity_frame(self) -> pd.DataFrame:
        """The stitched equity as a DataFrame indexed by time: ``equity`` (float) and ``window``."""
        lib = require_pandas("WalkForwardResult.equity_frame")
        index = lib.DatetimeIndex(list(self.equity_times), name="time")
        frame: pd.DataFrame = lib.DataFrame(
            {"equity": [float(e) for e in self.equity], "window": list(self.equity_windows)}, index=index)
        return frame


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    return value.isoformat() if isinstance(value, datetime) else value


def _write(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: _cell(v) for k, v in row.items()} for row in rows)
    return path


__all__ = ["WalkForwardResult", "WindowResult", "annualised"]


def _mean(values: Iterable[float | None]) -> float | None:
    # the mean of the values there are (a window without one is left out); None when there is none
    present = [v for v in values if v is not None]
    return fmean(present) if present else None
