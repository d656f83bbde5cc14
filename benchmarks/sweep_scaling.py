"""Benchmark: how a sweep scales from 1 to 2 workers, and what each task costs beyond its backtest.

Sweeps ``strategies.sma_cross:SmaCross`` over 64 parameter sets (``fast`` 2..16 step 2 x ``slow``
20..90 step 10, every one with ``fast < slow``) on 100,000 seeded synthetic 1-minute bars. The bars
are New York session bars (09:30-16:00, weekdays; :func:`~tradebus.sample_data.generate.synthetic_series`),
so the default venue, which fills only in exchange hours, fills the strategy's orders; the benchmark
checks that every set traded.

Measured:

* the backtests one after the other in this process: the sum of the 64 task times (the work itself),
  and the table every executor must match;
* ``local`` with 1 and 2 workers, and ``ray`` with 1 and 2 workers when ray and
  :class:`tradebus.sweep.ray_executor.RayExecutor` can be imported (a local Ray started for the run);
* per executor: wall time, speed-up from 1 to 2 workers, scaling efficiency (speed-up / workers), and
  the per-task overhead: ``(wall x workers - sum of task times) / tasks`` (starting workers, shipping the
  job, returning results, idle workers at the end);
* the fixed costs: pickling the job (bars included) and starting a worker pool for one trivial task;
* for the local pool, the CPU time its workers used (``getrusage(RUSAGE_CHILDREN)``) against the work's
  CPU time in this process, and the share of ``wall x workers`` they were on a CPU: below ~95 % with
  little extra CPU means the workers waited for a core the machine gave to something else (a shared VM),
  not that the sweep did more work.

Every executor must give the same table as the in-process run (else exit 1).

Usage::

    .venv/bin/python benchmarks/sweep_scaling.py [--bars 100000] [--repeat 1] [--no-ray]

Each measurement runs ``--repeat`` times, in turn (serial, 1 worker, 2 workers, ...), and the fastest
of each is reported (the slower ones measure what else the machine was doing). The target: at least 1.7x from 1 to
2 workers on a 2-core machine.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pickle
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

from framework.history import BarData
from tradebus.defaults import venue_config
from tradebus.sample_data.generate import synthetic_series
from tradebus.sweep import LocalExecutor
from tradebus.sweep import run_sweep
from tradebus.sweep.executors import Executor
from tradebus.sweep.run import plan
from tradebus.sweep.table import SweepResult
from tradebus.sweep.table import rank
from tradebus.sweep.tasks import SweepJob
from tradebus.sweep.tasks import SweepTask
from tradebus.sweep.tasks import run_task

SPEC = "strategies.sma_cross:SmaCross"
GRID = {"fast": "2:16:2", "slow": "20:90:10"}  # 8 x 8 = 64 sets, all fast < slow
FIXED = {"symbol": "AAPL"}


def serial_run(job: SweepJob, tasks: list[SweepTask]) -> tuple[list[float], float, list[dict[str, Any]]]:
    """The tasks one after the other in this process: each one's wall time, their CPU time, and the ranked table.

    Every set must trade (else the benchmark measures nothing and exits).
    """
    times, results = [], []
    cpu = time.process_time()
    for task in tasks:
        t0 = time.perf_counter()
        result = run_task(job, task)
        times.append(time.perf_counter() - t0)
        results.append(result)
        if result.orders == 0 or result.failure:
            sys.exit(f"set {task.params} placed no orders ({result.failure or 'no cross'}): the benchmark is void")
    rows = SweepResult("sharpe", tuple(GRID), tuple(rank(results, "sharpe")), len(tasks)).rows
    return times, time.process_time() - cpu, rows


def children_cpu() -> float:
    """CPU seconds (user + system) of this process's finished, waited-for children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_sweep(data: BarData, executor: Executor) -> tuple[float, float, list[dict[str, Any]]]:
    """The wall time of one sweep on ``executor``, the CPU time its child processes used, and the table."""
    c0, t0 = children_cpu(), time.perf_counter()
    result = run_sweep(SPEC, data, GRID, params=FIXED, metric="sharpe", executor=executor)
    return time.perf_counter() - t0, children_cpu() - c0, result.rows


def ray_executor(workers: int) -> Executor | None:
    """``RayExecutor(workers=workers)``, or None (with a printed line) when ray or the class is missing."""
    try:
        module = importlib.import_module("tradebus.sweep.ray_executor")
        importlib.import_module("ray")
    except ImportError as e:
        print(f"ray: skipped ({e})")
        return None
    cls: Callable[..., Executor] = module.RayExecutor
    return cls(address=None, workers=workers)


