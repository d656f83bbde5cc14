"""The aiohttp application: routes under ``/v1/api`` and ``/v1/portal``, websocket, control, landing.

:func:`start` serves an application over TLS on an already running event loop and returns a
:class:`RunningServer` handle; both the in-process :class:`~simulators.ibkr.server.SimulatedGateway`
and the command line use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass

from aiohttp import web

from simulators.ibkr import routes_contracts
from simulators.ibkr import routes_market
from simulators.ibkr import routes_order_views
from simulators.ibkr import routes_orders
from simulators.ibkr import routes_portfolio
from simulators.ibkr import routes_session
from simulators.ibkr.control import ControlError
from simulators.ibkr.control import run_action
from simulators.ibkr.control import run_action_async
from simulators.ibkr.core import GatewayCore
from simulators.ibkr.http_json import API_PREFIXES
from simulators.ibkr.http_json import CORE
from simulators.ibkr.http_json import Route
from simulators.ibkr.http_json import body_json
from simulators.ibkr.http_json import core_of
from simulators.ibkr.http_json import error
from simulators.ibkr.http_json import reply
from simulators.ibkr.hub import FrameKind
from simulators.ibkr.landing import landing
from simulators.ibkr.middleware import gateway_rules
from simulators.ibkr.middleware import isolate_errors
from simulators.ibkr.ws_handler import websocket

PUMP_INTERVAL = 0.005
API_ROUTES: list[Route] = [
    *routes_session.ROUTES, *routes_portfolio.ROUTES, *routes_contracts.ROUTES, *routes_market.ROUTES,
    *routes_order_views.ROUTES, *routes_orders.ROUTES,
]


async def control(request: web.Request) -> web.Response:
    """``POST /sim/control/{action}`` with the action's parameters as a JSON object."""
    params = await body_json(request, {})
    if not isinstance(params, dict):
        return error(400, "control parameters must be a JSON object")
    try:
        return reply(await run_action_async(core_of(request), request.match_info["action"], params))
    except ControlError as e:
        return error(400, str(e))


async def state(request: web.Request) -> web.Response:
    """``GET /sim/state``."""
    return reply(run_action(core_of(request), "state", {}))


async def _close_sockets(app: web.Application) -> None:
    for client in list(app[CORE].hub.clients):
        app[CORE].hub.send_raw(client, FrameKind.CLOSE)


def build_app(core: GatewayCore) -> web.Application:
    """Return the application serving ``core``."""
    app = web.Application(middlewares=[isolate_errors, gateway_rules], client_max_size=1 << 20)
    app[CORE] = core
    for prefix in API_PREFIXES:
        for method, path, handler in API_ROUTES:
            app.router.add_route(method, prefix + path, handler)
            app.router.add_route(method, prefix + path + "/", handler)  # the real gateway takes a trailing slash
        app.router.add_get(prefix + "/ws", websocket)
    app.router.add_post("/sim/control/{action}", control)
    app.router.add_get("/sim/state", state)
    app.router.add_get("/", landing)
    app.on_shutdown.append(_close_sockets)
    return app


async def _pump(core: GatewayCore) -> None:
    while True:
        core.pump()
        await asyncio.sleep(PUMP_INTERVAL)


@dataclass
class RunningServer:
    """A serving gateway on the current event loop.

    Attributes:
        core: The gateway state.
        runner: The aiohttp runner.
        port: The bound port.
        pump: The background task running due clock jobs.
        site: The listening socket (None while the gateway is down, see :meth:`stop_listening`).
        host: The interface it listens on.
        context: Its TLS context.
    """

    core: GatewayCore
    runner: web.AppRunner
    port: int
    pump: asyncio.Task[None]
    site: web.TCPSite | None
    host: str
    context: ssl.SSLContext

    async def stop(self) -> None:
        """Stop serving and release the socket."""
        self.pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.pump
        self._abort_connections()
        await asyncio.sleep(0)
        await self.runner.cleanup()

    def _abort_connections(self) -> None:
        self.core.faults.held.release()  # held requests finish into the connections aborted below
        # Abort rather than close: a TLS close waits for the peer's close_notify, which a test
        # client that is still connected never sends.
        server = self.runner.server
        for handler in server.connections if server is not None else []:
            if handler.transport is not None:
                handler.transport.abort()

    async def stop_listening(self) -> None:
        """Go down as a gateway process that died: new connections refused, open ones reset.

        The brokerage backend (``core``: the market, the books, working orders, the clock jobs) goes
        on, as IBKR's does while a client's gateway is down: orders resting at IBKR still fill.
        """
        if self.site is not None:
            await self.site.stop()
            self.site = None
        self.core.listening = False
        self._abort_connections()
        await asyncio.sleep(0)

    async def listen_again(self) -> None:
        """Accept connections again on the same port (after :meth:`stop_listening`)."""
        if self.site is None:
            self.site = await _listen(self.runner, self.host, self.port, self.context)
        self.core.listening = True


async def start(core: GatewayCore, host: str, port: int, context: ssl.SSLContext) -> RunningServer:
    """Serve ``core`` over HTTPS/WSS on ``host:port`` (0 picks a free port)."""
    runner = web.AppRunner(build_app(core), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = await _listen(runner, host, port, context)
    bound = port
    for address in runner.addresses:
        bound = int(address[1])
        break
    core.start_jobs()
    return RunningServer(core, runner, bound, asyncio.create_task(_pump(core)), site, host, context)


async def _listen(runner: web.AppRunner, host: str, port: int, context: ssl.SSLContext) -> web.TCPSite:
    site = web.TCPSite(runner, host, port, ssl_context=context, reuse_address=True)
    await site.start()
    return site
