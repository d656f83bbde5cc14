"""The gateway as a child process: ready line, SIGKILL, restart, and the installed console script."""

from __future__ import annotations

import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from simulators.ibkr import GatewayProcess

READY_TIMEOUT = 30.0  # generous: a deadline for a hung start, never a measurement


def _session(proc: GatewayProcess) -> requests.Session:
    session = requests.Session()
    session.verify = str(proc.ca_file)
    session.trust_env = False
    return session


def test_kill_and_restart_on_same_port_with_new_session_id() -> None:
    with GatewayProcess(port=0, args=["--market", "manual", "--no-pacing"]) as proc:
        port = proc.port
        http = _session(proc)
        first = http.post(proc.base_url + "/tickle", timeout=10).json()["session"]
        assert proc.control("state")["session_state"] == "authenticated"
        proc.kill()
        assert not proc.running
        proc.restart()
        assert proc.port == port
        second = http.post(proc.base_url + "/tickle", timeout=10).json()["session"]
        assert second != first  # the CA file is reused, so TLS verification still succeeds
        page = http.get(f"https://localhost:{port}/", timeout=10)
        assert "Client login succeeds" in page.text
        http.close()


def tradebus_script() -> str:
    """The installed ``tradebus`` console script of this interpreter's environment."""
    found = shutil.which("tradebus", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail(f"no tradebus console script next to {sys.executable}; run pip install -e .")
    return found


def read_ready_line(proc: subprocess.Popen[str]) -> dict[str, str]:
    """Block until the child prints its READY line (event-driven; fails on exit or after the deadline)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + READY_TIMEOUT
    while (left := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select([proc.stdout], [], [], left)
        if not readable:
            break
        line = proc.stdout.readline()
        if not line:
            pytest.fail(f"gateway-sim exited with {proc.wait()} before READY")
        if line.startswith("READY "):
            return dict(part.split("=", 1) for part in line.split()[1:])
    pytest.fail("gateway-sim did not print READY")


def test_console_script_serves_the_landing_page_over_verified_tls(tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    command = [tradebus_script(), "gateway-sim", "--port", "0", "--ca-file", str(ca_file), "--market", "manual"]
    log = (tmp_path / "gateway.log").open("w", encoding="utf-8")  # read it when this test fails
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        ready = read_ready_line(proc)
        assert ready["ca_file"] == str(ca_file)
        assert ca_file.read_text().startswith("-----BEGIN CERTIFICATE-----")
        http = requests.Session()
        http.trust_env = False
        page = http.get(f"https://127.0.0.1:{ready['port']}/", verify=str(ca_file), timeout=10)
        http.close()
        assert page.status_code == 200
        assert page.headers["Content-Type"].startswith("text/html")
        assert "Client login succeeds" in page.text
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
        assert proc.stdout is not None
        proc.stdout.close()
        log.close()