def pool_start(data: BarData) -> float:
    """Wall time of a 1-worker local pool running one backtest of 10 bars (spawn, imports, job, shutdown)."""
    tiny = BarData([synthetic_series("AAPL", 10, seed=1)])
    job = SweepJob(SPEC, tiny, venue_config(), dict(FIXED))
    t0 = time.perf_counter()
    list(LocalExecutor(1).run(job, [SweepTask(0, {"fast": 2, "slow": 5})]))
    return time.perf_counter() - t0


def report(name: str, walls: dict[int, tuple[float, float]], work: tuple[float, float], tasks: int) -> None:
    """Print an executor's wall times, speed-up, efficiency, per-task overhead and the CPU its workers got.

    ``walls`` maps workers to (wall time, worker CPU time); ``work`` is the serial run's (wall, CPU) time.
    """
    for workers, (wall, cpu) in walls.items():
        overhead = (wall * workers - work[0]) / tasks
        line = f"{name:>6}, {workers} worker(s): {wall:6.2f} s wall; per-task overhead {overhead * 1000:6.1f} ms"
        if name == "local":  # its workers are our children (Ray's are the raylet's, not counted by getrusage)
            idle = (wall * workers - cpu) / tasks
            line += (f"; workers on a CPU {cpu / (wall * workers):.0%} of wall x workers (idle {idle * 1000:.0f} ms "
                     f"a task: start, job, results, tail), {cpu / work[1] - 1:+.0%} CPU over the serial run")
        print(line)
    if 1 in walls and 2 in walls:
        speedup = walls[1][0] / walls[2][0]
        print(f"{name:>6}: speed-up 1 -> 2 workers {speedup:.2f}x, scaling efficiency {speedup / 2:.0%} "
              f"(target >= 1.70x)")


def main() -> int:
    parser = argparse.ArgumentParser(description="Sweep scaling from 1 to 2 workers and per-task overhead.")
    parser.add_argument("--bars", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1, help="timed sweeps per executor; the best is reported")
    parser.add_argument("--no-ray", action="store_true", help="skip the ray executor")
    args = parser.parse_args()

    data = BarData([synthetic_series("AAPL", args.bars, seed=7, price=185.0)])
    sets = plan(SPEC, GRID, fixed=FIXED)
    job = SweepJob(SPEC, data, venue_config(), dict(FIXED))
    tasks = [SweepTask(i, p) for i, p in enumerate(sets)]
    print(f"{len(tasks)} parameter sets of {SPEC} on {data.bar_count:,} bars; {os.cpu_count()} CPUs; "
          f"load average {os.getloadavg()[0]:.2f} at the start")

    t0 = time.perf_counter()
    blob = pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)
    dumped = time.perf_counter() - t0
    t0 = time.perf_counter()
    pickle.loads(blob)
    loaded = time.perf_counter() - t0
    print(f"job: {len(blob) / 2**20:.1f} MB pickled in {dumped * 1000:.0f} ms, unpickled in {loaded * 1000:.0f} ms "
          "(once per worker)")
    print(f"a 1-worker pool for one tiny task (spawn, imports, shutdown): {pool_start(data):.2f} s")

    ok = True
    executors: list[tuple[str, Callable[[int], Executor | None]]] = [("local", LocalExecutor)]
    if not args.no_ray and ray_executor(1) is not None:
        executors.append(("ray", ray_executor))
    serial: tuple[list[float], float] | None = None
    reference: list[dict[str, Any]] = []
    walls: dict[str, dict[int, tuple[float, float]]] = {name: {} for name, _ in executors}
    for _ in range(args.repeat):  # serial, 1 and 2 workers alternate, so each sees the machine's load alike
        times, cpu, reference = serial_run(job, tasks)
        if serial is None or sum(times) < sum(serial[0]):
            serial = (times, cpu)
        for name, make in executors:
            for workers in (1, 2):
                executor = make(workers)
                assert executor is not None
                wall, cpu, rows = timed_sweep(data, executor)
                if workers not in walls[name] or wall < walls[name][workers][0]:
                    walls[name][workers] = (wall, cpu)
                if rows != reference:
                    print(f"MISMATCH: {name} with {workers} worker(s) gave another table", file=sys.stderr)
                    ok = False
    assert serial is not None
    times, work = serial[0], sum(serial[0])
    print(f"in process, one after the other: {work:.2f} s for {len(tasks)} backtests "
          f"({min(times):.2f}-{max(times):.2f} s each, {args.bars / (work / len(tasks)):,.0f} bars/s)")
    for name, _ in executors:
        report(name, walls[name], (work, serial[1]), len(tasks))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
