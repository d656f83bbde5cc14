"""Where sweep tasks run: the :class:`Executor` protocol, in this process or on a local process pool.

An executor is given a job (shared by every task) and the tasks, and yields each task's result as
it finishes, in any order; the sweep orders the table itself, so every executor and worker count
gives the same table. Closing the iterator early (Ctrl-C) cancels the tasks not yet finished: those
waiting never start, and those running are stopped. A cluster executor (Ray) plugs in by satisfying the same protocol.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Iterator
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED
from concurrent.futures import Future
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import wait
from typing import Protocol

from tradebus.sweep.tasks import SweepJob
from tradebus.sweep.tasks import SweepTask
from tradebus.sweep.tasks import TaskResult
from tradebus.sweep.tasks import install
from tradebus.sweep.tasks import run_installed
from tradebus.sweep.tasks import run_task


class Executor(Protocol):
    """Runs a sweep's tasks and yields their results as they finish."""

    def run(self, job: SweepJob, tasks: Sequence[SweepTask]) -> Iterator[TaskResult]:
        """Run every task of ``job``; yield each result when it is ready (in any order).

        Closing the returned iterator before the end cancels the tasks that have not finished.
        """
        ...


class InProcessExecutor:
    """Runs the tasks one after the other in this process (no pickling; for debugging and small sweeps)."""

    def run(self, job: SweepJob, tasks: Sequence[SweepTask]) -> Iterator[TaskResult]:
        """Run the tasks in order (see :meth:`Executor.run`)."""
        for task in tasks:
            yield run_task(job, task)


def default_workers() -> int:
    """The CPU count (at least 1)."""
    return os.cpu_count() or 1


def _start_worker(job: SweepJob) -> None:
    # Ctrl-C is the parent's to handle: it cancels what has not started and keeps what finished
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    install(job)


class LocalExecutor:
    """A local process pool (``concurrent.futures`` with the ``spawn`` context, so it is the same on every OS).

    The job (bars included) is shipped once per worker through the pool's initializer; each task
    carries only its parameters.

    Args:
        workers: Worker processes (default: the CPU count); never more than there are tasks.
    """

    def __init__(self, workers: int | None = None) -> None:
        if workers is not None and workers < 1:
            msg = f"workers must be at least 1, got {workers}"
            raise ValueError(msg)
        self.workers = workers or default_workers()

    def run(self, job: SweepJob, tasks: Sequence[SweepTask]) -> Iterator[TaskResult]:
        """Run the tasks on the pool (see :meth:`Executor.run`)."""
        if not tasks:
            return
        pool = ProcessPoolExecutor(
            max_workers=min(self.workers, len(tasks)), mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker, initargs=(job,),
        )
        pending: set[Future[TaskResult]] = set()
        try:
            pending = {pool.submit(run_installed, task) for task in tasks}
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=lambda f: f.result().index):
                    yield future.result()
        finally:
            running = [future for future in pending if not future.cancel() and not future.done()]
            if running:  # closed early (Ctrl-C): a backtest can run for minutes, so stop it rather than wait
                _terminate_workers(pool)
            pool.shutdown(wait=True, cancel_futures=True)


def _terminate_workers(pool: ProcessPoolExecutor) -> None:
    terminate = getattr(pool, "terminate_workers", None)  # Python 3.14+
    if terminate is not None:
        terminate()
        return
    # before 3.14 the pool keeps its processes in a private dict, the only handle on a running task's process
    for process in list(getattr(pool, "_processes", {}).values()):
        process.terminate()
