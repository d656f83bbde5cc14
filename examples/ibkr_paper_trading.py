"""Trade an IBKR paper account (or the simulated gateway) with the SMA-cross strategy.

Against the real gateway (started with ``docker compose -f examples/docker-compose.yml up`` and logged
in from a browser at https://localhost:5000, see docs/ibkr.md)::

    TRADEBUS_BROKERS__IBKR__CA_FILE=/path/to/gateway-ca.pem \\
    TRADEBUS_BROKERS__IBKR__AUTO_CONFIRM=o163,o354,o383,o403,o451 \\
    .venv/bin/python examples/ibkr_paper_trading.py --minutes 30

Against the simulator, started in-process (same code path, only the gateway differs)::

    .venv/bin/python examples/ibkr_paper_trading.py --simulator --minutes 1

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
from framework.events import OrderFilled
from framework.events import OrderRejected
from framework.events import PositionChanged
from simulators.ibkr import SimulatedGateway
from simulators.ibkr import SimulatorConfig
from strategies import SmaCross
from strategies import SmaCrossConfig

ALLOW_LIST = "o163,o354,o383,o403,o451,o10331"


@contextlib.contextmanager
def gateway_config(simulator: bool) -> Iterator[IbkrConfig]:
    """The adapter config: from the environment, or pointing at an in-process simulated gateway."""
    if not simulator:
        yield IbkrConfig.from_env()
        return
    with SimulatedGateway(port=0, seed=42, config=SimulatorConfig(tick_interval=0.05)) as gw:
        yield IbkrConfig.from_env(
            {"TRADEBUS_BROKERS__IBKR__AUTO_CONFIRM": ALLOW_LIST},
            base_url=gw.base_url, ws_url=gw.ws_url, ca_file=gw.ca_file,
            maintenance_region="none",  # the simulated gateway has no nightly reset
        )


def main() -> None:
    parser = argparse.ArgumentParser(description="SMA cross on an IBKR paper account")
    parser.add_argument("--simulator", action="store_true", help="start a simulated gateway in-process")
    parser.add_argument("--symbol", default="AAPL")
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--bar-seconds", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    clock = SystemClock()
    with gateway_config(args.simulator) as config:
        broker = IbkrBroker(config, clock=clock)
        engine = Engine(broker, clock=clock, config=EngineConfig(stale_data_after=timedelta(minutes=2)))
        strategy = SmaCross(SmaCrossConfig(symbol=args.symbol, fast=3, slow=8, quantity=Decimal(10),
                                           bar_seconds=args.bar_seconds))
        engine.add_strategy(strategy)
        for kind in (BrokerConnected, BrokerDegraded, BrokerDisconnected, OrderFilled, OrderRejected,
                     PositionChanged):
            engine.subscribe(kind, lambda event: print(f"{type(event).__name__}: {event!r}"))
        engine.start()
        print(f"connected; account {broker.account()}")
        engine.run(duration=timedelta(minutes=args.minutes))
        print(f"done; portfolio cash {engine.portfolio.cash}, positions {engine.portfolio.positions(clock.now())}")


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
