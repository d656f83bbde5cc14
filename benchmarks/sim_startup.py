"""Start-to-ready time of ``tradebus gateway-sim`` through the installed console script.

Each run starts the console script as a child process with ``--port 0`` and a fresh CA file, and times
from just before ``Popen`` until the ``READY`` line arrives on stdout; it then fetches the landing page
once (TLS verified against the CA it wrote) to prove the gateway is serving, and stops it with SIGTERM.
Target: every run < 2 s.

Run: .venv/bin/python benchmarks/sim_startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

TARGET_SECONDS = 2.0
READY_TIMEOUT = 60.0


def tradebus_script() -> str:
    found = shutil.which("tradebus", path=str(Path(sys.executable).parent))
    if found is None:
        raise SystemExit(f"no tradebus console script next to {sys.executable}; run pip install -e .")
    return found


def one_run(script: str, workdir: Path) -> float:
    ca_file = workdir / "ca.pem"
    command = [script, "gateway-sim", "--port", "0", "--ca-file", str(ca_file), "--market", "manual"]
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until READY (or EOF if the child dies)
        elapsed = time.perf_counter() - start
        if not line.startswith("READY "):
            raise SystemExit(f"gateway-sim did not report ready (exit code {proc.poll()}): {line!r}")
        port = dict(part.split("=", 1) for part in line.split()[1:])["port"]
        page = requests.get(f"https://127.0.0.1:{port}/", verify=str(ca_file), timeout=10)
        page.raise_for_status()
        return elapsed
    finally:
        proc.terminate()
        proc.wait(timeout=READY_TIMEOUT)
        if proc.stdout is not None:
            proc.stdout.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    script = tradebus_script()
    times = []
    for run in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory(prefix="tradebus-startup-") as workdir:
            elapsed = one_run(script, Path(workdir))
        times.append(elapsed)
        print(f"run {run}: {elapsed:.3f} s to READY")
    worst = max(times)
    print(f"min {min(times):.3f} s  median {statistics.median(times):.3f} s  max {worst:.3f} s"
          f"  (target < {TARGET_SECONDS:.1f} s: {'met' if worst < TARGET_SECONDS else 'MISSED'})")


if __name__ == "__main__":
    main()
