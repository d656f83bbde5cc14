"""The Ray executor on a real local Ray head (``ray start --head`` on 127.0.0.1), not a mock.

One head serves the module (two CPUs); it is stopped by its own process, so other Ray clusters on the
machine are left alone, and the teardown checks that none of its processes is left.
"""

from __future__ import annotations

import builtins
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray

from framework.errors import StrategyLoadError
from framework.history import BarData
from tests.tradebus import ray_fixture
from tests.tradebus.doc_blocks import python_blocks
from tests.tradebus.ray_fixture import CountedJob
from tests.tradebus.ray_fixture import RayHead
from tests.tradebus.sweep_fixture import SPEC
from tradebus import run_sweep
from tradebus import walk_forward
from tradebus.cli import main
from tradebus.defaults import venue_config
from tradebus.sweep import InProcessExecutor
from tradebus.sweep import LocalExecutor
from tradebus.sweep import RayExecutor
from tradebus.sweep.ray_executor import RAY_HINT
from tradebus.sweep.ray_executor import ray_session
from tradebus.sweep.tasks import SweepTask

GRID = {"fast": "3:9:3", "slow": [12, 20]}


@pytest.fixture(scope="module")
def head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayHead]:
    started = ray_fixture.start_head(tmp_path_factory.mktemp("ray-head"))
    try:
        addresses = ray_fixture.listening(started.processes())
        assert ("127.0.0.1", started.port) in addresses
        assert all(ray_fixture.is_loopback_address(a) for a, _ in addresses), addresses
        with pytest.MonkeyPatch.context() as mp:  # this process and the CLI's subprocesses talk to the head
            for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_USAGE_STATS_ENABLED"):
                mp.setenv(name, started.env[name])
            ray_fixture.refresh_ray_auth()
            yield started
        ray_fixture.refresh_ray_auth()
    finally:
        survivors = ray_fixture.stop_head(started)
    assert survivors == set(), f"the head left processes behind: {survivors}"
    assert (ray_fixture.listening({os.getpid(), *ray_fixture.descendants(os.getpid())})
            & {("127.0.0.1", started.port)}) == set()


@pytest.fixture
def connected(head: RayHead) -> Iterator[None]:
    """Ray initialised in this process (on the head), as a notebook user would have it."""
    with ray_session(ray, head.address, None):
        yield


def csv_of(result: Any, path: Path) -> str:
    return result.to_csv(path).read_text(encoding="utf-8")


def test_ray_gives_the_same_table_as_in_process_and_local_pools(head: RayHead, data: BarData,
                                                                 tmp_path: Path) -> None:
    executors = {"in-process": InProcessExecutor(), "local-1": LocalExecutor(1), "local-2": LocalExecutor(2),
                 "ray": RayExecutor(address=head.address)}
    tables = {name: csv_of(run_sweep(SPEC, data, GRID, executor=e), tmp_path / f"{name}.csv")
              for name, e in executors.items()}
    assert len(set(tables.values())) == 1, tables
    assert len(tables["ray"].splitlines()) == 1 + 6
    assert not ray.is_initialized()  # the executor disconnected from the cluster it joined ...
    assert head.process.poll() is None  # ... and left it running


def test_a_task_whose_worker_is_killed_is_retried(head: RayHead, data: BarData, tmp_path: Path) -> None:
    spec = "tests.tradebus.ray_fixture:KillOnce"
    marker = tmp_path / "killed"
    done = tmp_path / "already-killed"
    done.write_text("")  # the reference run in this process must not kill it
    reference = run_sweep(spec, data, GRID, params={"kill_fast": 6, "marker": str(done)},
                          executor=InProcessExecutor())
    result = run_sweep(spec, data, GRID, params={"kill_fast": 6, "marker": str(marker)},
                       executor=RayExecutor(address=head.address, max_retries=1))
    killed = int(marker.read_text())  # the worker that ran fast=6 first wrote its pid, then killed itself
    assert killed != os.getpid()
    assert not ray_fixture.alive(killed)
    assert (len(result.results), result.interrupted) == (6, False)
    assert csv_of(result, tmp_path / "ray.csv") == csv_of(reference, tmp_path / "reference.csv")


