"""R25: backtest/paper parity on a recorded tape.

Scenario (reliability table, R25): the same strategy and the same recorded market tape go through the
backtest engine and through the paper venue fed the tape as live data. Pass criterion: identical
order and fill sequences, ids aside, for 10 seeds.

How it is measured, per seed:

* The tape: a seeded random walk of 1-minute bars for two symbols over the last 90 minutes of one
  New York session and the first 90 of the next (so DAY orders expire at a close), written to a bar
  file in ``tmp_path``.
* The backtest: the runner of ``run_backtest`` / ``tradebus backtest`` over that file (``load_bars``).
* Paper: the run ``tradebus paper`` assembles (``assemble`` + ``run_session``: journal, event log,
  the dispatcher on its own thread), with the ``paper`` plug-in's venue over a live-style market-data
  source that plays the same file on a stream thread of its own. Like a live broker's bars, each
  bar time arrives a seeded 0-3 s after the bars' end, and the source sets the run's clock (the
  paper run's wall clock, which here follows the tape) to that arrival time. The source waits for
  the engine to finish with a bar time before the next one (a strategy faster than its feed). A
  second test runs paper on the real wall clock, as ``tradebus paper`` does, for two seeds.
* The strategy places market, limit, stop, stop-limit, trailing-stop and IOC orders, DAY and GTC,
  modifies and cancels some, and protects fills with stops, from a generator seeded alike in both
  runs; the venue's costs, partial fills (``volume_share``) and latency vary with the seed.
* Compared, with every id replaced by the order's index: each order's ticket (symbol, side,
  quantity, type, prices, time in force), final status, filled quantity and average price; each
  fill (side, quantity, price, commission, time); the sequence of order events with their reasons;
  and the time of every event the market caused (fills, expiries, IOC cancels, acknowledgements
  after the latency), which the venue stamps in market time. Answers to commands (an order
  acknowledged at once, a cancel by request) and the engine's own events carry the run's clock,
  which in paper trails the data by the feed's delay: their place in the sequence is compared.

Before the fix (the venue measured an order's arrival on the clock) every seed failed: an order
placed on a bar that reached the paper venue late arrived after the next bar had started and filled
a bar later than in the backtest (on the real wall clock, never). The convention is in
``docs/backtesting.md``, "Backtest and paper parity". The seed is in the test id; a failure names
the first differing record.
"""

from __future__ import annotations

import csv
import heapq
import itertools
import random
import threading
from collections.abc import Iterator
from collections.abc import Sequence
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from decimal import Decimal
from operator import itemgetter
from pathlib import Path
from typing import Any
from typing import NamedTuple

import pytest

from brokers.paper.config import PaperConfig
from brokers.paper.plugin import PLUGIN as PAPER
from framework.broker import ConnectionState
from framework.broker import EventSink
from framework.clock import Clock
from framework.clock import SimulatedClock
from framework.clock import SystemClock
from framework.config import StrategyConfig
from framework.engine import Engine
from framework.events import ORDER_EVENTS
from framework.events import BarClosed
from framework.events import OrderAccepted
from framework.events import OrderCancelled
from framework.events import OrderEvent
from framework.events import OrderExpired
from framework.events import OrderFilled
from framework.events import OrderPartiallyFilled
from framework.events import OrderUpdated
from framework.history import BarData
from framework.marketdata import Bar
from framework.models import Fill
from framework.models import Instrument
from framework.models import Order
from framework.models import OrderType
from framework.models import SecurityType
from framework.models import Side
from framework.models import TimeInForce
from framework.strategy import Strategy
from framework.testing import EventRecorder
from tradebus.assembly import assemble
from tradebus.assembly import run_session
from tradebus.backtest import BacktestRunner
from tradebus.data import load_bars
from tradebus.journal import SqliteJournal

SEEDS = range(10)
SYMBOLS = ("AAPL", "MSFT")
MINUTE = timedelta(minutes=1)
SESSIONS = (datetime(2024, 1, 2, 19, 30, tzinfo=UTC), datetime(2024, 1, 3, 14, 30, tzinfo=UTC))
BARS_PER_SESSION = 90
CENT = Decimal("0.01")


# ----------------------------------------------------------------- the tape

def record_tape(seed: int, path: Path) -> Path:
    """Write a seeded random walk of 1-minute bars (the bar file format) and return its path."""
    rng = random.Random(seed)
    rows = []
    for symbol, first_price in zip(SYMBOLS, (185.0, 370.0), strict=True):
        price = first_price
        for session in SESSIONS:
            for i in range(BARS_PER_SESSION):
                open_ = price
                steps = [open_ * (1 + rng.gauss(0, 0.0015)) for _ in range(4)]
                close = steps[-1]
                high = max(open_, *steps) + rng.random() * 0.05
                low = min(open_, *steps) - rng.random() * 0.05
                start = session + i * MINUTE
                rows.append((start, symbol, open_, high, low, close, rng.randrange(200, 5000)))
                price = close
    rows.sort(key=itemgetter(0, 1))
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["timestamp", "symbol", "open", "high", "low", "close", "volume"])
        for start, symbol, *prices, volume in rows:
            writer.writerow([start.strftime("%Y-%m-%dT%H:%M:%SZ"), symbol, *(f"{p:.2f}" for p in prices), volume])
    return path


