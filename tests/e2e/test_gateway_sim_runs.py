"""``--gateway sim``: paper and live runs on a simulated gateway on this machine, with no settings file.

Real processes throughout: ``tradebus gateway-sim`` as a child process (found through the file it
announces itself in), or the gateway child process a run starts for itself; the runs go through
``cli.main`` in a temporary working directory, so ``runs/`` lands there.
"""

from __future__ import annotations

import csv
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from brokers.ibkr.errors import IbkrTlsError
from tradebus import cli
from tradebus.local_gateway import find_running
from tradebus.local_gateway import local_tls_hint
from tradebus.runs import latest_run

STRATEGY = "strategies.sma_cross:SmaCross"
ROUND_TRIP = f"{Path(__file__).with_name('round_trip_strategy.py')}:RoundTrip"
LAUNCH = "import sys; from tradebus.cli import main; sys.exit(main())"


def ready_line(process: subprocess.Popen[str], timeout: float = 30.0) -> str:
    """The ``READY`` line the gateway prints once it serves (waits on the pipe, no sleeps)."""
    assert process.stdout is not None
    readable, _, _ = select.select([process.stdout], [], [], timeout)
    assert readable, "the gateway did not report ready"
    line = process.stdout.readline()
    assert line.startswith("READY "), line
    return line


@pytest.fixture
def gateway_sim(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """``tradebus gateway-sim`` running with ``tmp_path`` as its working directory (its own CA there)."""
    command = [sys.executable, "-c", LAUNCH, "gateway-sim", "--port", "0", "--ca-file", str(tmp_path / "ca.pem"),
               "--ca-key-file", str(tmp_path / "ca.key")]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        ready_line(process)
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=20)
        assert process.stdout is not None
        process.stdout.close()


def orders(folder: Path) -> list[dict[str, str]]:
    with (folder / "orders.csv").open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_gateway_sim_announces_where_it_listens_and_withdraws_when_it_stops(
    tmp_path: Path, gateway_sim: subprocess.Popen[str]
) -> None:
    state = tmp_path / "runs" / "gateway-sim.json"
    facts = json.loads(state.read_text(encoding="utf-8"))
    assert facts["pid"] == gateway_sim.pid
    assert facts["ca_file"] == str((tmp_path / "ca.pem").resolve())
    found = find_running(state)
    assert found is not None
    assert found.pid == gateway_sim.pid
    assert not found.started
    assert found.base_url == facts["base_url"] == f"https://localhost:{facts['port']}/v1/api"
    gateway_sim.send_signal(signal.SIGTERM)
    assert gateway_sim.wait(timeout=20) == 0
    assert not state.exists()
    assert find_running(state) is None


def test_paper_with_gateway_sim_uses_the_running_gateway_sim(
    tmp_path: Path, gateway_sim: subprocess.Popen[str], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["paper", STRATEGY, "--data-from", "ibkr", "--gateway", "sim", "--duration", "2", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"(tradebus gateway-sim, pid {gateway_sim.pid}; CA {(tmp_path / 'ca.pem').resolve()})" in out
    assert gateway_sim.poll() is None  # a gateway the run did not start is left running


def test_a_refused_certificate_from_a_local_gateway_says_how_to_fix_it(
    tmp_path: Path, gateway_sim: subprocess.Popen[str], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    facts = json.loads((tmp_path / "runs" / "gateway-sim.json").read_text(encoding="utf-8"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRADEBUS_BROKERS__IBKR__BASE_URL", facts["base_url"])  # the URL, not the CA
    # a gateway that cannot be used is a run failure: exit 1 (docs/running.md, "Errors and exit codes")
    assert cli.main(["paper", STRATEGY, "--data-from", "ibkr", "--duration", "2", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "CERTIFICATE_VERIFY_FAILED" in err
    assert "fix: for `tradebus gateway-sim`, add --gateway sim" in err
    assert "Traceback" not in err
    assert not [p for p in (tmp_path / "runs" / "paper").iterdir() if p.is_dir()]  # no empty run folder left


def test_paper_with_gateway_sim_starts_a_gateway_trades_and_writes_runs_paper(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no runs/gateway-sim.json here: the run starts its own gateway
    # buys on its first bar, sells once that filled, then asks to stop: done when it has traded, however
    # slowly a loaded machine runs (the duration is only a bound for a run that never trades)
    code = cli.main(["paper", ROUND_TRIP, "--data-from", "ibkr", "--gateway", "sim", "--duration", "120",
                     "--param", "bar_seconds=1", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "(started for this run;" in out
    assert "cash 100,000.00 USD; costs: commission 0.005 USD/share" in out  # the defaults, printed at the start
    folder = latest_run("paper", root=Path("runs"))
    assert folder is not None
    assert [p for p in Path("runs/paper").iterdir() if p.is_dir() and not p.is_symlink()] == [folder]
    assert os.readlink(Path("runs/paper/latest")) == folder.name
    filled = [o for o in orders(folder) if o["status"] == "filled"]
    assert [(o["side"], o["symbol"]) for o in filled] == [("buy", "AAPL"), ("sell", "AAPL")]
    port = int(re.search(r"simulated IBKR gateway at https://127\.0\.0\.1:(\d+)/", out).group(1))  # type: ignore[union-attr]
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass  # the gateway the run started was stopped with it


def test_live_with_gateway_sim_trades_the_simulated_paper_account_without_the_live_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    code = cli.main(["live", STRATEGY, "--broker", "ibkr", "--gateway", "sim", "--duration", "2", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "tradebus live: SmaCross(" in out
    assert "cash 100,000.00, equity 100,000.00" in out  # the simulated account starts from the defaults
    assert "on ibkr" in out
    folder = latest_run("live", root=Path("runs"))
    assert folder is not None
    assert (folder / "result.json").is_file()


def test_gateway_sim_serves_only_the_ibkr_broker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["live", STRATEGY, "--broker", "paper", "--gateway", "sim", "--quiet"]) == 2
    assert "--gateway sim simulates the ibkr gateway" in capsys.readouterr().err


def test_a_state_file_left_by_a_killed_gateway_is_ignored(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    state = tmp_path / "gateway-sim.json"
    (tmp_path / "ca.pem").write_text("not used", encoding="utf-8")
    state.write_text(json.dumps({"pid": dead.pid, "port": 1, "ca_file": str(tmp_path / "ca.pem"),
                                 "base_url": "https://localhost:1/v1/api", "ws_url": "wss://localhost:1/v1/api/ws"}),
                     encoding="utf-8")
    assert find_running(state) is None
    state.write_text("{not json", encoding="utf-8")
    assert find_running(state) is None
    assert find_running(tmp_path / "missing.json") is None


@pytest.mark.parametrize(("host", "hinted"), [("localhost", True), ("127.0.0.1", True), ("[::1]", True),
                                               ("gateway.example.com", False)])
def test_the_tls_hint_is_for_gateways_on_this_machine(host: str, hinted: bool) -> None:
    error = IbkrTlsError(f"TLS verification of {host}:5000 failed: unable to get local issuer certificate",
                         method="POST", path="/tickle", sent=False)
    hint = local_tls_hint(error)
    assert (hint is not None) is hinted
    if hint is not None:
        assert "--gateway sim" in hint
        assert "TRADEBUS_BROKERS__IBKR__CA_FILE" in hint
    assert local_tls_hint(RuntimeError(str(error))) is None
