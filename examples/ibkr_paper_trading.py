"""Trade an IBKR paper account (or the simulated gateway) with the SMA-cross strategy.

Against the real gateway (started with ``docker compose -f examples/docker-compose.yml up`` and logged
in from a browser at https://localhost:5000, see docs/ibkr.md)::

    TRADEBUS_BROKERS__IBKR__CA_FILE=/path/to/gateway-ca.pem \\
    TRADEBUS_BROKERS__IBKR__AUTO_CONFIRM=o163,o354,o383,o403,o451 \\
    .venv/bin/python examples/ibkr_paper_trading.py --minutes 30

Against the simulator, started in-process (same code path, only the gateway differs)::

    .venv/bin/python examples/ibkr_paper_trading.py --simulator --minutes 1

It prints one line per connection change, order fill, rejection and position change, and a summary
at the end. On the simulator (the demo's market, :data:`tradebus.demo.DEMO_MARKET`, on one-second
bars) the strategy buys and sells within the minute.

The account must be a paper account (``DU...``): the adapter refuses anything else. A live account
is allowed only in code (``IbkrConfig.from_env(allow_live=True)``); ``TRADEBUS_BROKERS__IBKR__ALLOW_LIVE``
is refused.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

from brokers.ibkr import IbkrBroker
from brokers.ibkr import IbkrConfig
from framework.clock import SystemClock
from framework.config import EngineConfig
from framework.engine import Engine
from framework.errors import BrokerConnectionError
from framework.errors import ConfigError
from framework.events import BrokerConnected
from framework.events import BrokerDegraded
from framework.events import BrokerDisconnected
from framework.events import Event
from framework.events import OrderFilled
from framework.events import OrderRejected
from framework.events import PositionChanged
from simulators.ibkr import SimulatedGateway
from strategies import SmaCross
from strategies import SmaCrossConfig
from tradebus.console import ConsoleView
from tradebus.demo import DEMO_MARKET

ALLOW_LIST = "o163,o354,o383,o403,o451,o10331"


@contextlib.contextmanager
def gateway_config(simulator: bool) -> Iterator[IbkrConfig]:
    """The adapter config: from the environment, or pointing at an in-process simulated gateway."""
    if not simulator:
        yield IbkrConfig.from_env()
        return
    with SimulatedGateway(port=0, config=DEMO_MARKET) as gw:
        yield IbkrConfig.from_env(
            {"TRADEBUS_BROKERS__IBKR__AUTO_CONFIRM": ALLOW_LIST},
            base_url=gw.base_url, ws_url=gw.ws_url, ca_file=gw.ca_file,
            maintenance_region="none",  # the simulated gateway has no nightly reset
        )


def describe(event: Event) -> str:
    """One readable line for an event this example prints."""
    if isinstance(event, OrderFilled):
        fill = event.fill
        return (f"filled   {fill.side} {fill.quantity} {fill.symbol} @ {fill.price:.2f} "
                f"(commission {fill.commission:.2f})")
    if isinstance(event, PositionChanged):
        position = event.position
        return f"position {position.symbol} {position.quantity} (average price {position.average_price:.2f})"
    if isinstance(event, OrderRejected):
        return f"rejected {event.client_order_id}: {event.reason}"
    if isinstance(event, BrokerConnected | BrokerDegraded | BrokerDisconnected):
        what = {BrokerConnected: "connected to", BrokerDegraded: "degraded:", BrokerDisconnected: "disconnected from"}
        reason = getattr(event, "reason", "")
        return f"{what[type(event)]} {event.broker}" + (f": {reason}" if reason else "")
    return type(event).__name__


def main() -> None:
    parser = argparse.ArgumentParser(description="SMA cross on an IBKR paper account")
    parser.add_argument("--simulator", action="store_true", help="start a simulated gateway in-process")
    parser.add_argument("--symbol", default="AAPL")
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--bar-seconds", type=int, default=None,
                        help="bar size in seconds (default 1 on the simulator, 5 on a real gateway)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log the adapter's INFO lines too")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    bar_seconds = args.bar_seconds or (1 if args.simulator else 5)
    clock = SystemClock()
    with gateway_config(args.simulator) as config:
        broker = IbkrBroker(config, clock=clock)
        engine = Engine(broker, clock=clock, config=EngineConfig(stale_data_after=timedelta(minutes=2)))
        strategy = SmaCross(SmaCrossConfig(symbol=args.symbol, fast=2, slow=4, quantity=Decimal(10),
                                           bar_seconds=bar_seconds))
        engine.add_strategy(strategy)
        for kind in (BrokerConnected, BrokerDegraded, BrokerDisconnected, OrderFilled, OrderRejected,
                     PositionChanged):
            engine.subscribe(kind, lambda event: print(f"{clock.now():%H:%M:%S}  {describe(event)}", flush=True))
        engine.start()
        print(f"trading {args.symbol} on {bar_seconds}-second bars for {args.minutes:g} min "
              f"(account {broker.account_id}); Ctrl-C stops", flush=True)
        try:
            engine.run(duration=timedelta(minutes=args.minutes))
        finally:
            engine.stop()
        print(ConsoleView.summary(engine))


def run() -> int:
    """Run :func:`main`; a setting or a gateway problem is one line on stderr (exit 2 or 1), not a traceback."""
    try:
        main()
    except ConfigError as e:  # a bad TRADEBUS_BROKERS__IBKR__* value, or an account the config does not allow
        print(f"ibkr_paper_trading: {e}", file=sys.stderr)
        return 2
    except BrokerConnectionError as e:  # no gateway, not logged in, TLS refused
        print(f"ibkr_paper_trading: {e} (or run this example with --simulator)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run())
