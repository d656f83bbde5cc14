"""Helpers of the Ray sweep tests: a real local Ray head, strategies that kill or block their worker, a counted job.

Ray workers import this module (the head runs with the checkout on its PYTHONPATH), so it holds only what
the workers need and what the head needs to start and stop.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from framework.history import BarData
from strategies.sma_cross import SmaCross
from strategies.sma_cross import SmaCrossConfig
from tradebus.defaults import venue_config
from tradebus.sweep.tasks import SweepJob

ROOT = Path(__file__).resolve().parents[2]


class KillOnceConfig(SmaCrossConfig):
    """SmaCross's parameters, plus: the worker running ``fast == kill_fast`` dies the first time (``marker``)."""

    kill_fast: int = 0
    marker: str = ""


class KillOnce(SmaCross):
    """SmaCross whose worker process dies (SIGKILL) on its first run with ``fast == kill_fast``."""

    config_type = KillOnceConfig

    def on_start(self) -> None:
        cfg = self.config
        assert isinstance(cfg, KillOnceConfig)
        if cfg.fast == cfg.kill_fast:
            try:
                with open(cfg.marker, "x") as f:
                    f.write(f"{os.getpid()}\n")
            except FileExistsError:
                pass
            else:
                os.kill(os.getpid(), signal.SIGKILL)
        super().on_start()


class BlockFromConfig(SmaCrossConfig):
    """SmaCross's parameters, plus: runs with ``fast >= block_from`` wait for the file ``gate``."""

    block_from: int = 10**9
    gate: str = ""


class BlockFrom(SmaCross):
    """SmaCross whose runs with ``fast >= block_from`` wait until ``gate`` exists (the tests never create it)."""

    config_type = BlockFromConfig

    def on_start(self) -> None:
        cfg = self.config
        assert isinstance(cfg, BlockFromConfig)
        while cfg.fast >= cfg.block_from and not Path(cfg.gate).exists():
            time.sleep(0.05)  # blocked, as a stuck task would be, until cancelled
        super().on_start()


class CtrlCFromConfig(SmaCrossConfig):
    """SmaCross's parameters, plus: the first run with ``fast >= ctrl_c_from`` presses Ctrl-C (``marker``)."""

    ctrl_c_from: int = 10**9
    marker: str = ""


class CtrlCFrom(SmaCross):
    """SmaCross whose first run with ``fast >= ctrl_c_from`` sends SIGINT to its local Ray's process group, as
    Ctrl-C in a terminal would (the raylet, its parent, shares the group of the ``tradebus`` that started it; the
    worker has a group of its own), then waits to be cancelled, as do the later such runs."""

    config_type = CtrlCFromConfig

    def on_start(self) -> None:
        cfg = self.config
        assert isinstance(cfg, CtrlCFromConfig)
        if cfg.fast >= cfg.ctrl_c_from:
            try:
                with open(cfg.marker, "x") as f:
                    f.write(f"{os.getpid()}\n")
            except FileExistsError:
                pass
            else:
                os.killpg(os.getpgid(os.getppid()), signal.SIGINT)
            while True:
                time.sleep(0.05)
        super().on_start()


