"""Event bus and engine throughput (run by hand: ``python benchmarks/bus_throughput.py``).

Reports events/s for:
1. publishing one event type to 1 and to 10 subscribers (the bus alone);
2. quote -> strategy -> order request through the engine: each QuoteUpdated is queued, dispatched by
   the engine to a strategy whose ``on_quote`` submits a limit order (ticket validated, tracked in the
   order book, OrderSubmitted queued and delivered, request handed to a broker that records it).
Also compares building a pydantic bar with the validated-tuple Bar the framework uses.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import timedelta

from pydantic import AwareDatetime
from pydantic import BaseModel
from pydantic import ConfigDict

from framework.bus import EventBus
from framework.config import EngineConfig
from framework.engine import Engine
from framework.events import QuoteUpdated
from framework.marketdata import Bar
from framework.marketdata import Quote
from framework.strategy import Strategy
from framework.testing import DEFAULT_START
from framework.testing import FakeClock
from framework.testing import ScriptedBroker


def rate(n: int, fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return n / (time.perf_counter() - start)


def bench_publish(n: int, subscribers: int) -> float:
    bus = EventBus()
    sink: list[object] = []
    for _ in range(subscribers):
        bus.subscribe(QuoteUpdated, sink.append, sender="AAPL")
    event = QuoteUpdated(DEFAULT_START, Quote("AAPL", DEFAULT_START, bid=1.0, ask=1.1))

    def run() -> None:
        publish = bus.publish
        for _ in range(n):
            publish(event, "AAPL")
        sink.clear()

    return rate(n, run)


class QuoteToOrder(Strategy):
    def on_start(self) -> None:
        self.subscribe_quotes("AAPL")

    def on_quote(self, quote: Quote) -> None:
        self.buy("AAPL", 1, limit_price=quote.bid)


def bench_engine(n: int) -> float:
    clock = FakeClock()
    broker = ScriptedBroker(clock, auto_accept=False, auto_fill=False)
    engine = Engine(broker, clock=clock, config=EngineConfig(order_id_prefix="B"))
    engine.add_strategy(QuoteToOrder())
    engine.start()
    quotes = [QuoteUpdated(DEFAULT_START, Quote("AAPL", DEFAULT_START, bid=100.0, ask=100.1)) for _ in range(n)]

    def run() -> None:
        for q in quotes:
            engine.enqueue(q)
            engine.run_pending()

    result = rate(n, run)
    assert len(broker.submitted) == n, "every quote must have produced one order request"
    engine.stop()
    return result


class PydanticBar(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    symbol: str
    start: AwareDatetime
    duration: timedelta
    open: float
    high: float
    low: float
    close: float
    volume: float


def bench_bar_construction(n: int) -> tuple[float, float]:
    d = timedelta(minutes=1)

    def tuple_bars() -> None:
        for _ in range(n):
            Bar("A", DEFAULT_START, d, 1.0, 2.0, 0.5, 1.5, 100.0)

    def pydantic_bars() -> None:
        for _ in range(n):
            PydanticBar(symbol="A", start=DEFAULT_START, duration=d, open=1.0, high=2.0, low=0.5, close=1.5, volume=1.0)

    return rate(n, tuple_bars), rate(n, pydantic_bars)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200_000, help="events per measurement")
    args = parser.parse_args()
    n = args.n
    print(f"publish, 1 subscriber:    {bench_publish(n, 1):>12,.0f} events/s")
    print(f"publish, 10 subscribers:  {bench_publish(n, 10):>12,.0f} events/s (each delivered 10 times)")
    print(f"quote -> strategy -> order request via engine: {bench_engine(n // 4):>12,.0f} quotes/s")
    tuples, models = bench_bar_construction(n)
    print(f"Bar construction: validated tuple {tuples:,.0f}/s, pydantic model {models:,.0f}/s")


if __name__ == "__main__":
    main()
