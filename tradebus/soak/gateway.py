"""The soak's gateway: the simulated IBKR gateway in a child process whose books survive restarts.

A child process keeps the gateway's ledger independent of the process under test (its memory,
threads and descriptors are not counted against ours) and lets a fault kill it outright. It keeps
its books in a state file (``GatewayProcess(keep_books=True)``), as IBKR's servers keep an account
when the real gateway restarts. Its session timers are compressed by the soak's speed; they are
applied again after every restart, since runtime settings do not survive one.

Control calls and restarts are serialised: a check that asks for the ledger while a fault has the
gateway down waits for it to come back (or fails with ``OSError`` when it is down for good).
"""

from __future__ import annotations

import ssl
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from simulators.ibkr import GatewayProcess
from tradebus.soak.settings import SoakConfig

NEIGHBOUR_TIMEOUT = 5.0


def _rss_kb(pid: int) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


class SoakGateway:
    """The simulated gateway the soak trades against.

    Args:
        config: The soak's options (seed and time scale).
    """

    def __init__(self, config: SoakConfig) -> None:
        self.config = config
        self._base_args = ["--seed", str(config.seed), "--tick-interval", f"{config.sim(0.1):.4f}",
                           "--idle-timeout", f"{config.sim(300.0, 5.0):.3f}"]
        self._proc = GatewayProcess(port=0, args=self._base_args, keep_books=True)
        self._lock = threading.RLock()
        self.restarts = 0
        self.peak_rss_kb = 0

    @property
    def base_url(self) -> str:
        """REST base URL."""
        return self._proc.base_url

    @property
    def ws_url(self) -> str:
        """Websocket URL."""
        return self._proc.ws_url

    @property
    def ca_file(self) -> Path:
        """The CA that signed the gateway's certificate (TLS is verified)."""
        return self._proc.ca_file

    @property
    def log_file(self) -> Path:
        """The child's log (its stderr)."""
        return self._proc.log_file

    def settings(self) -> dict[str, Any]:
        """The session's timers in wall seconds (applied after every start)."""
        sim = self.config.sim
        return {
            "heartbeat_interval": sim(10.0, 0.5), "reauth_delay": sim(3.0), "penalty_window": sim(60.0, 5.0),
            "penalty_box_seconds": sim(600.0, 10.0), "position_cache_seconds": sim(60.0),
        }

    def start(self, state: str = "authenticated") -> None:
        """Start the child (session in ``state``) and apply the session timers."""
        with self._lock:
            self._proc.args = [*self._base_args, "--state", state]
            self._proc.start()
            self._proc.control("configure", **self.settings())

    def control(self, action: str, **params: Any) -> dict[str, Any]:
        """Run a control action (waits while a restart is in progress).

        Raises:
            OSError: The gateway did not answer.
        """
        with self._lock:
            return self._proc.control(action, **params)

    def ledger(self, since: int = 0, coids: list[str] | None = None) -> dict[str, Any]:
        """The gateway's books (control ``ledger``): executions from index ``since``; orders of ``coids`` (or all)."""
        return self.control("ledger", since=since, coids=coids)

    def kill(self) -> None:
        """SIGKILL the child (it stays down until :meth:`start`)."""
        with self._lock:
            self._proc.kill()

    def restart(self, down: float, state: str, stop: threading.Event) -> None:
        """Kill the child, stay down ``down`` seconds (less if ``stop`` is set), and start it in ``state``."""
        with self._lock:
            self._proc.kill()
            stop.wait(down)
            self.start(state)
            self.restarts += 1

    def neighbour_burst(self, requests: int) -> int:
        """Another client of the same gateway fires ``requests`` tickles at once; return how many got 429.

        IBKR's rate limits and penalty box are shared by everything using the gateway, so a noisy
        neighbour puts the adapter in the penalty box too (R4).
        """
        context = ssl.create_default_context(cafile=str(self.ca_file))
        refused = 0
        for _ in range(requests):
            request = urllib.request.Request(f"{self.base_url}/tickle", data=b"{}", method="POST",  # noqa: S310
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, context=context, timeout=NEIGHBOUR_TIMEOUT):  # noqa: S310
                    pass
            except urllib.error.HTTPError as e:
                refused += e.code == 429
        return refused

    def sample_rss_kb(self) -> int | None:
        """The child's resident memory now (kept as :attr:`peak_rss_kb`), None while it is down."""
        pid = self._proc.pid
        rss = _rss_kb(pid) if pid is not None and self._proc.running else None
        if rss is not None:
            self.peak_rss_kb = max(self.peak_rss_kb, rss)
        return rss

    def close(self) -> None:
        """Stop the child and remove its folder (state file, CA, log)."""
        with self._lock:
            self._proc.close()