def in_group(pgid: int) -> set[int]:
    """The processes of process group ``pgid`` (from /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


def _log_load(log: str, fields: dict[str, Any]) -> SweepJob:
    with open(log, "a", encoding="utf-8") as f:
        f.write(f"{os.getpid()}\n")
    return CountedJob(**fields)


@dataclass(frozen=True)
class CountedJob(SweepJob):
    """A job that appends the process id to ``log`` each time it is unpickled (to count deserialisations)."""

    log: str = ""

    def __reduce__(self) -> tuple[Any, ...]:
        fields = {name: getattr(self, name) for name in self.__dataclass_fields__}
        return (_log_load, (self.log, fields))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def listening(pids: set[int]) -> set[tuple[str, int]]:
    """The (address, port) of every TCP socket the processes ``pids`` listen on (from /proc)."""
    inodes: set[str] = set()
    for pid in pids:
        try:
            links = [os.readlink(p) for p in Path(f"/proc/{pid}/fd").iterdir()]
        except OSError:
            continue
        inodes.update(link[8:-1] for link in links if link.startswith("socket:["))
    found: set[tuple[str, int]] = set()
    for table, width in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] == "0A" and cols[9] in inodes:  # 0A: LISTEN
                hex_ip, hex_port = cols[1].split(":")
                found.add((_address(bytes.fromhex(hex_ip), width), int(hex_port, 16)))
    return found


def _address(raw: bytes, width: int) -> str:
    import ipaddress

    # /proc/net/tcp* stores the address as 32-bit words in host (little-endian) order
    data = b"".join(raw[i:i + 4][::-1] for i in range(0, width, 4))
    ip = ipaddress.ip_address(data)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def is_loopback_address(address: str) -> bool:
    import ipaddress

    return ipaddress.ip_address(address).is_loopback


@dataclass
class RayHead:
    """A local Ray head (``ray start --head --block``) on 127.0.0.1, owned by this test session."""

    process: subprocess.Popen[bytes]
    port: int
    env: dict[str, str]
    temp_dir: Path  # Ray's, removed when the head stops

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def processes(self) -> set[int]:
        return {self.process.pid, *descendants(self.process.pid)}


def ray_env(token: str) -> dict[str, str]:
    """What a process talking to the test head needs: loopback only, no usage stats, the head's auth token."""
    return {
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # a single-machine cluster: the node's address is 127.0.0.1
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": token,
    }


def refresh_ray_auth() -> None:
    """Make this process see the ``RAY_AUTH_*`` variables set after ray was imported (Ray reads them once)."""
    from ray._raylet import AuthenticationTokenLoader
    from ray._raylet import Config

    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()


def start_head(temp_dir: Path, num_cpus: int = 2, timeout: float = 60) -> RayHead:
    """Start a Ray head on 127.0.0.1:<free port> and wait until it accepts a driver."""
    port = free_port()
    # Ray's socket paths sit below its temp dir and must stay under the 107 bytes a Unix socket allows
    ray_dir = Path(tempfile.mkdtemp(prefix="tbray"))
    env = {**os.environ, **ray_env(secrets.token_hex(32)),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block",
               "--node-ip-address=127.0.0.1", f"--port={port}", f"--num-cpus={num_cpus}",
               "--disable-usage-stats", "--include-dashboard=false", f"--temp-dir={ray_dir}"]
    with (temp_dir / "head.log").open("wb") as log:  # the child keeps its own descriptor
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    head = RayHead(process, port, env, ray_dir)
    deadline = time.monotonic() + timeout
    while not _accepts(port):  # the head's GCS is up; a driver's ray.init waits for the rest of the node
        if process.poll() is not None or time.monotonic() > deadline:
            stop_head(head)
            raise RuntimeError(f"the Ray head did not start: {(temp_dir / 'head.log').read_text()[-2000:]}")
        time.sleep(0.1)
    return head


def _accepts(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def stop_head(head: RayHead, timeout: float = 30) -> set[int]:
    """Stop this head only (SIGTERM to its ``ray start --block``, which stops its node); return any survivors."""
    pids = head.processes()
    if head.process.poll() is None:
        head.process.send_signal(signal.SIGTERM)
        head.process.wait(timeout)
    survivors = wait_gone(pids, timeout)
    if not survivors:
        shutil.rmtree(head.temp_dir, ignore_errors=True)
    return survivors


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_gone(pids: set[int], timeout: float = 30) -> set[int]:
    """Wait until none of ``pids`` runs (or ``timeout``); return those still running."""
    deadline = time.monotonic() + timeout
    while (running := {p for p in pids if alive(p)}) and time.monotonic() < deadline:
        time.sleep(0.1)
    return running


def job(spec: str, data: BarData) -> SweepJob:
    return SweepJob(spec, data, venue_config())


def read_rows(path: Path) -> list[dict[str, str]]:
    import csv

    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))
