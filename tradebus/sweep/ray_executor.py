"""Sweep tasks on Ray: a local Ray on this machine by default, or an existing cluster (``address``).

The same code runs on both. The job (bars included) goes to Ray's object store once (``ray.put``);
each task carries a reference to it, wrapped so Ray does not resolve it per task, and every worker
process keeps the job it loaded, so a worker deserialises the bars once, not once per task. A task
whose worker dies (killed, out of memory, a lost node) is retried up to ``max_retries`` times; a
strategy's own exception is not a reason to retry, since :func:`~tradebus.sweep.tasks.run_task`
already records it in the result. Results come back as they finish; closing the iterator (Ctrl-C)
cancels the tasks still outstanding and keeps the ones that finished.

A local Ray this executor starts listens on 127.0.0.1 only, has no dashboard, sends no usage
statistics, and is shut down when the sweep ends; a Ray already initialised in the process, or a
cluster joined by ``address``, is left running.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tradebus.sweep.tasks import SweepJob
from tradebus.sweep.tasks import SweepTask
from tradebus.sweep.tasks import TaskResult
from tradebus.sweep.tasks import run_task

RAY_HINT = "the ray executor needs Ray: pip install 'tradebus[ray]'"

LOOPBACK = "127.0.0.1"

# Ray's own switch for a single-machine cluster: when off, Ray takes the loopback address as the node's
# address instead of the machine's network address, so every server of a local Ray binds to 127.0.0.1.
_SINGLE_MACHINE_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def require_ray() -> Any:
    """Import and return ray.

    Raises:
        ImportError: ``the ray executor needs Ray: pip install 'tradebus[ray]'`` when Ray is not installed.
    """
    try:
        import ray  # noqa: PLC0415 - optional dependency, imported on first use
    except ImportError as e:
        raise ImportError(RAY_HINT) from e
    return ray


@dataclass(frozen=True)
class JobRef:
    """A reference to the job in the object store, wrapped so Ray passes it to a task unresolved.

    Attributes:
        ref: The ``ray.ObjectRef`` of the :class:`~tradebus.sweep.tasks.SweepJob`.
    """

    ref: Any


_LOADED: dict[str, SweepJob] = {}
"""In a Ray worker process: the job it fetched last, by object id (a worker serves one sweep at a time)."""


def job_of(handle: JobRef) -> SweepJob:
    """The job behind ``handle``, fetched from the object store the first time this process needs it."""
    key = handle.ref.hex()
    job = _LOADED.get(key)
    if job is None:
        job = require_ray().get(handle.ref)
        _LOADED.clear()  # a worker reused by the next sweep drops the previous sweep's bars
        _LOADED[key] = job
    return job


def run_remote(handle: JobRef, task: SweepTask) -> TaskResult:
    """Run ``task`` in a Ray worker (the body of the remote function)."""
    return run_task(job_of(handle), task)


def is_loopback(address: str) -> bool:
    """Whether a Ray address (``host:port``, ``ray://host:port`` or ``localhost``) names this machine's loopback."""
    host = address.split("://", 1)[-1].rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def _loopback_node(ray: Any) -> Iterator[None]:
    # the environment variable reaches the processes Ray starts; the constant is Ray's copy of it in this
    # process, read when ray was imported (possibly before this executor set the variable)
    constants = ray._private.ray_constants
    saved = getattr(constants, "ENABLE_RAY_CLUSTER", None)
    constants.ENABLE_RAY_CLUSTER = False
    try:
        with _environment({_SINGLE_MACHINE_ENV: "0"}):
            yield
    finally:
        constants.ENABLE_RAY_CLUSTER = saved


@contextlib.contextmanager
def ray_session(ray: Any, address: str | None, workers: int | None,
                runtime_env: Mapping[str, Any] | None = None) -> Iterator[None]:
    """Ray initialised for the length of the block.

    A Ray already initialised in this process is used and left running. Otherwise ``address`` is joined
    (the cluster keeps running afterwards), or, when it is None, a new local Ray with ``workers`` CPUs
    (default: all) is started on 127.0.0.1 and shut down at the end (``RAY_ADDRESS`` is not consulted).
    Usage statistics are off and Ray's log lines stay out of the terminal (they are in the session's log
    folder).
    """
    if ray.is_initialized():
        yield
        return
    local = address is None or is_loopback(address)
    with contextlib.ExitStack() as stack:
        stack.enter_context(_environment({"RAY_USAGE_STATS_ENABLED": "0"}))
        if local:
            stack.enter_context(_loopback_node(ray))
        options: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR,
                                   "runtime_env": dict(runtime_env) if runtime_env else None}
        if address is None:
            # "local": a new Ray of our own, never one found through RAY_ADDRESS or another user's `ray start`
            context = ray.init(address="local", num_cpus=workers, _node_ip_address=LOOPBACK, include_dashboard=False,
                               **options)
        else:
            context = ray.init(address=address, **({"_node_ip_address": LOOPBACK} if local else {}), **options)
        try:
            node = context.address_info.get("node_ip_address") or LOOPBACK
            if local and not is_loopback(node):
                msg = f"Ray took {node} as this node's address instead of {LOOPBACK}; refusing to run a sweep on it"
                raise RuntimeError(msg)
            yield
        finally:
            ray.shutdown()


