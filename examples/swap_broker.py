"""One strategy, three brokers: change the ``BROKER`` line and nothing else.

* ``backtest``: the paper venue replaying the shipped sample (one-minute bars) on a simulated clock;
* ``paper``: simulated fills on the live feed of the simulated IBKR gateway (started in-process);
* ``ibkr``: the IBKR adapter trading on that gateway, which fills the orders itself.

Every broker is built through its plug-in (``tradebus brokers`` lists them), and the engine, the
strategy and the printing below never ask which one it is. ``--broker`` overrides the line for one run;
each run stops after ``--seconds`` (default 30), after ``--max-fills`` fills, or when the broker goes
away (a backtest at the end of its data)::

    .venv/bin/python examples/swap_broker.py
    .venv/bin/python examples/swap_broker.py --broker ibkr --seconds 20
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

from framework.broker import Broker
from framework.clock import Clock
from framework.clock import SystemClock
from framework.engine import Engine
from framework.events import BrokerDisconnected
from framework.events import OrderDenied
from framework.events import OrderFilled
from framework.events import OrderRejected
from framework.events import OrderSubmitted
from simulators.ibkr import SimulatedGateway
from simulators.ibkr import SimulatorConfig
from strategies import SmaCross
from strategies import SmaCrossConfig
from tradebus.plugins import broker_plugin

BROKER = "backtest"  # the one line to change: "backtest", "paper" or "ibkr"

BAR_SECONDS = {"backtest": 60, "paper": 1, "ibkr": 1}
"""The bar length each feed offers: the sample holds minute bars, the gateway's feed ticks fast."""


@contextlib.contextmanager
def open_broker(name: str, clock: Clock) -> Iterator[Broker]:
    """Build the broker called ``name`` through its plug-in, with a simulated gateway if it needs one."""
    plugin = broker_plugin(name)
    if name == "backtest":
        yield plugin.create({"bar_interval": 0.002}, clock=clock)  # ~4 s for the five sample sessions
        return
    with SimulatedGateway(port=0, seed=42, config=SimulatorConfig(tick_interval=0.05)) as gateway:
        ibkr = {
            "base_url": gateway.base_url,
            "ws_url": gateway.ws_url,
            "ca_file": gateway.ca_file,
            "auto_confirm_message_ids": ["o403"],  # "this order will fill at once": expected for market orders
            "maintenance_region": "none",  # the simulated gateway has no nightly reset
        }
        if plugin.needs_data:  # paper: fills simulated here, on the ibkr feed
            feed = broker_plugin("ibkr").create(ibkr, clock=clock)
            # the simulated market never closes, so the paper venue's may not either: fills at any hour
            yield plugin.create({"starting_cash": 100_000, "market_hours": "always"}, clock=clock, data=feed)
        else:
            yield plugin.create(ibkr, clock=clock)


def narrate(engine: Engine, max_fills: int | None) -> None:
    """Print orders and fills; stop after ``max_fills`` fills or when the broker disconnects."""
    fills: list[OrderFilled] = []

    def on_submitted(event: OrderSubmitted) -> None:
        request = event.order.request
        print(f"order  {event.client_order_id}: {request.side} {request.quantity} {request.symbol}")

    def on_filled(event: OrderFilled) -> None:
        fill = event.fill
        fills.append(event)
        print(f"fill   {event.client_order_id}: {fill.side} {fill.quantity} {fill.symbol} @ {fill.price:.2f}"
              f" ({fill.ts:%Y-%m-%d %H:%M:%S} UTC)")
        if max_fills is not None and len(fills) >= max_fills:
            engine.request_stop()

    def on_refused(event: OrderRejected | OrderDenied) -> None:
        print(f"refused {event.client_order_id}: {event.reason}")

    def on_disconnected(event: BrokerDisconnected) -> None:
        print(f"{event.broker} disconnected: {event.reason}")
        engine.request_stop()

    engine.subscribe(OrderSubmitted, on_submitted)
    engine.subscribe(OrderFilled, on_filled)
    engine.subscribe(OrderRejected, on_refused)
    engine.subscribe(OrderDenied, on_refused)
    engine.subscribe(BrokerDisconnected, on_disconnected)


def main() -> None:
    parser = argparse.ArgumentParser(description="one strategy under the backtest, paper or ibkr broker")
    parser.add_argument("--broker", default=BROKER, choices=sorted(BAR_SECONDS), help=f"default {BROKER}")
    parser.add_argument("--seconds", type=float, default=30.0, help="longest run in seconds (default 30)")
    parser.add_argument("--max-fills", type=int, help="stop after this many fills")
    args = parser.parse_args()

    clock = SystemClock()
    strategy = SmaCross(SmaCrossConfig(symbol="AAPL", fast=3, slow=8, quantity=Decimal(10),
                                       bar_seconds=BAR_SECONDS[args.broker]))
    with open_broker(args.broker, clock) as broker:
        engine = Engine(broker, clock=clock)
        engine.add_strategy(strategy)
        narrate(engine, args.max_fills)
        engine.start()
        print(f"running {type(strategy).__name__} on the {broker.name} broker for up to {args.seconds:.0f} s")
        engine.run(duration=timedelta(seconds=args.seconds))
    orders = engine.orders.all()
    portfolio = engine.portfolio
    print(f"{broker.name}: {len(orders)} orders; cash {portfolio.cash:,.2f}, equity {portfolio.equity:,.2f}")


if __name__ == "__main__":
    main()
