"""``--gateway sim``: paper and live runs on a simulated IBKR gateway on this machine, with no settings file.

:func:`sim_gateway` finds a running ``tradebus gateway-sim`` through the file it writes while it
serves (:data:`STATE_FILE`: port, URLs, CA file, process id); when there is none, or its process is
gone, it starts one as a child process for the run and stops it at the end. :meth:`LocalGateway.ibkr_settings`
are the ``[brokers.ibkr]`` values that reach it: its URLs and the CA that signed its certificate, so
TLS is verified as with a real gateway.

The simulated account is a paper account (``DU…``), so ``tradebus live --gateway sim`` needs no
``--i-understand-live``: the adapter's live guard (:mod:`brokers.ibkr.accountguard`) decides from what
the gateway reports, as it does for a real one.

:func:`local_tls_hint` is the one place that explains a refused certificate from a gateway on this
machine: the usual cause is a ``tradebus gateway-sim`` reached without its CA.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from brokers.ibkr.errors import IbkrTlsError
from framework.errors import BrokerConnectionError
from framework.live_guard import is_loopback_host
from simulators.ibkr.process import GatewayProcess
from simulators.ibkr.process import GatewayStartError
from tradebus.defaults import STARTING_CASH
from tradebus.runs import RUNS_ROOT

STATE_FILE = RUNS_ROOT / "gateway-sim.json"
"""Where a running ``tradebus gateway-sim`` says where it listens (removed when it stops)."""

SIM_CONFIRMS = frozenset({"o403"})
"""Order precautions confirmed on the simulated gateway: ``o403``, the question a marketable order draws."""

SIM_SEED = 7
"""Seed of the market of a simulated gateway started for a run (``tradebus gateway-sim --seed`` otherwise)."""

_WHERE = re.compile(r"TLS verification of (\[[^\]]+\]|[^\s:]+):\d+ failed")


@dataclass(frozen=True)
class LocalGateway:
    """A simulated gateway on this machine, and how to reach it.

    Attributes:
        base_url: REST root (``https://127.0.0.1:<port>/v1/api``).
        ws_url: Websocket URL.
        ca_file: The CA certificate that signed the gateway's certificate.
        pid: Its process id.
        started: Whether this run started it (and stops it at the end).
    """

    base_url: str
    ws_url: str
    ca_file: Path
    pid: int | None
    started: bool

    def ibkr_settings(self) -> dict[str, Any]:
        """The ``[brokers.ibkr]`` values that connect to this gateway with its CA."""
        return {"base_url": self.base_url, "ws_url": self.ws_url, "ca_file": str(self.ca_file),
                "auto_confirm_message_ids": sorted(SIM_CONFIRMS),
                "maintenance_region": "none"}  # the simulated gateway has no nightly maintenance

    def describe(self) -> str:
        """One line for the start of a run: where the gateway is and whose it is."""
        whose = "started for this run" if self.started else f"tradebus gateway-sim, pid {self.pid}"
        return f"simulated IBKR gateway at {self.base_url} ({whose}; CA {self.ca_file})"


def find_running(state_file: Path = STATE_FILE) -> LocalGateway | None:
    """The gateway ``state_file`` describes, if its process is alive and its port answers; else None."""
    try:
        facts = json.loads(state_file.read_text(encoding="utf-8"))
        pid, port, ca_file = int(facts["pid"]), int(facts["port"]), Path(facts["ca_file"])
        base_url, ws_url = str(facts["base_url"]), str(facts["ws_url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not (_alive(pid) and ca_file.is_file() and _answers(port)):
        return None  # left behind by a gateway that was killed
    return LocalGateway(base_url, ws_url, ca_file, pid, started=False)


@contextlib.contextmanager
def sim_gateway(state_file: Path = STATE_FILE, *, seed: int = SIM_SEED) -> Iterator[LocalGateway]:
    """The running ``tradebus gateway-sim`` (see :func:`find_running`), else a child process for the run.

    Raises:
        BrokerConnectionError: If the child process does not start (naming its log file).
    """
    found = find_running(state_file)
    if found is not None:
        yield found
        return
    process = GatewayProcess(args=["--seed", str(seed), "--cash", str(STARTING_CASH)])
    try:
        process.start()
    except GatewayStartError as e:
        process.close()
        msg = f"could not start a simulated gateway: {e}"
        raise BrokerConnectionError(msg) from e
    try:
        yield LocalGateway(process.base_url, process.ws_url, process.ca_file, process.pid, started=True)
    finally:
        process.close()


def local_tls_hint(error: BaseException) -> str | None:
    """The fix for a certificate refused by a gateway on this machine, in one line; None for other errors."""
    if not isinstance(error, IbkrTlsError):
        return None
    where = _WHERE.search(str(error))
    if where is None or not is_loopback_host(where.group(1).strip("[]")):
        return None
    return (f"fix: for `tradebus gateway-sim`, add --gateway sim (it reads the CA from {STATE_FILE}); for another "
            f"local gateway set TRADEBUS_BROKERS__IBKR__CA_FILE to the CA that signed its certificate")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False
