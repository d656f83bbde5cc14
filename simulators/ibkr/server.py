"""The in-process gateway: a context manager that serves on its own event loop in a thread.

Threading: every piece of gateway state lives on the server thread's event loop. The control
methods called from the test thread are marshalled onto that loop with
:func:`asyncio.run_coroutine_threadsafe` and block until done, so a test observes their effects in
order. A :class:`~framework.clock.SimulatedClock` passed in is shared: the test may also advance it
directly, and the server's background pump notices within a few milliseconds.
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from pathlib import Path
from types import TracebackType
from typing import Any

from framework.clock import Clock
from framework.clock import SystemClock
from simulators.ibkr import tls
from simulators.ibkr.app import RunningServer
from simulators.ibkr.app import start
from simulators.ibkr.config import SimulatorConfig
from simulators.ibkr.control import run_action_async
from simulators.ibkr.core import GatewayCore
from simulators.ibkr.holds import held_or_timeout
from simulators.ibkr.instruments import BarRow
from simulators.ibkr.instruments import load_bars

CONTROL_TIMEOUT = 30.0


class SimulatedGateway:
    """A simulated IBKR Client Portal gateway serving HTTPS and WSS on loopback.

    Use as ``with SimulatedGateway(port=0) as gw:``; then ``gw.base_url``, ``gw.ws_url`` and
    ``gw.ca_file`` are what a client needs, and the control methods drive the simulation.

    Args:
        port: TCP port (0 picks a free one).
        host: Interface to bind (loopback only by design).
        seed: Seed of the market and id generators (overrides ``config.seed``).
        config: Simulator settings.
        clock: Time source; pass a :class:`~framework.clock.SimulatedClock` for deterministic tests.
        data: Optional bars CSV to replay.
        ca_file: Where to write the CA certificate (default: a temporary directory).
        ca_key_file: Where to keep the CA key, to reuse the CA across restarts (optional).
        cert_file: Serve this certificate chain (PEM) instead of one issued by the CA for the loopback
            names; with ``key_file``. For TLS tests: an expired certificate, one for another host name.
        key_file: The private key (PEM) of ``cert_file``.
    """

    def __init__(
        self,
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        seed: int | None = None,
        config: SimulatorConfig | None = None,
        clock: Clock | None = None,
        data: Path | None = None,
        ca_file: Path | None = None,
        ca_key_file: Path | None = None,
        cert_file: Path | None = None,
        key_file: Path | None = None,
    ) -> None:
        if (cert_file is None) != (key_file is None):
            raise ValueError("cert_file and key_file go together: pass both or neither")
        config = config or SimulatorConfig()
        if seed is not None:
            config = config.with_updates({"seed": seed})
        self.config = config
        self.host = host
        self.clock: Clock = clock or SystemClock()
        self._requested_port = port
        self._bars: list[BarRow] = load_bars(data) if data is not None else []
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        if ca_file is None:
            self._tempdir = tempfile.TemporaryDirectory(prefix="tradebus-gw-")
            ca_file = Path(self._tempdir.name) / "ca.pem"
        self.ca_file = ca_file
        self._ca_key_file = ca_key_file
        self._certificate = (cert_file, key_file) if cert_file is not None and key_file is not None else None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: RunningServer | None = None
        self.port = 0

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> SimulatedGateway:
        """Start serving; returns once the port accepts connections."""
        ca = tls.load_or_create_ca(self.ca_file, self._ca_key_file)
        context = tls.server_context(ca, self._certificate)
        loop = asyncio.new_event_loop()
        started: Future[RunningServer] = Future()
        core = GatewayCore(self.config, self.clock, self._bars)

        def run() -> None:
            asyncio.set_event_loop(loop)
            task = loop.create_task(start(core, self.host, self._requested_port, context))
            task.add_done_callback(lambda t: _settle(started, t))
            loop.run_forever()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="simulated-ibkr-gateway", daemon=True)
        self._thread.start()
        self._server = started.result(timeout=CONTROL_TIMEOUT)
        self.port = self._server.port
        return self

    def stop(self) -> None:
        """Stop serving, join the thread and close the event loop."""
        loop, thread, server = self._loop, self._thread, self._server
        if loop is None or thread is None:
            return
        try:
            if server is not None:
                asyncio.run_coroutine_threadsafe(server.stop(), loop).result(timeout=CONTROL_TIMEOUT)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=CONTROL_TIMEOUT)
            loop.run_until_complete(_cancel_all(asyncio.all_tasks(loop)))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            self._loop = self._thread = self._server = None
            if self._tempdir is not None:
                self._tempdir.cleanup()
                self._tempdir = None

    def __enter__(self) -> SimulatedGateway:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- addresses -------------------------------------------------------------------------------

    @property
    def root_url(self) -> str:
        """``https://127.0.0.1:PORT``."""
        return f"https://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """REST base, ``https://127.0.0.1:PORT/v1/api``."""
        return f"{self.root_url}/v1/api"

    @property
    def ws_url(self) -> str:
        """Websocket URL, ``wss://127.0.0.1:PORT/v1/api/ws``."""
        return f"wss://{self.host}:{self.port}/v1/api/ws"

    @property
    def listening(self) -> bool:
        """Whether the gateway accepts connections (False between :meth:`take_down` and :meth:`bring_up`)."""
        return self._server is not None and self._server.site is not None

    @property
    def core(self) -> GatewayCore:
        """The gateway state (touch only from the server loop, e.g. via :meth:`call`)."""
        if self._server is None:
            raise RuntimeError("gateway is not running")
        return self._server.core

    # -- control ---------------------------------------------------------------------------------

    def control(self, action: str, **params: Any) -> dict[str, Any]:
        """Run a control action (see :mod:`simulators.ibkr.control`) and return its result."""
        return self._run(action, params, CONTROL_TIMEOUT)

    def _run(self, action: str, params: dict[str, Any], timeout: float) -> dict[str, Any]:
        if self._loop is None:
            raise RuntimeError("gateway is not running")
        invoke = run_action_async(self.core, action, params)
        return asyncio.run_coroutine_threadsafe(invoke, self._loop).result(timeout=timeout)

    def _running(self) -> RunningServer:
        if self._server is None or self._loop is None:
            raise RuntimeError("gateway is not running")
        return self._server

    def _await(self, work: Coroutine[Any, Any, None]) -> None:
        assert self._loop is not None  # checked by _running()
        asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout=CONTROL_TIMEOUT)

    def state(self) -> dict[str, Any]:
        """Return session, order and config status."""
        return self.control("state")

    def ledger(self, since: int = 0, coids: list[str] | None = None) -> dict[str, Any]:
        """Return the books: orders (those of ``coids`` if given), executions from index ``since``, positions, cash."""
        return self.control("ledger", since=since, coids=coids)

    @property
    def session_id(self) -> str:
        """The current 32-hex session id (what ``/tickle`` reports)."""
        return str(self.state()["session_id"])

    def reset(self, **config_updates: Any) -> dict[str, Any]:
        """Return to a fresh gateway, optionally with config changes from the start-up config."""
        return self.control("reset", **config_updates)

    def configure(self, **updates: Any) -> dict[str, Any]:
        """Change settings at run time, keeping all state."""
        return self.control("configure", **updates)

    def advance(self, seconds: float) -> dict[str, Any]:
        """Move the simulated clock forward, running every job that falls due on the way."""
        return self.control("advance", seconds=seconds)

    def step_market(self, n: int = 1) -> None:
        """Move the market ``n`` steps (manual market mode)."""
        self.control("step_market", n=n)

    def set_quote(self, symbol: str, **values: Any) -> dict[str, Any]:
        """Set quote values (``bid``, ``ask``, ``last``, sizes, ``halted``) of a symbol."""
        return self.control("set_quote", symbol=symbol, **values)

    def quote(self, symbol: str) -> dict[str, str]:
        """Return the current ``bid``, ``ask`` and ``last`` of a symbol (as decimal strings), changing nothing."""
        return {name: str(value) for name, value in self.control("quote", symbol=symbol).items()}

    def login(self) -> None:
        """Simulate a browser login (after ``logout`` or a ``restart`` into ``logged_out``)."""
        self.control("login")

    def logout(self) -> None:
        """End the session (every ``/v1/api`` call then answers 401)."""
        self.control("logout")

    def expire(self) -> None:
        """Expire the brokerage session as the idle timer does."""
        self.control("expire")

    def compete(self) -> None:
        """Simulate a competing login from another platform."""
        self.control("compete")

    def set_session(self, state: str) -> None:
        """Force a session state: logged_out, sso_only, authenticated, competing or expired."""
        self.control("set_session", state=state)

    def nightly_reset(self, maintenance_seconds: float = 300.0) -> None:
        """Reset the brokerage session; ``/iserver`` answers 503 for ``maintenance_seconds``."""
        self.control("nightly_reset", maintenance_seconds=maintenance_seconds)

    def end_maintenance(self) -> None:
        """End a maintenance window early."""
        self.control("end_maintenance")

    def restart(self, state: str = "authenticated") -> None:
        """Simulate a gateway restart in-process: new session id, sockets dropped, priming lost."""
        self.control("restart", state=state)

    def take_down(self) -> None:
        """Go down as a crashed gateway process: connections refused, open ones reset, until :meth:`bring_up`.

        IBKR's side goes on meanwhile (the clock jobs, the market, working orders and their fills), so
        a client that comes back has missed what happened. The control methods keep working.
        """
        self._await(self._running().stop_listening())

    def bring_up(self, state: str = "authenticated") -> None:
        """Serve again on the same port as a restarted gateway: a new session id in ``state``.

        ``expired`` needs ``/iserver/reauthenticate``, ``logged_out`` a (simulated) browser
        :meth:`login`; priming, snapshot streams and suppressed questions are lost, orders kept.
        """
        server = self._running()

        async def come_back() -> None:
            await run_action_async(server.core, "restart", {"state": state})
            await server.listen_again()

        self._await(come_back())

    def ws_drop(self, mode: str = "abort") -> None:
        """End every open websocket.

        Modes: ``abort`` (closed without a close frame: the client sees code 1006), ``close`` (a
        close frame, code 1000), ``reset`` (a TCP reset), ``half_open`` (the socket stays open and
        goes silent, heartbeats included, as :meth:`ws_stall`).
        """
        self.control("ws_drop", mode=mode)

    def ws_refuse(self, refused: bool = True) -> None:
        """Answer new websocket upgrades with 503 (or stop doing so); open sockets are not touched."""
        self.control("ws_refuse", refused=refused)

    def ws_connections(self, since: int = 0) -> list[dict[str, Any]]:
        """The connection log: one entry per websocket (id ``since`` or later), oldest first.

        Each has ``id``, ``opened_at``, ``authenticated_at``, ``closed_at`` (clock-monotonic),
        ``ended_by`` (``close``/``abort``/``reset``, or ``""``), ``stalled``, ``frames`` and ``sent``
        (frames queued, in total and by topic) and ``subscribed_at`` (subscription key -> time).
        """
        return list(self.control("ws_connections", since=since)["connections"])

    def ws_stall(self, stalled: bool = True) -> None:
        """Silently stop (or resume) all frames on the open websockets, heartbeats included."""
        self.control("ws_stall", stalled=stalled)

    def ws_malformed(self, kind: str = "invalid_utf8", count: int = 1) -> None:
        """Send malformed frames: invalid_utf8, truncated_json, not_json, binary_garbage, unknown_topic."""
        self.control("ws_malformed", kind=kind, count=count)

    def delay(self, seconds: float, path: str | None = None, method: str | None = None, count: int = 1) -> None:
        """Delay the next ``count`` matching responses by ``seconds`` of real time (after processing)."""
        self.control("delay", seconds=seconds, path=path, method=method, count=count)

    def drop_after_commit(self, path: str | None = None, method: str | None = None, count: int = 1) -> None:
        """Process the next matching request, then drop the connection without answering."""
        self.control("drop_after_commit", path=path, method=method, count=count)

    def hold(self, path: str | None = None, method: str | None = None, count: int = 1, *,
             before_processing: bool = False) -> None:
        """Hold the next ``count`` matching requests unanswered until :meth:`release_held`.

        By default each is processed first (an order is committed) and only its answer is withheld;
        with ``before_processing`` it is held before the session gate and the handler run.
        """
        self.control("hold", path=path, method=method, count=count, before_processing=before_processing)

    def held(self) -> list[dict[str, Any]]:
        """Return the held requests, oldest first (``id``, ``method``, ``path``, ``seq``, ``coids``, ...)."""
        return list(self.control("held")["held"])

    def wait_held(self, count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Block until at least ``count`` requests are held (event-driven) and return them.

        Raises:
            TimeoutError: If fewer are held after ``timeout`` seconds of real time.
        """
        result = self._run("wait_held", {"count": count, "timeout": timeout}, timeout + CONTROL_TIMEOUT)
        return held_or_timeout(result, count, timeout)

    def release_held(self, count: int | None = None, *, hold_id: int | None = None,
                     coid: str | None = None) -> list[int]:
        """Release held requests (all, the oldest ``count``, the one ``hold_id``, or those carrying ``coid``).

        Returns:
            The ids of the released requests.
        """
        return list(self.control("release_held", count=count, id=hold_id, coid=coid)["released"])

    def clear_faults(self) -> None:
        """Disarm HTTP faults, release held requests, end maintenance and resume stalled sockets."""
        self.control("clear_faults")

    def pacing_reset(self) -> None:
        """Forget rate windows and lift the penalty box."""
        self.control("pacing_reset")


async def _cancel_all(tasks: set[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _settle(future: Future[RunningServer], task: asyncio.Task[RunningServer]) -> None:
    if task.cancelled():
        future.cancel()
    elif task.exception() is not None:
        future.set_exception(task.exception())
    else:
        future.set_result(task.result())
