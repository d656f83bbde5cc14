"""Paper trading: simulated fills (brokers/paper) on the live feed of the simulated IBKR gateway.

The simulated Client Portal gateway starts in this process (HTTPS + WSS on 127.0.0.1, its own CA).
The real IBKR adapter connects to it for market data only; orders go to the paper venue, which fills
them locally on the one-second bars built from that feed, so the gateway never sees an order (the
last line shows its order count). Bounded by ``--seconds``::

    .venv/bin/python examples/paper_on_simulator.py              # 30 seconds
    .venv/bin/python examples/paper_on_simulator.py --seconds 90 --symbol MSFT

The same wiring against a real, logged-in gateway is ``tradebus paper STRATEGY --data-from ibkr``.
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from brokers.ibkr import IbkrBroker
from brokers.ibkr import IbkrConfig
from brokers.paper import MarketHours
from brokers.paper import PaperBroker
from brokers.paper import PaperConfig
from framework.clock import SystemClock
from framework.config import EngineConfig
from framework.engine import Engine
from framework.events import OrderDenied
from framework.events import OrderFilled
from framework.events import OrderRejected
from framework.events import OrderSubmitted
from framework.models import OrderStatus
from simulators.ibkr import SimulatedGateway
from simulators.ibkr import SimulatorConfig
from strategies import SmaCross
from strategies import SmaCrossConfig


def show(engine: Engine, max_fills: int | None) -> None:
    """Print every order and fill; stop the run after ``max_fills`` fills."""
    fills: list[OrderFilled] = []

    def on_submitted(event: OrderSubmitted) -> None:
        request = event.order.request
        print(f"order  {event.client_order_id}: {request.side} {request.quantity} {request.symbol}"
              f" {request.order_type}")

    def on_filled(event: OrderFilled) -> None:
        fill = event.fill
        fills.append(event)
        print(f"fill   {event.client_order_id}: {fill.side} {fill.quantity} {fill.symbol} @ {fill.price:.2f}")
        if max_fills is not None and len(fills) >= max_fills:
            engine.request_stop()

    def on_refused(event: OrderRejected | OrderDenied) -> None:
        print(f"refused {event.client_order_id}: {event.reason}")

    engine.subscribe(OrderSubmitted, on_submitted)
    engine.subscribe(OrderFilled, on_filled)
    engine.subscribe(OrderRejected, on_refused)
    engine.subscribe(OrderDenied, on_refused)


def main() -> None:
    parser = argparse.ArgumentParser(description="paper fills on the simulated gateway's live feed")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to trade (default 30)")
    parser.add_argument("--symbol", default="AAPL")
    parser.add_argument("--seed", type=int, default=42, help="seed of the simulated market")
    parser.add_argument("--max-fills", type=int, help="stop early after this many fills")
    args = parser.parse_args()

    clock = SystemClock()
    with SimulatedGateway(port=0, seed=args.seed, config=SimulatorConfig(tick_interval=0.05)) as gateway:
        print(f"simulated gateway at {gateway.base_url}")
        feed = IbkrBroker(
            IbkrConfig(base_url=gateway.base_url, ws_url=gateway.ws_url, ca_file=Path(gateway.ca_file),
                       maintenance_region="none"),  # the simulated gateway has no nightly reset
            clock=clock,
        )
        # the simulated market never closes (its default), so neither may the paper venue's: fills at any hour
        broker = PaperBroker(feed, clock, PaperConfig(starting_cash=Decimal(100_000), market_hours=MarketHours.ALWAYS))
        engine = Engine(broker, clock=clock, config=EngineConfig(stale_data_after=timedelta(seconds=15)))
        engine.add_strategy(SmaCross(SmaCrossConfig(symbol=args.symbol, fast=3, slow=8, quantity=Decimal(10),
                                                    bar_seconds=1)))
        show(engine, args.max_fills)
        engine.start()
        print(f"paper trading {args.symbol} on the simulated feed for up to {args.seconds:.0f} s")
        engine.run(duration=timedelta(seconds=args.seconds))
        gateway_orders = gateway.state()["orders"]

    portfolio = engine.portfolio
    orders = engine.orders.all()
    filled = sum(1 for o in orders if o.status is OrderStatus.FILLED)
    print(f"done: {len(orders)} orders, {filled} filled; cash {portfolio.cash:,.2f}, equity {portfolio.equity:,.2f}")
    print(f"orders the gateway received: {gateway_orders} (paper fills stay local)")


if __name__ == "__main__":
    main()
