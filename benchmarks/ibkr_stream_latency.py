"""IBKR adapter stream benchmark: frame -> strategy handler latency, and parse throughput.

Latency: the simulated gateway (in-process, real TLS websocket on loopback, market ticking every
``--tick`` seconds) streams AAPL quotes to an ``IbkrBroker`` driving a real ``Engine``. Each
websocket frame is stamped with ``time.perf_counter()`` when the adapter's connection returns it
(adapter receipt, not simulator send: the simulator does not stamp frames with a sub-ms clock);
the strategy's ``on_quote`` computes the time since that stamp. This covers decoding, parsing,
merging, the sink, the engine queue, the dispatcher wake-up, the bus and the handler call.

Throughput: documented ``smd`` and ``sor`` frames through the adapter's decode and its topic table
(wire model -> typed messages; for ``smd`` also the merge into a quote), no I/O, no engine, in a
tight loop.

Usage: ``.venv/bin/python benchmarks/ibkr_stream_latency.py [--seconds 5] [--tick 0.005]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

from brokers.ibkr import IbkrBroker
from brokers.ibkr import IbkrConfig
from brokers.ibkr.parsing import OrderUpdate
from brokers.ibkr.parsing import QuoteTick
from brokers.ibkr.parsing import merge_quote
from brokers.ibkr.stream import decode_frame
from brokers.ibkr.topics import parse_frame
from brokers.ibkr.wsconnect import WsConnection
from brokers.ibkr.wsconnect import connect_websocket
from framework.broker import EventSink
from framework.clock import SystemClock
from framework.config import EngineConfig
from framework.config import StrategyConfig
from framework.engine import Engine
from framework.events import AnyEvent
from framework.events import QuoteUpdated
from framework.marketdata import Quote
from framework.strategy import Strategy
from simulators.ibkr import SimulatedGateway
from simulators.ibkr import SimulatorConfig

SMD = {"topic": "smd+265598", "conid": 265598, "conidEx": "265598", "_updated": 1712596911593, "server_id": "q2",
       "6119": "q2", "6509": "RpB", "31": "189.60", "84": "189.56", "85": "500", "86": "189.61", "88": "1,200",
       "7059": "100"}
SOR = {"topic": "sor", "args": [
    {"acct": "DU1234", "orderId": 352055828, "sizeAndFills": "100/622", "remainingQuantity": 622.0,
     "filledQuantity": 100.0, "avgPrice": "382.45"},
    {"acct": "DU1234", "orderId": 352055828, "status": "Submitted", "bgColor": "#000000", "fgColor": "#00F000"}]}


class StampedConnection:
    """Wraps the real connection; remembers when the latest frame came off the socket."""

    def __init__(self, inner: WsConnection) -> None:
        self.inner = inner
        self.last_rx = 0.0

    def send(self, text: str) -> None:
        self.inner.send(text)

    def recv(self) -> str | bytes | None:
        data = self.inner.recv()
        if data is not None:
            self.last_rx = time.perf_counter()
        return data

    def close(self) -> None:
        self.inner.close()


class Probe(Strategy[StrategyConfig]):
    """Records handler-time minus frame-receipt time for every quote."""

    def __init__(self, stamps: dict[int, float]) -> None:
        super().__init__(strategy_id="probe")
        self.stamps = stamps
        self.latencies: list[float] = []

    def on_start(self) -> None:
        self.subscribe_quotes("AAPL")

    def on_quote(self, quote: Quote) -> None:
        received = self.stamps.pop(id(quote), None)
        if received is not None:
            self.latencies.append(time.perf_counter() - received)


def measure_latency(seconds: float, tick: float) -> list[float]:
    sim = SimulatorConfig(tick_interval=tick, pacing_enabled=False)
    with SimulatedGateway(port=0, seed=5, config=sim) as gw:
        connections: list[StampedConnection] = []
        config = IbkrConfig(base_url=gw.base_url, ws_url=gw.ws_url, ca_file=gw.ca_file, maintenance_region="none")

        def connect(url: str, **kw: Any) -> WsConnection:
            conn = StampedConnection(connect_websocket(url, config=config, **kw))
            connections.append(conn)
            return conn

        broker = IbkrBroker(config, clock=SystemClock(), ws_connect=connect)
        stamps: dict[int, float] = {}
        connect_broker = broker.connect

        def connect_stamping(sink: EventSink) -> None:
            # wrap whatever sink the engine hands the broker (its queue), so the hook does not depend
            # on the engine's internals
            def stamping_sink(event: AnyEvent) -> None:
                # runs on the stream thread while the frame is being handled: the newest stamp is its own
                if isinstance(event, QuoteUpdated) and connections:
                    stamps[id(event.quote)] = connections[-1].last_rx
                sink(event)

            connect_broker(stamping_sink)

        broker.connect = connect_stamping  # type: ignore[method-assign]
        engine = Engine(broker, clock=SystemClock(), config=EngineConfig())
        probe = Probe(stamps)
        engine.add_strategy(probe)
        engine.start()
        engine.run(duration=timedelta(seconds=seconds))
        return probe.latencies


def measure_throughput(count: int) -> dict[str, float]:
    smd_frames = [json.dumps(SMD | {"31": f"{189 + (i % 100) / 100:.2f}"}).encode() for i in range(1000)]
    sor_frames = [json.dumps(SOR).encode() for _ in range(1000)]
    ts = datetime(2024, 1, 2, tzinfo=UTC)
    results = {}
    start = time.perf_counter()
    quote = None
    for i in range(count):
        message = decode_frame(smd_frames[i % 1000])
        assert message is not None
        [tick] = parse_frame(message, ts)
        assert isinstance(tick, QuoteTick)
        quote = merge_quote(quote, "AAPL", ts, tick)
    results["smd"] = count / (time.perf_counter() - start)
    start = time.perf_counter()
    rows = 0
    for i in range(count):
        message = decode_frame(sor_frames[i % 1000])
        assert message is not None
        updates = parse_frame(message, ts)
        assert all(isinstance(u, OrderUpdate) for u in updates)
        rows += len(updates)
    results["sor"] = count / (time.perf_counter() - start)
    results["sor_rows"] = rows / count * results["sor"]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--tick", type=float, default=0.005, help="simulator market step in seconds")
    parser.add_argument("--messages", type=int, default=100_000)
    args = parser.parse_args()
    latencies = sorted(measure_latency(args.seconds, args.tick))
    if latencies:
        p50 = statistics.median(latencies) * 1e6
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1e6
        print(f"frame -> on_quote latency (adapter receipt stamp): n={len(latencies)} "
              f"p50={p50:.0f} us p99={p99:.0f} us max={latencies[-1] * 1e6:.0f} us")
    else:
        print("no quotes received")
    rates = measure_throughput(args.messages)
    print(f"parse throughput: smd {rates['smd']:,.0f} msg/s (decode+topic table+merge); "
          f"sor {rates['sor']:,.0f} frames/s = {rates['sor_rows']:,.0f} order rows/s (decode+topic table)")


if __name__ == "__main__":
    main()
