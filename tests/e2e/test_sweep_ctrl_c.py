"""Ctrl-C on a sweep on the local process pool, as a terminal sends it (SIGINT to the whole process group).

Two runs finish and two hang for good; after SIGINT the sweep must end promptly with the two finished
runs kept, the hung runs' worker processes gone, and nothing of the pool left behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.tradebus.sweep_fixture import write_daily_bars

HERE = Path(__file__).parent
DEADLINE = 120.0  # seconds; bounds a stuck child, never reached by a healthy one

SCRIPT = """
import sys
from tradebus import load_bars, run_sweep
from tradebus.sweep import LocalExecutor

def progress(done, planned):
    print(f"finished {done} of {planned}", flush=True)

if __name__ == "__main__":
    bars, marks = sys.argv[1], sys.argv[2]
    result = run_sweep(f"{sys.argv[3]}:StallsFromN", load_bars(bars), {"n": [0, 1, 2, 3]},
                       params={"marks": marks, "stall_from": 2}, metric="total_return",
                       executor=LocalExecutor(2), progress=progress)
    print("interrupted", result.interrupted, "kept", sorted(r.params["n"] for r in result.results), flush=True)
"""


def _default_sigint() -> None:
    # background jobs start with SIGINT ignored and children inherit it; a terminal's Ctrl-C meets the default
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_for(condition: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        assert time.monotonic() < deadline, f"not reached: {condition}"
        time.sleep(0.02)  # polls files another process writes; the deadline only bounds a stuck child


def _pool_workers(pid: int) -> set[int]:
    """The pool's worker processes among ``pid``'s children (not multiprocessing's resource tracker)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if int(fields[1]) == pid and b"spawn_main" in command:
                found.add(int(entry.name))
    return found


def test_ctrl_c_stops_running_backtests_and_keeps_the_finished(tmp_path: Path) -> None:
    bars = write_daily_bars(tmp_path / "bars.csv", days=30)
    marks = tmp_path / "marks"
    marks.mkdir()
    script = tmp_path / "sweep_script.py"
    script.write_text(SCRIPT, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen(
        [sys.executable, str(script), str(bars), str(marks), str(HERE / "stalling_strategy.py")],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True, preexec_fn=_default_sigint,  # noqa: PLW1509 - no lock taken between fork and exec
    )
    try:
        assert child.stdout is not None
        lines = [child.stdout.readline(), child.stdout.readline()]  # blocks until the parent has both results
        assert [line.split(" of ")[0] for line in lines] == ["finished 1", "finished 2"], lines
        # each worker took its next run only after finishing one: both stalled runs are now executing
        _wait_for("both stalled runs started", lambda: {p.name for p in marks.iterdir()} == {
            "started-0", "started-1", "started-2", "started-3"})
        workers = _pool_workers(child.pid)
        assert len(workers) == 2, "the sweep should have two worker processes"
        os.killpg(child.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        out, err = child.communicate(timeout=DEADLINE)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.communicate()
    assert child.returncode == 0, err
    assert out.strip().splitlines()[-1] == "interrupted True kept [0, 1]", out + err
    assert "Traceback" not in err, err
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()], "worker processes outlived the sweep"