def venue_settings(seed: int) -> dict[str, Any]:
    """The paper venue's settings (``[brokers.paper]``) for a seed: costs, partial fills and latency vary."""
    rng = random.Random(seed * 7919)
    commission = rng.choice([{"kind": "per_share"}, {"kind": "percent", "percent": "0.05"}, {"kind": "none"}])
    slippage = rng.choice([{"kind": "none"}, {"kind": "ticks", "ticks": 1}, {"kind": "bps", "bps": 3}])
    return {
        "starting_cash": "1000000",
        "commission": commission,
        "slippage": slippage,
        "volume_share": rng.choice([None, 0.05]),
        "latency": rng.choice([0, 0, 45, 90]),
    }


# ----------------------------------------------------------------- the strategy

class ParityConfig(StrategyConfig):
    seed: int = 0


class ParityTrader(Strategy[ParityConfig]):
    """Trades every kind of order the paper venue simulates, as a seeded generator decides."""

    config_type = ParityConfig

    def on_start(self) -> None:
        self.rng = random.Random(self.config.seed)
        for symbol in SYMBOLS:
            self.subscribe_bars(symbol)

    def on_bar(self, bar: Bar) -> None:
        rng = self.rng
        close = Decimal(f"{bar.close:.2f}")
        symbol = bar.symbol
        held = self.position(symbol).quantity
        side = Side.SELL if held > 600 else Side.BUY if held < -600 else rng.choice((Side.BUY, Side.SELL))
        sign = 1 if side is Side.BUY else -1
        quantity = rng.choice((10, 40, 100, 250))
        away = CENT * rng.randint(5, 60)
        tif = rng.choice((TimeInForce.DAY, TimeInForce.GTC))
        roll = rng.random()
        mine = [o for o in self.open_orders() if o.request.symbol == symbol]
        if roll < 0.15:
            self.submit(side, symbol, quantity)
        elif roll < 0.35:
            self.submit(side, symbol, quantity, order_type=OrderType.LIMIT, limit_price=close - sign * away,
                        time_in_force=tif)
        elif roll < 0.47:
            self.submit(side, symbol, quantity, order_type=OrderType.STOP, stop_price=close + sign * away,
                        time_in_force=tif)
        elif roll < 0.52:
            stop = close + sign * away
            self.submit(side, symbol, quantity, order_type=OrderType.STOP_LIMIT, stop_price=stop,
                        limit_price=stop + sign * CENT * rng.randint(-5, 10), time_in_force=tif)
        elif roll < 0.55:
            self.submit(side, symbol, quantity, order_type=OrderType.LIMIT, limit_price=close + sign * CENT * 3,
                        time_in_force=TimeInForce.IOC)
        elif roll < 0.58:
            self.trailing_stop(side, symbol, quantity, trail_amount=away)
        elif roll < 0.75 and mine:
            self.cancel(rng.choice(mine).client_order_id)
        elif roll < 0.82 and mine:
            self._modify(rng.choice(mine), rng)

    def _modify(self, order: Order, rng: random.Random) -> None:
        request = order.request
        nudge = CENT * rng.randint(-20, 20)
        if request.order_type is OrderType.LIMIT and request.limit_price is not None:
            self.modify(order.client_order_id, limit_price=max(request.limit_price + nudge, CENT))
        elif request.order_type is OrderType.STOP and request.stop_price is not None:
            self.modify(order.client_order_id, stop_price=max(request.stop_price + nudge, CENT))
        else:
            self.modify(order.client_order_id, quantity=request.quantity + 10)

    def on_order_filled(self, event: OrderFilled) -> None:
        fill = event.fill
        order = self.order(event.client_order_id)
        if order is None or order.request.order_type is not OrderType.MARKET or self.rng.random() < 0.5:
            return
        sign = -1 if fill.side is Side.BUY else 1
        stop = fill.price + sign * CENT * self.rng.randint(10, 80)
        exit_side = Side.SELL if fill.side is Side.BUY else Side.BUY
        self.submit(exit_side, fill.symbol, fill.quantity, order_type=OrderType.STOP, stop_price=max(stop, CENT),
                    time_in_force=TimeInForce.GTC)


# ----------------------------------------------------------------- the live feed

class TapeTurn(NamedTuple):
    """The feed's marker after a bar time: dispatched once the engine has dispatched what came before."""

    ts: datetime
    number: int