def test_each_worker_deserialises_the_bars_once(connected: None, data: BarData, tmp_path: Path) -> None:
    log = tmp_path / "loads"
    job = CountedJob(SPEC, data, venue_config(), log=str(log))
    tasks = [SweepTask(i, {"fast": fast, "slow": slow}) for i, (fast, slow) in
             enumerate((f, s) for f in (2, 3, 4, 5, 6, 7) for s in (12, 20))]
    results = list(RayExecutor(workers=2).run(job, tasks))
    assert sorted(r.index for r in results) == list(range(12))
    loads = log.read_text(encoding="utf-8").split()
    assert len(loads) == len(set(loads))  # no worker loaded the job twice
    assert 1 <= len(loads) < len(tasks)
    assert ray.is_initialized()  # a Ray the executor found initialised is left running


def test_ctrl_c_cancels_the_outstanding_tasks_and_keeps_the_finished_ones(connected: None, data: BarData,
                                                                         tmp_path: Path) -> None:
    # fast=9 and 12 wait for a file nobody creates: after the 4 others finish, both CPUs are stuck on them
    params = {"block_from": 9, "gate": str(tmp_path / "never")}

    def ctrl_c(done: int, planned: int) -> None:
        if done == 4:
            raise KeyboardInterrupt

    result = run_sweep("tests.tradebus.ray_fixture:BlockFrom", data, {"fast": [3, 6, 9, 12], "slow": [20, 40]},
                       params=params, executor=RayExecutor(workers=2), progress=ctrl_c)
    assert result.interrupted
    assert (result.planned, sorted((r.params["fast"], r.params["slow"]) for r in result.results)) == (
        8, [(3, 20), (3, 40), (6, 20), (6, 40)])

    @ray.remote(num_cpus=1)
    def probe() -> int:
        return os.getpid()

    # both CPUs are free again only if the two blocked tasks were cancelled
    assert len(ray.get([probe.remote() for _ in range(2)], timeout=60)) == 2


def test_a_local_ray_listens_on_loopback_only_and_is_shut_down(data: BarData) -> None:
    from ray._common.usage import usage_lib

    assert not ray.is_initialized()
    tasks = [SweepTask(i, {"fast": 3 + i, "slow": 20}) for i in range(3)]
    others = ray_fixture.descendants(os.getpid())  # the module's head, when it is running
    seen: set[tuple[str, int]] = set()
    ours: set[int] = set()
    for _ in RayExecutor(workers=1).run(ray_fixture.job(SPEC, data), tasks):
        assert not usage_lib.usage_stats_enabled()
        ours |= ray_fixture.descendants(os.getpid()) - others
        seen |= ray_fixture.listening({os.getpid(), *ours})
    assert ours
    assert seen
    assert all(ray_fixture.is_loopback_address(a) for a, _ in seen), seen
    assert not ray.is_initialized()
    assert ray_fixture.wait_gone(ours) == set()


def test_cli_on_the_ray_head_writes_the_same_table_as_local(head: RayHead, bars_file: Path, tmp_path: Path) -> None:
    sweep = ["sweep", SPEC, "--data", str(bars_file), "--grid", "fast=3:9:3", "--grid", "slow=12,20",
             "--no-progress"]
    assert main([*sweep, "--executor", "local", "--workers", "2", "--out", str(tmp_path / "local")]) == 0
    tradebus = Path(sys.executable).with_name("tradebus")
    run = subprocess.run([str(tradebus), *sweep, "--executor", "ray", "--address", head.address, "--out",
                          str(tmp_path / "ray")], capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "ray" / "sweep.csv").read_text() == (tmp_path / "local" / "sweep.csv").read_text()
    assert "rank  fast  slow" in run.stdout


