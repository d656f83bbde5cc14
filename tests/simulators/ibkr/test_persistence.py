"""Books kept across a gateway restart: the state file, its loader, and a SIGKILLed child process.

IBKR keeps orders, executions and positions on its servers, so a restarted gateway still knows
them. With a state file the simulator does the same: working orders resume and can fill or be
cancelled, ids continue, a used ``cOID`` is still refused, cash and positions are rebuilt from the
executions, and prices continue from the last saved quotes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests

from framework.clock import SimulatedClock
from simulators.ibkr import GatewayProcess
from simulators.ibkr import SimulatorConfig
from simulators.ibkr.core import GatewayCore
from simulators.ibkr.orders import OrderStatus
from simulators.ibkr.orders import parse_ticket
from simulators.ibkr.persistence import BookStore
from simulators.ibkr.persistence import load

ACCOUNT = "DU1234567"
AAPL = 265598
MSFT = 272093
DEADLINE = 20.0  # seconds; a bound for a stuck child, never reached by a healthy one
CONFIG = SimulatorConfig(market_mode="manual", pacing_enabled=False, seed=3, partial_fills=False)


def ticket(coid: str, side: str = "BUY", order_type: str = "MKT", quantity: int = 10, **extra: Any) -> dict[str, Any]:
    return {"conid": AAPL, "orderType": order_type, "side": side, "tif": "DAY", "quantity": quantity, "cOID": coid,
            **extra}


def new_core(path: Path, clock: SimulatedClock) -> GatewayCore:
    return GatewayCore(CONFIG, clock, store=BookStore(path), saved=load(path))


def place(core: GatewayCore, *tickets: dict[str, Any]) -> list[int]:
    acks = core.trading.submit(ACCOUNT, [parse_ticket(t) for t in tickets], core.session.scope.epoch)
    return [int(a["order_id"]) for a in acks]


def settle(core: GatewayCore, clock: SimulatedClock, seconds: float = 1.0) -> None:
    """Move the clock past the status latencies and run what became due."""
    clock.advance(timedelta(seconds=seconds))
    core.pump()


def books(core: GatewayCore) -> tuple[Any, ...]:
    orders = {i: (str(o.status), o.filled, o.avg_price, o.ticket.client_order_id)
              for i, o in core.trading.orders.items()}
    executions = [(e.execution_id, e.size, e.price, e.commission) for e in core.ledger.executions]
    positions = {c: (p.quantity, p.avg_cost) for c, p in core.ledger.positions.items()}
    return orders, executions, positions, core.ledger.cash, core.ledger.commissions


def test_a_restarted_core_has_the_same_books_and_working_orders_resume(tmp_path: Path) -> None:
    path = tmp_path / "books.jsonl"
    clock = SimulatedClock(datetime(2024, 1, 2, 14, 30, tzinfo=UTC))
    first = new_core(path, clock)
    last = first.market.quote(AAPL)
    assert last is not None
    below = str((last.bid - Decimal(5)).quantize(Decimal("0.01")))
    bought, resting, cancelled = place(first, ticket("a-1"), ticket("a-2", order_type="LMT", price=below),
                                       ticket("a-3", order_type="LMT", price=below))
    settle(first, clock)
    first.trading.cancel(first.trading.orders[cancelled])  # PendingCancel: the process dies before it completes
    first.step_market(3)
    before = books(first)
    assert first.trading.orders[bought].status is OrderStatus.FILLED
    assert first.trading.orders[cancelled].status is OrderStatus.PENDING_CANCEL
    prices = {q.conid: (q.bid, q.ask, q.last) for q in first.market.quotes()}
    first.store.close()  # type: ignore[union-attr]  # the process is gone: nothing more is written

    second = new_core(path, clock)
    assert books(second) == before
    assert {q.conid: (q.bid, q.ask, q.last) for q in second.market.quotes()} == prices
    assert second.trading.duplicate_coid([parse_ticket(ticket("a-2"))]) == "a-2"  # still refused
    settle(second, clock)
    assert second.trading.orders[cancelled].status is OrderStatus.CANCELLED  # the pending cancel completed
    assert second.trading.orders[resting].status is OrderStatus.SUBMITTED
    second.market.set_quote(AAPL, ask=Decimal(below), bid=Decimal(below) - Decimal("0.01"))
    second.market_changed([AAPL])  # the resting limit becomes marketable and fills after the restart
    assert second.trading.orders[resting].status is OrderStatus.FILLED
    [new] = place(second, ticket("a-4"))
    assert new > max(before[0])  # ids continue after the saved ones
    assert len({e.execution_id for e in second.ledger.executions}) == len(second.ledger.executions)
    assert second.ledger.positions[AAPL].quantity == Decimal(20)


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "books.jsonl"
    clock = SimulatedClock(datetime(2024, 1, 2, 14, 30, tzinfo=UTC))
    core = new_core(path, clock)
    place(core, ticket("t-1"))
    settle(core, clock)
    core.store.close()  # type: ignore[union-attr]
    with path.open("a", encoding="utf-8") as f:
        f.write('{"k":"execution","execution_id":"00')  # killed mid-write
    saved = load(path)
    assert [o.ticket.client_order_id for o in saved.orders.values()] == ["t-1"]
    assert len(saved.executions) == 1


def test_reset_forgets_the_saved_books(tmp_path: Path) -> None:
    path = tmp_path / "books.jsonl"
    clock = SimulatedClock(datetime(2024, 1, 2, 14, 30, tzinfo=UTC))
    core = new_core(path, clock)
    place(core, ticket("r-1"))
    settle(core, clock)
    core.reset()
    assert load(path).empty


def _session(proc: GatewayProcess) -> requests.Session:
    session = requests.Session()
    session.verify = str(proc.ca_file)
    session.trust_env = False
    return session


def _place(http: requests.Session, proc: GatewayProcess, *tickets: dict[str, Any]) -> list[dict[str, Any]]:
    body = http.post(f"{proc.base_url}/iserver/account/{ACCOUNT}/orders", json={"orders": list(tickets)},
                     timeout=10).json()
    for _ in range(10):  # answer every precaution question with yes
        if not (isinstance(body, list) and body and "id" in body[0]):
            break
        body = http.post(f"{proc.base_url}/iserver/reply/{body[0]['id']}", json={"confirmed": True}, timeout=10).json()
    return body  # type: ignore[no-any-return]


def wait_for(proc: GatewayProcess, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """Poll the child's books until ``done`` holds (it runs on the system clock: status latencies are real)."""
    deadline = time.monotonic() + DEADLINE
    while not done(books := proc.ledger()):
        assert time.monotonic() < deadline, f"books never reached the expected state: {books}"
        time.sleep(0.01)
    return books


