"""Parameter sweeps: many backtests of one strategy over a grid (or a random sample) of its parameters.

Walk-forward tests build on them: optimise on each train window, trade the winner on the next test
window (:func:`walk_forward`, ``tradebus walk-forward``). See :func:`run_sweep` and ``tradebus sweep``
(:mod:`tradebus.sweep.cli`).
"""

from tradebus.sweep.executors import Executor
from tradebus.sweep.executors import InProcessExecutor
from tradebus.sweep.executors import LocalExecutor
from tradebus.sweep.info import SweepInfo
from tradebus.sweep.ray_executor import RayExecutor  # imports ray only when it runs
from tradebus.sweep.run import plan
from tradebus.sweep.run import run_sweep
from tradebus.sweep.table import METRICS
from tradebus.sweep.table import SweepResult
from tradebus.sweep.walkforward import walk_forward
from tradebus.sweep.wf_info import WalkForwardInfo
from tradebus.sweep.wf_result import WalkForwardResult
from tradebus.sweep.wf_result import WindowResult

__all__ = ["METRICS", "Executor", "InProcessExecutor", "LocalExecutor", "RayExecutor", "SweepInfo", "SweepResult",
           "WalkForwardInfo", "WalkForwardResult", "WindowResult", "plan", "run_sweep", "walk_forward"]
