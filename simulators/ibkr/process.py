"""The gateway as a child process, so tests can SIGKILL it and start it again on the same port.

:class:`GatewayProcess` starts ``python -m simulators.ibkr`` and waits for the ``READY`` line
the command prints once it is serving (no sleeps). The CA certificate and key live in a directory
owned by the helper and are reused on restart, so clients keep verifying TLS with the same file. It
is driven over HTTP control (``POST /sim/control/<action>``) with the standard library only.
"""

from __future__ import annotations

import json
import os
import select
import signal
import ssl
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO
from typing import Any

from framework.clock import SystemClock
from simulators.ibkr.holds import held_or_timeout

READY_PREFIX = "READY "
CONTROL_TIMEOUT = 10.0
# The folder that holds the ``simulators`` package: the repository, or site-packages in an install.
IMPORT_ROOT = Path(__file__).resolve().parents[2]


class GatewayStartError(RuntimeError):
    """The child process exited or stayed silent instead of reporting ready."""


class GatewayProcess:
    """A simulated gateway running in a child process.

    Args:
        port: Port to serve on (0 picks a free one on first start; restarts reuse it).
        args: Extra command-line options, e.g. ``["--market", "manual", "--no-pacing"]``.
        ready_timeout: Seconds to wait for the ``READY`` line.
        keep_books: Keep orders, executions, positions and prices across restarts (a state file in
            the helper's folder, :attr:`state_file`), as IBKR's servers do when the real gateway restarts.
    """

    def __init__(self, port: int = 0, args: Sequence[str] = (), ready_timeout: float = 20.0, *,
                 keep_books: bool = False) -> None:
        self.port = port
        self.args = list(args)
        self.ready_timeout = ready_timeout
        self._dir = tempfile.TemporaryDirectory(prefix="tradebus-gwproc-")
        self.state_file = Path(self._dir.name) / "books.jsonl" if keep_books else None
        self.ca_file = Path(self._dir.name) / "ca.pem"
        self._ca_key = Path(self._dir.name) / "ca.key"
        self.log_file = Path(self._dir.name) / "gateway.log"
        self._proc: subprocess.Popen[str] | None = None
        self._log: IO[str] | None = None

    @property
    def base_url(self) -> str:
        """REST base URL."""
        return f"https://127.0.0.1:{self.port}/v1/api"

    @property
    def ws_url(self) -> str:
        """Websocket URL."""
        return f"wss://127.0.0.1:{self.port}/v1/api/ws"

    @property
    def pid(self) -> int | None:
        """Process id of the running child, if any."""
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        """Whether the child process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> GatewayProcess:
        """Start the child and block until it reports ready.

        Raises:
            GatewayStartError: If it exits or does not report ready in time.
        """
        command = [sys.executable, "-m", "simulators.ibkr", "--port", str(self.port), "--ca-file",
                   str(self.ca_file), "--ca-key-file", str(self._ca_key), *self.args]
        if self.state_file is not None:
            command += ["--state-file", str(self.state_file)]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(IMPORT_ROOT),
                                                                          os.environ.get("PYTHONPATH")]))}
        self._log = self.log_file.open("a", encoding="utf-8")
        self._proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self._log, text=True, env=env)  # noqa: S603
        self.port = self._wait_ready(self._proc)
        return self

    def _wait_ready(self, proc: subprocess.Popen[str]) -> int:
        assert proc.stdout is not None  # stdout=PIPE
        clock = SystemClock()
        deadline = clock.monotonic() + self.ready_timeout
        while (left := deadline - clock.monotonic()) > 0:
            readable, _, _ = select.select([proc.stdout], [], [], left)
            if not readable:
                break
            line = proc.stdout.readline()
            if not line:
                self._reap()
                raise GatewayStartError(f"gateway exited before ready; see {self.log_file}")
            if line.startswith(READY_PREFIX):
                fields = dict(part.split("=", 1) for part in line.split()[1:])
                return int(fields["port"])
        self.kill()
        raise GatewayStartError(f"gateway not ready after {self.ready_timeout}s; see {self.log_file}")

    def _reap(self) -> None:
        if self._proc is not None:
            self._proc.wait()
            if self._proc.stdout is not None:
                self._proc.stdout.close()
        if self._log is not None:
            self._log.close()
        self._proc, self._log = None, None

    def kill(self) -> None:
        """SIGKILL the child (a crash: no cleanup, connections reset)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGKILL)
        self._reap()

    def stop(self) -> None:
        """Terminate the child gracefully (SIGTERM), falling back to SIGKILL."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        self._reap()

    def restart(self) -> GatewayProcess:
        """Kill the child if running and start a new one on the same port with the same CA.

        The new process has a new session id; its books are empty unless ``keep_books`` was set.
        """
        self.kill()
        return self.start()

    def control(self, action: str, **params: Any) -> dict[str, Any]:
        """Run a control action over HTTP and return its JSON result."""
        return self._post(action, params, CONTROL_TIMEOUT)

    def _post(self, action: str, params: dict[str, Any], timeout: float) -> dict[str, Any]:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        request = urllib.request.Request(
            f"https://127.0.0.1:{self.port}/sim/control/{action}", data=json.dumps(params).encode(),
            headers={"Content-Type": "application/json"}, method="POST",
        )
        with urllib.request.urlopen(request, context=context, timeout=timeout) as response:  # noqa: S310
            result: dict[str, Any] = json.loads(response.read())
        return result

    def ledger(self, since: int = 0, coids: list[str] | None = None) -> dict[str, Any]:
        """Return the books: orders (those of ``coids`` if given), executions from index ``since``, positions, cash."""
        return self.control("ledger", since=since, coids=coids)

    def hold(self, path: str | None = None, method: str | None = None, count: int = 1, *,
             before_processing: bool = False) -> None:
        """Hold the next ``count`` matching requests unanswered until :meth:`release_held` (see the gateway's)."""
        self.control("hold", path=path, method=method, count=count, before_processing=before_processing)

    def held(self) -> list[dict[str, Any]]:
        """Return the held requests, oldest first."""
        return list(self.control("held")["held"])

    def wait_held(self, count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Block until at least ``count`` requests are held (the server waits on an event) and return them.

        Raises:
            TimeoutError: If fewer are held after ``timeout`` seconds.
        """
        result = self._post("wait_held", {"count": count, "timeout": timeout}, timeout + CONTROL_TIMEOUT)
        return held_or_timeout(result, count, timeout)

    def release_held(self, count: int | None = None, *, hold_id: int | None = None,
                     coid: str | None = None) -> list[int]:
        """Release held requests (all, the oldest ``count``, the one ``hold_id``, or those carrying ``coid``)."""
        return list(self.control("release_held", count=count, id=hold_id, coid=coid)["released"])

    def close(self) -> None:
        """Stop the child and remove the temporary directory."""
        self.stop()
        self._dir.cleanup()

    def __enter__(self) -> GatewayProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
