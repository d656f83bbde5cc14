"""The gateway as a child process: ready line, SIGKILL, restart on the same port with a new session."""

from __future__ import annotations

import requests

from brokers.ibkr.simulator import GatewayProcess


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