class RayExecutor:
    """Runs the tasks on Ray: a local Ray by default, or the cluster at ``address``.

    Args:
        address: A running cluster's address (``HEAD:6379``, as ``ray start --head`` prints it); None starts
            a local Ray on 127.0.0.1 for the sweep. A Ray already initialised in this process (``ray.init()`` in
            a notebook) is used as it is, whatever ``address`` and ``runtime_env`` say, and left running.
        workers: Tasks in flight at once, and the CPUs of a local Ray this executor starts (default: two tasks
            per CPU of the cluster, so none waits for work).
        max_retries: How many times a task whose worker died is run again (a strategy's exception is not
            retried: it is in the task's result).
        runtime_env: Ray's ``runtime_env`` for the job (``{"working_dir": "."}`` ships the strategy's code to
            every node), when this executor initialises Ray.

    Raises:
        ValueError: ``workers`` below 1 or ``max_retries`` below 0.
    """

    def __init__(self, address: str | None = None, workers: int | None = None, max_retries: int = 3,
                 runtime_env: Mapping[str, Any] | None = None) -> None:
        if workers is not None and workers < 1:
            msg = f"workers must be at least 1, got {workers}"
            raise ValueError(msg)
        if max_retries < 0:
            msg = f"max_retries must be at least 0, got {max_retries}"
            raise ValueError(msg)
        self.address = address
        self.workers = workers
        self.max_retries = max_retries
        self.runtime_env = runtime_env

    @property
    def description(self) -> str:
        """Where it runs, in words: ``ray, local`` or ``ray at HEAD:6379``, and the tasks in flight if set."""
        where = "ray, local" if self.address is None else f"ray at {self.address}"
        if self.workers is None:
            return where
        return f"{where}, {self.workers} worker{'s' if self.workers != 1 else ''}"

    def run(self, job: SweepJob, tasks: Sequence[SweepTask]) -> Iterator[TaskResult]:
        """Run the tasks on Ray (see :meth:`~tradebus.sweep.executors.Executor.run`).

        Raises:
            ImportError: Naming the ``ray`` extra when Ray is not installed.
            RuntimeError: A task's worker died more than ``max_retries`` times.
            Exception: What ``run_task`` raised in a worker (such as a strategy that cannot be imported there).
        """
        if not tasks:
            return
        ray = require_ray()
        with ray_session(ray, self.address, self.workers, self.runtime_env):
            yield from self._stream(ray, job, tasks)

    def _stream(self, ray: Any, job: SweepJob, tasks: Sequence[SweepTask]) -> Iterator[TaskResult]:
        remote = ray.remote(run_remote).options(num_cpus=1, max_retries=self.max_retries, retry_exceptions=False)
        handle = JobRef(ray.put(job))
        limit = self.workers or 2 * max(1, int(ray.cluster_resources().get("CPU", 1)))
        waiting = iter(tasks)
        pending: dict[Any, SweepTask] = {}

        def submit() -> None:
            task = next(waiting, None)
            if task is not None:
                pending[remote.remote(handle, task)] = task

        try:
            for _ in range(limit):
                submit()
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    task = pending.pop(ref)
                    result = self._result(ray, ref, task)
                    submit()
                    yield result
        finally:
            for ref in pending:  # closed early (Ctrl-C) or failed: stop what is queued or running
                ray.cancel(ref, force=True)

    def _result(self, ray: Any, ref: Any, task: SweepTask) -> TaskResult:
        try:
            result: TaskResult = ray.get(ref)
        except ray.exceptions.RayTaskError as e:  # run_task raised: the strategy cannot be loaded on that node ...
            if isinstance(e.cause, Exception):
                raise e.cause from e  # ... which the command line reports in one line
            raise
        except ray.exceptions.RayError as e:  # the worker or its node was lost once more than retries allow
            combo = ", ".join(f"{k}={v}" for k, v in task.params.items())
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            msg = (f"sweep task {task.index} ({combo}) did not finish on Ray after {self.max_retries} retries: "
                   f"{type(e).__name__}: {first}")
            raise RuntimeError(msg) from e
        return result
