"""``tradebus demo`` with its defaults places and fills the same orders on every run.

Three runs start together (each a real ``tradebus demo`` process in its own working directory, so
each writes its own ``runs/demo/<run id>/``), so the test takes about as long as one run (~25 s).
Order times and fill prices follow the wall clock; what a user sees in the order list (symbol,
side, quantity, status) must not.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

from tradebus.runs import latest_run

LAUNCH = "import sys; from tradebus.cli import main; sys.exit(main())"
TIMEOUT = 150  # seconds; the demo stops itself after four fills (about 25 s), at most after 60 s


def test_the_default_demo_places_and_fills_the_same_orders_every_time(tmp_path: Path) -> None:
    folders = [tmp_path / f"run{i}" for i in range(3)]
    processes = []
    for folder in folders:
        folder.mkdir()
        with (folder / "output.txt").open("wb") as output:
            processes.append(subprocess.Popen([sys.executable, "-c", LAUNCH, "demo", "--quiet"], cwd=folder,
                                              stdout=output, stderr=subprocess.STDOUT))
    try:
        codes = [p.wait(timeout=TIMEOUT) for p in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    outputs = [(f / "output.txt").read_text(encoding="utf-8") for f in folders]
    assert codes == [0, 0, 0], outputs
    seen = []
    for folder, output in zip(folders, outputs, strict=True):
        run = latest_run("demo", root=folder / "runs")
        assert run is not None, output
        assert f"output runs/demo/{run.name}/" in output  # printed at the start
        with (run / "orders.csv").open(encoding="utf-8") as handle:
            seen.append([(o["symbol"], o["side"], o["quantity"], o["status"]) for o in csv.DictReader(handle)])
    expected = [("AAPL", side, "100", "filled") for side in ("buy", "sell", "buy", "sell")]
    assert seen == [expected, expected, expected], outputs