class TapeFeed:
    """A live broker's market data, played from a recorded bar file on a stream thread of its own.

    Each bar time arrives ``delays[i]`` after the bars' end: the feed moves the run's clock (the paper
    run's wall clock; None: the run is on the real wall clock) to that arrival time and hands the
    subscribed bars ending then, in symbol order, to its sink (the paper venue). Before the next bar
    time it waits until the engine has dispatched everything that followed: it sends a
    :class:`TapeTurn` after the bars, and the turn, once dispatched, goes round the queue again
    until nothing is queued behind it.
    """

    name = "tape"

    def __init__(self, data: BarData, clock: SimulatedClock | None, delays: Sequence[timedelta]) -> None:
        self.data = data
        self.clock = clock
        self.delays = delays
        self.subscribed: set[tuple[str, timedelta]] = set()
        self.error: BaseException | None = None
        self.finished = False
        self._engine: Engine | None = None
        self._sink: EventSink | None = None
        self._turn = threading.Condition()
        self._dispatched = 0

    @property
    def connection_state(self) -> ConnectionState:
        return ConnectionState.CONNECTED if self._sink is not None else ConnectionState.DISCONNECTED

    def connect(self, sink: EventSink) -> None:
        self._sink = sink

    def disconnect(self) -> None:
        self._sink = None

    def play(self, engine: Engine) -> None:
        """Start the stream thread (once the strategies subscribed: the ``started`` hook of a session)."""
        self._engine = engine
        engine.bus.subscribe(TapeTurn, self._on_turn)
        threading.Thread(target=self._stream, name="tape-stream", daemon=True).start()

    def _on_turn(self, turn: TapeTurn) -> None:  # on the dispatcher thread
        assert self._engine is not None
        if self._engine.dispatcher.queued:
            self._engine.enqueue(turn)  # events the bars caused are still queued: go round again
            return
        with self._turn:
            self._dispatched = turn.number
            self._turn.notify_all()

    def _stream(self) -> None:
        number = 0
        try:
            for i, (end, events) in enumerate(self._bar_times()):
                if self.clock is not None:
                    self.clock.set(end + self.delays[i])
                number += 1
                self._deliver([*events, TapeTurn(end, number)])
                with self._turn:
                    if not self._turn.wait_for(lambda n=number: self._dispatched >= n, timeout=60):
                        msg = f"the engine did not dispatch bar time {end.isoformat()} within 60 s"
                        raise TimeoutError(msg)
        except BaseException as e:  # noqa: BLE001 - reported by the test, not lost on this thread
            self.error = e
        self.finished = True
        self._deliver([TapeTurn(datetime.now(UTC), number + 1)])  # wakes the dispatcher to see it

    def _deliver(self, events: list[Any]) -> None:
        sink = self._sink
        assert sink is not None
        for event in events:
            sink(event)

    def _bar_times(self) -> Iterator[tuple[datetime, list[BarClosed]]]:
        streams = [series.events() for series in self.data.values()]
        for end, group in itertools.groupby(heapq.merge(*streams, key=itemgetter(0)), key=itemgetter(0)):
            wanted = [e for e in group if (e.bar.symbol, e.bar.duration) in self.subscribed]
            if wanted:
                yield end, wanted

    # MarketData: what a live broker answers
    def resolve_instrument(self, symbol: str, security_type: SecurityType = SecurityType.STOCK) -> Instrument:
        return Instrument(symbol=symbol, security_type=security_type)

    def search_instruments(self, text: str) -> Sequence[Instrument]:
        return [self.resolve_instrument(s) for s in self.data if s.startswith(text.upper())]

    def subscribe_quotes(self, instrument: Instrument) -> None:
        raise NotImplementedError

    def unsubscribe_quotes(self, instrument: Instrument) -> None:
        raise NotImplementedError

    def subscribe_bars(self, instrument: Instrument, duration: timedelta) -> None:
        self.subscribed.add((instrument.symbol, duration))

    def unsubscribe_bars(self, instrument: Instrument, duration: timedelta) -> None:
        self.subscribed.discard((instrument.symbol, duration))

    def historical_bars(self, instrument: Instrument, duration: timedelta, start: datetime,
                        end: datetime) -> Sequence[Bar]:
        return []


# ----------------------------------------------------------------- the comparison

Record = tuple[Any, ...]


def market_stamped(event: OrderEvent, latency: int) -> bool:
    """Whether the venue stamps ``event`` with market time (the rest carry the run's clock)."""
    if isinstance(event, OrderFilled | OrderPartiallyFilled | OrderExpired):
        return True
    if isinstance(event, OrderCancelled):
        return event.reason != "cancelled by request"
    return isinstance(event, OrderAccepted) and latency > 0  # acknowledged by a market event after the latency


