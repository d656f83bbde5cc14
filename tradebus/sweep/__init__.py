"""Parameter sweeps: many backtests of one strategy over a grid (or a random sample) of its parameters.

See :func:`run_sweep` and ``tradebus sweep`` (:mod:`tradebus.sweep.cli`).
"""

from tradebus.sweep.executors import Executor
from tradebus.sweep.executors import InProcessExecutor
from tradebus.sweep.executors import LocalExecutor
from tradebus.sweep.run import plan
from tradebus.sweep.run import run_sweep
from tradebus.sweep.table import METRICS
from tradebus.sweep.table import SweepResult

__all__ = ["METRICS", "Executor", "InProcessExecutor", "LocalExecutor", "SweepResult", "plan", "run_sweep"]
