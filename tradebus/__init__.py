"""tradebus, the application: run strategies (backtest, paper, live, demo) and read what they did.

``from tradebus import run_backtest, ...`` runs things; ``from framework import Strategy, ...`` writes
them. This is the only package that imports strategies, brokers and simulators together.
"""

from tradebus.backtest import BacktestResult
from tradebus.backtest import BacktestRunner
from tradebus.backtest import run_backtest
from tradebus.data import bars_from_frame
from tradebus.data import load_bars
from tradebus.data import load_csv
from tradebus.data import load_parquet
from tradebus.data import write_csv
from tradebus.journal import SqliteJournal
from tradebus.results import RunResult
from tradebus.sample_data import sample_data_path
from tradebus.sweep import SweepResult
from tradebus.sweep import WalkForwardResult
from tradebus.sweep import run_sweep
from tradebus.sweep import walk_forward

__all__ = [
    "BacktestResult",
    "BacktestRunner",
    "RunResult",
    "SqliteJournal",
    "SweepResult",
    "WalkForwardResult",
    "bars_from_frame",
    "load_bars",
    "load_csv",
    "load_parquet",
    "run_backtest",
    "run_sweep",
    "sample_data_path",
    "walk_forward",
    "write_csv",
]