def test_a_sigkilled_gateway_process_keeps_its_books_with_keep_books() -> None:
    with GatewayProcess(port=0, args=["--market", "manual", "--no-pacing"], keep_books=True) as proc:
        http = _session(proc)
        assert http.get(proc.base_url + "/iserver/accounts", timeout=10).status_code == 200
        far = str((Decimal(proc.control("quote", symbol="MSFT")["bid"]) * Decimal("0.99")).quantize(Decimal("0.01")))
        _place(http, proc, ticket("p-1", conid=MSFT))
        _place(http, proc, ticket("p-2", order_type="LMT", price=far, conid=MSFT))
        before = wait_for(proc, lambda books: [o["status"] for o in books["orders"]] == ["Filled", "Submitted"])
        proc.kill()
        proc.restart()
        after = proc.ledger()
        assert after["executions"] == before["executions"]
        assert after["positions"] == before["positions"] == {"MSFT": "10"}
        assert after["cash"] == before["cash"]
        assert [(o["coid"], o["filled"]) for o in after["orders"]] == [("p-1", "10"), ("p-2", "0")]
        resting = after["orders"][1]
        assert resting["working"]
        some = proc.ledger(since=1, coids=["p-2"])  # the running check's incremental reads
        assert ([o["coid"] for o in some["orders"]], some["executions"], some["execution_count"]) == (["p-2"], [], 1)
        http.get(proc.base_url + "/iserver/accounts", timeout=10)  # a new session: prime it again
        cancel = http.delete(f"{proc.base_url}/iserver/account/{ACCOUNT}/order/{resting['order_id']}", timeout=10)
        assert cancel.status_code == 200, cancel.text
        http.close()


def test_without_keep_books_a_restarted_process_starts_empty() -> None:
    with GatewayProcess(port=0, args=["--market", "manual", "--no-pacing"]) as proc:
        http = _session(proc)
        http.get(proc.base_url + "/iserver/accounts", timeout=10)
        _place(http, proc, ticket("e-1"))
        wait_for(proc, lambda books: len(books["executions"]) == 1)
        proc.restart()
        assert proc.ledger() == {"orders": [], "executions": [], "execution_count": 0, "positions": {},
                                 "cash": "1000000"}
        http.close()