def normalise(orders: Sequence[Order], fills: Sequence[Fill], events: Sequence[OrderEvent],
              latency: int) -> dict[str, list[Record]]:
    """What R25 compares, with every client order id replaced by the order's index."""
    index = {o.client_order_id: f"#{i}" for i, o in enumerate(orders)}

    def ids(text: str) -> str:
        for cid, number in index.items():
            text = text.replace(cid, number)
        return text

    order_rows = [
        (r.symbol, r.side, r.quantity, r.order_type, r.limit_price, r.stop_price, r.trail_amount, r.time_in_force,
         ids(r.parent_id or ""), o.status, o.filled_quantity, o.average_fill_price)
        for o in orders for r in [o.request]
    ]
    fill_rows = [(index[f.client_order_id], f.symbol, f.side, f.quantity, f.price, f.commission, f.ts)
                 for f in fills]
    event_rows = []
    for e in events:
        detail = ids(str(getattr(e, "reason", "")))
        if isinstance(e, OrderUpdated):
            detail = f"{e.request.quantity} {e.request.limit_price} {e.request.stop_price}"
        stamp = e.ts if market_stamped(e, latency) else None
        event_rows.append((type(e).__name__, index[e.client_order_id], stamp, detail))
    return {"orders": order_rows, "fills": fill_rows, "events": event_rows}


def first_difference(backtest: list[Record], paper: list[Record]) -> str:
    for i, (a, b) in enumerate(zip(backtest, paper, strict=False)):
        if a != b:
            return f"record {i}: backtest {a} != paper {b}"
    return f"lengths differ: backtest {len(backtest)}, paper {len(paper)}"


def backtest_run(tape: Path, seed: int) -> dict[str, list[Record]]:
    config = PaperConfig.model_validate(venue_settings(seed))
    runner = BacktestRunner(ParityTrader(ParityConfig(seed=seed)), load_bars(tape), config)
    recorder = EventRecorder(runner.engine.bus, ORDER_EVENTS)
    result = runner.run()
    assert not result.partial, result.outcome
    return normalise(result.orders, result.fills, list(recorder.events), config.latency.seconds)


def paper_run(tape: Path, seed: int, journal: Path, *, wall_clock: bool = False) -> dict[str, list[Record]]:
    data = load_bars(tape)
    first = min(datetime.fromtimestamp(s.starts[0], UTC) for s in data.values())
    clock: Clock = SystemClock() if wall_clock else SimulatedClock(first)
    rng = random.Random(seed * 104729)
    delays = [timedelta(milliseconds=rng.choice((0, rng.randrange(1, 3000)))) for _ in range(data.bar_count)]
    feed = TapeFeed(data, clock if isinstance(clock, SimulatedClock) else None, delays)
    broker = PAPER.create(venue_settings(seed), clock=clock, data=feed)
    run = assemble(broker, clock, [ParityTrader(ParityConfig(seed=seed))], journal=SqliteJournal(journal))
    recorder = EventRecorder(run.engine.bus, ORDER_EVENTS)
    result = run_session(run, until=lambda: feed.finished, view=None, started=feed.play)
    assert feed.error is None, feed.error
    assert result.outcome.stop_reason is None, result.outcome
    return normalise(result.orders, result.fills, list(recorder.events), venue_settings(seed)["latency"])


def assert_same(backtest: dict[str, list[Record]], paper: dict[str, list[Record]], seed: int) -> None:
    assert len(backtest["fills"]) > 20, "the tape and strategy must trade"
    kinds = {row[3] for row in backtest["orders"]}
    assert {OrderType.MARKET, OrderType.LIMIT, OrderType.STOP, OrderType.STOP_LIMIT} <= kinds
    for part in ("orders", "fills", "events"):
        assert backtest[part] == paper[part], f"seed {seed}, {part} differ: " + first_difference(
            backtest[part], paper[part])


@pytest.mark.parametrize("seed", SEEDS)
def test_r25_backtest_and_paper_give_identical_orders_and_fills_on_a_recorded_tape(
        seed: int, tmp_path: Path) -> None:
    """R25: backtest and paper, same strategy and tape: identical orders, fills and order events (ids aside)."""
    tape = record_tape(seed, tmp_path / "tape.csv")
    assert_same(backtest_run(tape, seed), paper_run(tape, seed, tmp_path / "paper.sqlite"), seed)


@pytest.mark.parametrize("seed", [3, 8])
def test_r25_parity_holds_when_the_paper_run_is_on_the_real_wall_clock(seed: int, tmp_path: Path) -> None:
    """R25 on the clock ``tradebus paper`` uses: the tape's times are long past, the venue follows the data."""
    tape = record_tape(seed, tmp_path / "tape.csv")
    assert_same(backtest_run(tape, seed), paper_run(tape, seed, tmp_path / "paper.sqlite", wall_clock=True), seed)
