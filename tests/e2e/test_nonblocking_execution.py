"""While the gateway holds an order POST unanswered, nothing else waits: data, timers, cancels, the halt.

The real IBKR adapter and the simulated gateway (HTTPS and WSS on loopback), the engine's dispatcher on
its own thread as in live trading, a journal and a kill switch watching its flag file. The gateway's
``hold`` switch withholds the answer to one placement until the test releases it, so nothing here
sleeps to make a placement slow.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

from brokers.ibkr import IbkrBroker
from brokers.ibkr import IbkrConfig
from framework.clock import SystemClock
from framework.config import EngineConfig
from framework.engine import Engine
from framework.events import TimerFired
from framework.killswitch import KillSwitch
from framework.marketdata import Bar
from framework.marketdata import Quote
from framework.models import OrderRequest
from framework.models import OrderStatus
from framework.models import OrderType
from framework.models import Side
from framework.strategy import Strategy
from simulators.ibkr import SimulatedGateway
from simulators.ibkr import SimulatorConfig
from tradebus import cli
from tradebus.journal import SqliteJournal

ACCOUNT = "DU1234567"
PLACEMENT = f"/iserver/account/{ACCOUNT}/orders"
BOUND = 20.0  # seconds: a bound for a stuck adapter, never reached by a healthy one
CONFIRM = frozenset({"o163", "o354", "o403", "o10151", "o10152", "p12"})


class Listener(Strategy):
    """Counts what reaches it (quotes, one-second bars, a timer every 100 ms) and sends what it is asked.

    The test asks from its own thread; the strategy sends on its timer, on the dispatcher thread (the
    One Rule: only the dispatcher touches order state).
    """

    def on_start(self) -> None:
        self.seen: dict[str, int] = {"quote": 0, "bar": 0, "timer": 0}
        self.changed = threading.Condition()
        self.asks: deque[Callable[[], object]] = deque()
        self.subscribe_quotes("AAPL")
        self.subscribe_bars("AAPL", timedelta(seconds=1))
        self.every(timedelta(milliseconds=100), "tick")

    def ask(self, action: Callable[[], object]) -> None:
        """Run ``action`` on the dispatcher thread at the next timer."""
        self.asks.append(action)

    def _count(self, kind: str) -> None:
        with self.changed:
            self.seen[kind] += 1
            self.changed.notify_all()

    def on_quote(self, quote: Quote) -> None:
        self._count("quote")

    def on_bar(self, bar: Bar) -> None:
        self._count("bar")

    def on_timer(self, event: TimerFired) -> None:
        while self.asks:
            self.asks.popleft()()
        self._count("timer")

    def wait_for_more(self, kind: str) -> None:
        """Block until one more ``kind`` arrives (event-driven, bounded)."""
        with self.changed:
            before = self.seen[kind]
            assert self.changed.wait_for(lambda: self.seen[kind] > before, timeout=BOUND), f"no {kind} arrived"


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + BOUND
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)  # poll state another thread changes; the bound is what the test asserts


@pytest.fixture
def gateway() -> Iterator[SimulatedGateway]:
    config = SimulatorConfig(tick_interval=0.05, submit_latency=0.01, cancel_latency=0.01, seed=5)
    with SimulatedGateway(port=0, seed=5, config=config) as gw:
        yield gw


def limit(engine: Engine, price: Decimal) -> OrderRequest:
    return OrderRequest(client_order_id=engine.next_client_order_id(), instrument=engine.instrument("AAPL"),
                        side=Side.BUY, quantity=Decimal(5), order_type=OrderType.LIMIT, limit_price=price,
                        strategy_id="Listener")


def submit(listener: Listener, request: OrderRequest) -> None:
    listener.ask(lambda: listener.context.submit(request))


def status(engine: Engine, cid: str) -> OrderStatus | None:
    order = engine.orders.get(cid)
    return None if order is None else order.status


def place_foreign_order(gateway: SimulatedGateway, price: Decimal) -> str:
    """An order placed at the gateway by someone else (another program, a person): unknown to the run."""
    session = requests.Session()
    session.verify = str(gateway.ca_file)
    session.trust_env = False
    ticket: dict[str, Any] = {"conid": 265598, "orderType": "LMT", "side": "BUY", "tif": "GTC", "quantity": 3,
                              "price": float(price), "cOID": "foreign-1"}
    body = session.post(gateway.base_url + PLACEMENT, json={"orders": [ticket]}, timeout=10).json()
    while isinstance(body, list) and body and "id" in body[0] and "order_id" not in body[0]:
        body = session.post(gateway.base_url + f"/iserver/reply/{body[0]['id']}", json={"confirmed": True},
                            timeout=10).json()
    return str(body[0]["order_id"])


def test_a_held_placement_delays_nothing_and_the_halt_engages_within_a_second(
    gateway: SimulatedGateway, tmp_path: Path
) -> None:
    flag = tmp_path / "HALT"
    config = IbkrConfig(base_url=gateway.base_url, ws_url=gateway.ws_url, ca_file=gateway.ca_file,
                        auto_confirm_message_ids=CONFIRM)
    clock = SystemClock()
    journal = SqliteJournal(tmp_path / "journal.sqlite", synchronous="normal")
    engine = Engine(IbkrBroker(config, clock=clock), clock=clock, config=EngineConfig(), journal=journal)
    switch = KillSwitch(flag)
    engine.add_kill_switch(switch)
    listener = Listener()
    engine.add_strategy(listener)
    engine.start()
    engine.start_dispatcher()  # as in live trading: the dispatcher on its own thread
    switch.start()
    try:
        far = (Decimal(gateway.quote("AAPL")["last"]) * Decimal("0.8")).quantize(Decimal("0.01"))
        working = limit(engine, far)
        submit(listener, working)
        wait_until(lambda: status(engine, working.client_order_id) is OrderStatus.ACCEPTED, "the first order")
        foreign = place_foreign_order(gateway, far)

        gateway.hold(path=PLACEMENT, method="POST")
        held, behind = limit(engine, far), [limit(engine, far), limit(engine, far)]
        submit(listener, held)
        [entry] = gateway.wait_held()
        assert entry["coids"] == [held.client_order_id]
        for request in behind:
            submit(listener, request)  # queued behind the held one on the placement lane
        wait_until(lambda: all(status(engine, r.client_order_id) is OrderStatus.SUBMITTED for r in behind),
                   "the orders behind the held one")

        # the held POST delays nothing: quotes, bars and timers keep reaching the strategy
        for kind in ("quote", "bar", "timer"):
            listener.wait_for_more(kind)
        # and a cancel of an earlier working order still reaches the gateway
        listener.ask(lambda: listener.cancel(working.client_order_id))
        wait_until(lambda: status(engine, working.client_order_id) is OrderStatus.CANCELLED, "the cancel")

        before = gateway.state()["request_seq"]
        started = time.monotonic()
        assert cli.main(["halt", "--flag-file", str(flag), "--reason", "desk says stop"]) == 0
        assert switch.engaged.wait(timeout=1.0), "the halt did not engage within 1 s"
        engaged_after = time.monotonic() - started

        # the orders queued behind the held one were dropped, reported and journaled as never sent
        for request in behind:
            cid = request.client_order_id
            wait_until(lambda cid=cid: status(engine, cid) is OrderStatus.DENIED, "the dropped order")
            # the order book changes first, then the dispatcher journals it: wait for the journal too
            wait_until(lambda cid=cid: _journaled_status(journal, cid) is OrderStatus.DENIED, "the journal row")
            [row] = [o for o in journal.orders() if o.client_order_id == cid]
            assert (row.status, row.reason) == (OrderStatus.DENIED, "never sent: trading halted (desk says stop)")
        # every open order of the account is cancelled, the foreign one included
        wait_until(lambda: _venue_status(gateway, foreign) == "Cancelled", "the foreign order's cancel")

        gateway.release_held()
        # the held order resolves (IBKR did accept it) and, halted, is cancelled
        wait_until(lambda: status(engine, held.client_order_id) is OrderStatus.CANCELLED, "the held order")
        assert not [c for seq, c in gateway.state()["placement_arrivals"] if seq > before]
        assert {c for _, c in gateway.state()["placement_arrivals"]} == {working.client_order_id,
                                                                         held.client_order_id, "foreign-1"}
    finally:
        switch.stop()
        engine.stop()
        journal.close()
    assert engaged_after < 1.0


def _venue_status(gateway: SimulatedGateway, order_id: str) -> str:
    order = gateway.core.trading.orders.get(int(order_id))
    return "" if order is None else str(order.status)


def _journaled_status(journal: SqliteJournal, client_order_id: str) -> OrderStatus | None:
    rows = [o for o in journal.orders() if o.client_order_id == client_order_id]
    return rows[0].status if rows else None
