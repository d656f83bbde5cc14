"""The process the crash test kills: a real engine, IBKR adapter and SQLite journal.

:func:`trade` walks one order lifecycle against a running simulated gateway (market buy, two resting
limits, a cancel, a market sell, a bracket), each step waiting for the gateway's answer before the next. Every
journal write and every HTTP request is a *crash point*: before and after each one the process
counts, and at the ``kill_at``-th point it sends itself SIGKILL, so a seed names an exact place in
the lifecycle (intent on disk but not sent, sent but unanswered, filled but not journaled, ...).
:func:`recover` is the restarted process: the same wiring, no crash points, no new orders.

Every order placement is appended to ``placements`` (one client order id per line) *before* it is
sent, with a plain ``os.write`` on an ``O_APPEND`` descriptor, which survives SIGKILL; the test
reads it to prove no intent is ever sent twice.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests

from brokers.ibkr import IbkrBroker
from brokers.ibkr import IbkrConfig
from framework.clock import SystemClock
from framework.config import EngineConfig
from framework.engine import Engine
from framework.events import OrderEvent
from framework.models import Order
from framework.models import OrderRequest
from framework.models import OrderStatus
from framework.models import OrderType
from framework.models import Side
from framework.models import TimeInForce
from tradebus.journal import SqliteJournal

CONFIRMS = frozenset({"o163", "o354", "o403", "o10331"})
DEADLINE = 60.0  # seconds for one step (generous for a loaded 2-core machine); a healthy run needs milliseconds
SYMBOL = "AAPL"


@dataclass(frozen=True)
class Target:
    """Where the child finds the gateway and its own files.

    Attributes:
        base_url: Gateway REST root.
        ws_url: Gateway websocket URL.
        ca_file: The gateway's CA (TLS is verified).
        journal: The SQLite journal file.
        placements: Append-only log of client order ids sent for placement.
        last: The gateway's last price when the run started (for far limit prices).
    """

    base_url: str
    ws_url: str
    ca_file: str
    journal: str
    placements: str
    last: str


class CrashPoints:
    """Counts crash points and kills this process at the chosen one (0: never)."""

    def __init__(self, kill_at: int) -> None:
        self.kill_at = kill_at
        self.count = 0

    def hit(self) -> None:
        """Pass one crash point."""
        self.count += 1
        if self.count == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)


class CrashingJournal(SqliteJournal):
    """A journal with a crash point before and after every write."""

    def __init__(self, path: Path, points: CrashPoints) -> None:
        super().__init__(path)
        self._points = points

    def record_intent(self, order: Order, run_id: str) -> None:
        self._points.hit()
        super().record_intent(order, run_id)
        self._points.hit()

    def record_event(self, event: OrderEvent, order: Order) -> bool:
        self._points.hit()
        stored = super().record_event(event, order)
        self._points.hit()
        return stored


class RecordingSession(requests.Session):
    """An HTTP session that logs placements before sending and has crash points around each request."""

    def __init__(self, placements: str, points: CrashPoints | None) -> None:
        super().__init__()
        self._fd = os.open(placements, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._points = points

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if request.method == "POST" and (request.url or "").endswith("/orders") and request.body:
            body = request.body if isinstance(request.body, bytes) else str(request.body).encode()
            tickets = json.loads(body).get("orders", [])
            os.write(self._fd, "".join(f"{t['cOID']}\n" for t in tickets).encode())
        if self._points is not None:
            self._points.hit()
        response = super().send(request, **kwargs)
        if self._points is not None:
            self._points.hit()
        return response


def _engine(target: Target, points: CrashPoints | None) -> Engine:
    config = IbkrConfig(base_url=target.base_url, ws_url=target.ws_url, ca_file=Path(target.ca_file),
                        auto_confirm_message_ids=CONFIRMS, pacing=False, order_lookup_window=0.5,
                        reconnect_initial=0.1, reconnect_max=0.5,
                        maintenance_region="none")  # the simulated gateway has no nightly reset: any hour goes
    clock = SystemClock()
    broker = IbkrBroker(config, clock=clock, session=RecordingSession(target.placements, points))
    path = Path(target.journal)
    journal = CrashingJournal(path, points) if points is not None else SqliteJournal(path)
    return Engine(broker, clock=clock, journal=journal, config=EngineConfig())


def _pump(engine: Engine, until: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE
    while True:
        engine.run_pending()
        if until():
            return
        if time.monotonic() > deadline:
            msg = "step did not finish in time"
            raise TimeoutError(msg)
        time.sleep(0.002)


def _status(engine: Engine, cid: str) -> OrderStatus:
    order = engine.orders.get(cid)
    assert order is not None
    return order.status


def trade(target: Target, kill_at: int) -> None:
    """Run the order lifecycle, dying at crash point ``kill_at`` (0: run to the end).

    A run that reaches the end writes how many crash points it passed to ``<journal>.points``.
    """
    points = CrashPoints(kill_at)
    engine = _engine(target, points)
    engine.start()
    instrument = engine.instrument(SYMBOL)
    last = Decimal(target.last)

    def order(side: Side, quantity: int, price: Decimal | None = None, **ticket: Any) -> str:
        cid = engine.next_client_order_id()
        kind = ticket.pop("order_type", OrderType.MARKET if price is None else OrderType.LIMIT)
        engine.submit_order(OrderRequest(client_order_id=cid, strategy_id="crash", instrument=instrument, side=side,
                                         quantity=Decimal(quantity), order_type=kind, limit_price=price, **ticket))
        return cid

    def far(factor: str) -> Decimal:
        return (last * Decimal(factor)).quantize(Decimal("0.01"))

    def settled(cid: str, *states: OrderStatus) -> Callable[[], bool]:
        return lambda: _status(engine, cid) in states

    bought = order(Side.BUY, 100)
    _pump(engine, settled(bought, OrderStatus.FILLED))
    high = order(Side.SELL, 100, far("1.2"))
    low = order(Side.BUY, 50, far("0.8"))
    _pump(engine, lambda: settled(high, OrderStatus.ACCEPTED)() and settled(low, OrderStatus.ACCEPTED)())
    engine.cancel_order(high)
    _pump(engine, settled(high, OrderStatus.CANCELLED))
    sold = order(Side.SELL, 40)
    _pump(engine, settled(sold, OrderStatus.FILLED))
    entry = order(Side.BUY, 10)  # a bracket: its children go out only once the entry has filled
    gtc = {"parent_id": entry, "oca_group": f"oca-{entry}", "time_in_force": TimeInForce.GTC}
    profit = order(Side.SELL, 10, far("1.2"), **gtc)
    stop = order(Side.SELL, 10, None, order_type=OrderType.STOP, stop_price=far("0.7"), **gtc)
    _pump(engine, lambda: settled(profit, OrderStatus.ACCEPTED)() and settled(stop, OrderStatus.ACCEPTED)())
    engine.stop()
    Path(target.journal + ".points").write_text(str(points.count), encoding="utf-8")


def recover(target: Target) -> None:
    """Restart: recover from the journal, wait until no order's outcome is unknown, stop."""
    engine = _engine(target, None)
    engine.start()  # recovery runs here, before anything could trade
    _pump(engine, lambda: not any(o.broker_order_id is None for o in engine.orders.open()))
    engine.stop()