def test_ctrl_c_on_the_command_line_keeps_the_finished_runs_and_stops_its_local_ray(bars_file: Path,
                                                                                    tmp_path: Path) -> None:
    # one run at a time; the first run with fast=9 presses Ctrl-C (SIGINT to the process group, as a terminal does)
    marker, out = tmp_path / "pressed", tmp_path / "out"
    command = [str(Path(sys.executable).with_name("tradebus")), "sweep", "tests.tradebus.ray_fixture:CtrlCFrom",
               "--data", str(bars_file), "--grid", "fast=3,6,9,12", "--grid", "slow=20,40", "--param", "ctrl_c_from=9",
               "--param", f"marker={marker}", "--executor", "ray", "--workers", "1", "--out", str(out),
               "--no-progress"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ray_fixture.ROOT),
                                                                       os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen(command, env=env, cwd=ray_fixture.ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 130, stderr
    assert marker.exists()
    rows = ray_fixture.read_rows(out / "sweep.csv")
    assert len(rows) >= 3  # the runs before the first fast=9 one (the last of them may be cut off by the Ctrl-C)
    assert {(r["fast"], r["slow"]) for r in rows} <= {("3", "20"), ("3", "40"), ("6", "20"), ("6", "40")}
    assert f"interrupted: {len(rows)} of 8 runs finished" in stdout
    assert ray_fixture.wait_gone(ray_fixture.in_group(process.pid)) == set()  # its Ray stopped with it


def test_address_needs_the_ray_executor(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", SPEC, "--grid", "fast=3,6", "--address", "127.0.0.1:6379", "--no-progress"]) == 2
    assert capsys.readouterr().err.strip() == (
        "tradebus sweep: error: --address: joins a Ray cluster: add --executor ray")


def test_without_ray_installed_the_error_names_the_extra(data: BarData, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    real_import = builtins.__import__

    def no_ray(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "ray" or name.startswith("ray."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(ImportError, match=r"pip install 'tradebus\[ray\]'") as caught:
        list(RayExecutor().run(ray_fixture.job(SPEC, data), [SweepTask(0, {"fast": 3})]))
    assert str(caught.value) == RAY_HINT
    assert main(["sweep", SPEC, "--grid", "fast=3,6", "--executor", "ray", "--no-progress"]) == 2
    assert capsys.readouterr().err.strip() == (
        "tradebus sweep: error: --executor: the ray executor needs Ray: pip install 'tradebus[ray]'")


def test_bad_arguments_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match="workers must be at least 1"):
        RayExecutor(workers=0)
    with pytest.raises(ValueError, match="max_retries must be at least 0"):
        RayExecutor(max_retries=-1)
    assert main(["sweep", SPEC, "--grid", "fast=3", "--executor", "ray", "--workers", "0", "--no-progress"]) == 2
    assert "--workers: must be at least 1, got 0" in capsys.readouterr().err


def test_the_docs_ray_example_runs_on_the_head(head: RayHead, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    (code,) = python_blocks("sweeps.md", "On a Ray cluster")
    assert '"HEAD:6379"' in code
    monkeypatch.chdir(tmp_path)
    exec(compile(code.replace('"HEAD:6379"', repr(head.address)), "docs/sweeps.md", "exec"),
         {"__name__": "__doc_example__"})
    assert capsys.readouterr().out.strip() == "{'fast': 10, 'slow': 40}"


def test_an_error_raised_in_a_worker_is_raised_here(connected: None, data: BarData, tmp_path: Path) -> None:
    # a strategy file the workers cannot find (as on a node without the strategy's code): not retried, raised
    job = ray_fixture.job(f"{tmp_path / 'missing.py'}:Missing", data)
    with pytest.raises(StrategyLoadError, match=r"missing\.py"):
        list(RayExecutor(workers=2).run(job, [SweepTask(i, {"fast": 3 + i, "slow": 20}) for i in range(4)]))


def test_a_walk_forward_on_ray_gives_the_same_result(head: RayHead, data: BarData) -> None:
    # its windowed tasks share one job: the bars still go to the object store once
    grid = {"fast": [3, 6], "slow": [12, 20]}
    results = [walk_forward(SPEC, data, grid, train=120, test=40, metric="total_return", executor=e)
               for e in (InProcessExecutor(), RayExecutor(address=head.address))]
    assert results[0] == results[1]
    assert len(results[1].windows) == 4
