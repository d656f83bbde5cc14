"""The journal against the gateway's ledger: the soak's central invariant.

The gateway's own books (control ``ledger``: every order with its final state and filled quantity,
every execution with its id, size, price and commission, every position) are the truth; the run's
SQLite journal must agree with them:

* ``journal_equals_ledger``: every order at the gateway is in the journal, in the matching final
  state with the same quantity, prices, filled quantity and average price (a modification neither
  lost nor applied twice); an order the gateway never saw ended refused, rejected or cancelled
  before it was sent, without a fill;
* ``every_execution_once``: every execution id of the ledger is in the journal's fills, none is
  missing (a lost fill), none is extra (a phantom fill), and each was journaled as exactly one fill
  event (no duplicate);
* ``fills_match``: each journaled fill has the ledger's side, size, price and commission, and each
  order's fills add up to its filled quantity;
* ``positions_match``: the positions the journal's fills add up to (and the engine's portfolio and
  cash, when given) equal the ledger's;
* ``orders_settled`` (at the end only): no order is still working at the gateway or unresolved in
  the journal.

:func:`check_books` runs them all on a journal file and a ledger; :class:`RunningCheck` repeats the
execution checks during the run, on quiet ground only, and reports an execution as lost (or an order
finished at the gateway as still open in the journal) only when it is so at two looks in a row.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from framework.models import Fill
from framework.models import Order
from framework.models import OrderStatus
from framework.models import OrderType
from tradebus.journal import SqliteJournal

FINAL_STATES: dict[str, frozenset[OrderStatus]] = {
    "Filled": frozenset({OrderStatus.FILLED}),
    "Cancelled": frozenset({OrderStatus.CANCELLED}),
    "Inactive": frozenset({OrderStatus.REJECTED, OrderStatus.CANCELLED}),
}
WORKING_STATES = frozenset({OrderStatus.SUBMITTED, OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED,
                            OrderStatus.PENDING_CANCEL, OrderStatus.PENDING_UPDATE})
NEVER_SENT = frozenset({OrderStatus.DENIED, OrderStatus.REJECTED, OrderStatus.CANCELLED})
INVARIANTS = ("journal_equals_ledger", "every_execution_once", "fills_match", "positions_match", "orders_settled")
SHOWN = 20  # problems listed per invariant; the rest are counted
AVERAGE_TOLERANCE = Decimal("0.0001")  # the gateway rounds an order's average price to 4 places


@dataclass
class BooksReport:
    """What :func:`check_books` found.

    Attributes:
        orders_journaled: Orders in the journal.
        orders_at_gateway: Orders the gateway holds.
        fills_journaled: Fills in the journal.
        executions_at_gateway: Executions the gateway booked.
        problems: Problems found, by invariant name (an invariant with none holds).
    """

    orders_journaled: int = 0
    orders_at_gateway: int = 0
    fills_journaled: int = 0
    executions_at_gateway: int = 0
    problems: dict[str, list[str]] = field(default_factory=lambda: {name: [] for name in INVARIANTS})

    def add(self, invariant: str, problem: str) -> None:
        """Record a problem of ``invariant``."""
        self.problems.setdefault(invariant, []).append(problem)

    @property
    def ok(self) -> bool:
        """Whether every invariant holds."""
        return not any(self.problems.values())


def fill_events(path: Path) -> Counter[str]:
    """How many fill events (``OrderFilled`` / ``OrderPartiallyFilled``) the journal holds per execution id.

    Reads the journal's ``order_events`` table directly (read-only): the journal's own API returns
    the de-duplicated fills, which cannot show a fill journaled twice.
    """
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT payload FROM order_events WHERE event IN ('OrderFilled', 'OrderPartiallyFilled')")
        return Counter(json.loads(payload)["fill"]["execution_id"] for (payload,) in rows)
    finally:
        db.close()


def check_books(journal_path: Path, ledger: Mapping[str, Any], *, final: bool = True,
                portfolio: Mapping[str, Decimal] | None = None, cash: Decimal | None = None) -> BooksReport:
    """Compare the journal at ``journal_path`` with the gateway's ``ledger`` (see the module docstring).

    Args:
        journal_path: The run's SQLite journal.
        ledger: The gateway's books (control ``ledger``).
        final: The run is over: nothing may be working or unresolved any more.
        portfolio: The engine's positions by symbol at the end, to compare too.
        cash: The engine's cash at the end, to compare with the gateway's.
    """
    journal = SqliteJournal(journal_path)
    try:
        orders = {o.client_order_id: o for o in journal.orders()}
        fills = journal.fills()
    finally:
        journal.close()
    report = BooksReport(len(orders), len(ledger["orders"]), len(fills), len(ledger["executions"]))
    _check_orders(report, orders, ledger["orders"], final=final)
    _check_executions(report, fills, ledger["executions"], fill_events(journal_path))
    _check_positions(report, fills, ledger["positions"], portfolio)
    if cash is not None and cash != Decimal(ledger["cash"]):
        report.add("positions_match", f"cash: the engine holds {cash}, the gateway {ledger['cash']}")
    for problems in report.problems.values():
        if len(problems) > SHOWN:
            problems[SHOWN:] = [f"... and {len(problems) - SHOWN} more"]
    return report


def _check_orders(report: BooksReport, orders: Mapping[str, Order], venue: list[dict[str, Any]], *,
                  final: bool) -> None:
    at_venue: dict[str, dict[str, Any]] = {}
    for held in venue:
        coid = held["coid"]
        if coid not in orders:
            report.add("journal_equals_ledger", f"gateway order {held['order_id']} ({coid}) is not in the journal")
            continue
        at_venue[coid] = held
        if final and held["working"]:
            report.add("orders_settled", f"{coid} still working at the gateway ({held['status']})")
    for cid, order in orders.items():
        row = at_venue.get(cid)
        if final and not order.status.is_terminal:
            report.add("orders_settled", f"{cid} unresolved in the journal ({order.status})")
        if row is None:
            if order.status not in NEVER_SENT or order.filled_quantity != 0:
                report.add("journal_equals_ledger",
                           f"{cid} never reached the gateway but is {order.status} with {order.filled_quantity} filled")
        else:
            for problem in _differences(order, row):
                report.add("journal_equals_ledger", f"{cid} {problem}")


def _ticket_prices(order: Order) -> tuple[Decimal | None, Decimal | None]:
    """The order's prices as the gateway's ``price`` and ``auxPrice`` fields carry them."""
    request = order.request
    if request.order_type is OrderType.STOP:
        return request.stop_price, None
    if request.order_type is OrderType.STOP_LIMIT:
        return request.limit_price, request.stop_price
    return request.limit_price, None


def _differences(order: Order, row: Mapping[str, Any]) -> list[str]:
    found = []
    if order.status not in FINAL_STATES.get(row["status"], WORKING_STATES):
        found.append(f"is {order.status} in the journal, {row['status']} at the gateway")
    if order.filled_quantity != Decimal(row["filled"]):
        found.append(f"filled {order.filled_quantity} in the journal, {row['filled']} at the gateway")
    theirs = (Decimal(row["quantity"]), *(None if p is None else Decimal(p) for p in (row["price"], row["aux_price"])))
    mine = (order.request.quantity, *_ticket_prices(order))
    if mine != theirs:  # a modification lost or applied on one side only
        found.append(f"ticket (quantity, price, aux price) {mine} in the journal, {theirs} at the gateway")
    average = row["avg_price"]
    if average is not None and (order.average_fill_price is None
                                or abs(order.average_fill_price - Decimal(average)) > AVERAGE_TOLERANCE):
        found.append(f"average fill price {order.average_fill_price} in the journal, {average} at the gateway")
    return found


def _check_executions(report: BooksReport, fills: list[Fill], executions: list[dict[str, Any]],
                      events: Counter[str]) -> None:
    journaled = {f.execution_id: f for f in fills}
    booked = {e["execution_id"]: e for e in executions}
    for execution_id, execution in booked.items():
        fill = journaled.get(execution_id)
        if fill is None:
            report.add("every_execution_once", f"lost fill: execution {execution_id} of {execution['order_ref']} "
                                               f"({execution['side']} {execution['size']} @ {execution['price']})")
            continue
        if events[execution_id] != 1:
            report.add("every_execution_once",
                       f"execution {execution_id} journaled as {events[execution_id]} fill events")
        mine = (fill.side.value, fill.quantity, fill.price, fill.commission, fill.client_order_id)
        theirs = (execution["side"].lower(), Decimal(execution["size"]), Decimal(execution["price"]),
                  Decimal(execution["commission"]), execution["order_ref"])
        if mine != theirs:
            report.add("fills_match", f"execution {execution_id}: journal {mine} != gateway {theirs}")
    for execution_id in journaled.keys() - booked.keys():
        report.add("every_execution_once", f"phantom fill: {execution_id} is in the journal, not at the gateway")


def _check_positions(report: BooksReport, fills: list[Fill], positions: Mapping[str, str],
                     portfolio: Mapping[str, Decimal] | None) -> None:
    summed: dict[str, Decimal] = {}
    for fill in fills:
        summed[fill.symbol] = summed.get(fill.symbol, Decimal(0)) + fill.quantity * fill.side.sign
    symbols = set(positions) | {s for s, q in summed.items() if q} | set(portfolio or {})
    for symbol in sorted(symbols):
        truth = Decimal(positions.get(symbol, "0"))
        if summed.get(symbol, Decimal(0)) != truth:
            report.add("positions_match", f"{symbol}: journal fills add up to {summed.get(symbol, 0)}, "
                                          f"the gateway holds {truth}")
        if portfolio is not None and portfolio.get(symbol, Decimal(0)) != truth:
            report.add("positions_match", f"{symbol}: the engine holds {portfolio.get(symbol, 0)}, the gateway {truth}")


@dataclass
class RunningCheck:
    """The execution and order checks, repeated during the run (see the module docstring).

    Each look is incremental, so the check's own memory and time stay flat however long the soak
    runs: the gateway's executions are read from where the last look stopped, the journal is asked
    only about those ids (and, in SQL, for an execution journaled twice), and only the orders the
    journal holds open are compared with the gateway's.

    Attributes:
        lag: How old an execution must be before it is expected in the journal.
        checks: How many looks were taken.
        problems: Problems found (each reported once).
    """

    lag: timedelta
    checks: int = 0
    problems: list[str] = field(default_factory=list)
    _next: int = 0  # index of the first gateway execution not read yet
    _young: list[dict[str, Any]] = field(default_factory=list)  # read, but too recent to judge yet
    _suspects: dict[str, dict[str, Any]] = field(default_factory=dict)  # executions missing at the last look
    _open_suspects: set[str] = field(default_factory=set)  # orders finished at the gateway, open in the journal
    _reported: set[str] = field(default_factory=set)

    def look(self, journal_path: Path, gateway: GatewayBooks, now: datetime) -> None:
        """Compare the executions older than ``lag`` and the journal's open orders with the gateway's."""
        self.checks += 1
        cutoff = now - self.lag
        db = sqlite3.connect(f"file:{journal_path}?mode=ro", uri=True)
        try:
            self._executions(db, gateway, cutoff)
            self._open_but_finished(db, gateway, cutoff)
        finally:
            db.close()

    def _report(self, key: str, problem: str) -> None:
        if key not in self._reported:
            self._reported.add(key)
            self.problems.append(problem)

    def _executions(self, db: sqlite3.Connection, gateway: GatewayBooks, cutoff: datetime) -> None:
        books = gateway(self._next, [])
        self._next = int(books["execution_count"])
        rows = self._young + list(books["executions"])
        old = {e["execution_id"]: e for e in rows if datetime.fromisoformat(e["time"]) < cutoff}
        self._young = [e for e in rows if e["execution_id"] not in old]
        candidates = old | self._suspects
        journaled = _journaled(db, list(candidates))
        missing = {x: e for x, e in candidates.items() if x not in journaled}
        for execution_id in missing.keys() & self._suspects.keys():  # missing at two looks in a row
            execution = missing[execution_id]
            self._report(execution_id, f"execution {execution_id} of {execution['order_ref']} still not journaled "
                                       f"at two looks in a row (executed {execution['time']})")
        self._suspects = {x: e for x, e in missing.items() if x not in self._reported}
        twice = db.execute("SELECT json_extract(payload, '$.fill.execution_id') AS x, COUNT(*) FROM order_events "
                           "WHERE event IN ('OrderFilled', 'OrderPartiallyFilled') GROUP BY x HAVING COUNT(*) > 1")
        for execution_id, count in twice:
            self._report(execution_id, f"execution {execution_id} journaled as {count} fill events")

    def _open_but_finished(self, db: sqlite3.Connection, gateway: GatewayBooks, cutoff: datetime) -> None:
        """Orders finished at the gateway before ``cutoff`` that the journal holds open at two looks in a row."""
        final = tuple(s.value for s in OrderStatus if s.is_terminal)
        marks = ",".join("?" * len(final))  # only placeholders are formatted into the query
        query = f"SELECT client_order_id, status FROM orders WHERE status NOT IN ({marks})"  # noqa: S608
        still_open = dict(db.execute(query, final).fetchall())
        rows = gateway(self._next, sorted(still_open))["orders"] if still_open else []
        cutoff_ms = cutoff.timestamp() * 1000
        diverged = {row["coid"]: row for row in rows if not row["working"] and row["last_change_ms"] < cutoff_ms}
        for coid in diverged.keys() & self._open_suspects:
            self._report(f"order:{coid}", f"{coid} is {diverged[coid]['status']} at the gateway but still "
                                          f"{still_open[coid]} in the journal")
        self._open_suspects = set(diverged)


GatewayBooks = Callable[[int, list[str]], Mapping[str, Any]]
"""Reads the gateway's books: executions from an index, and the orders of the given client order ids."""


def _journaled(db: sqlite3.Connection, execution_ids: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(execution_ids), 500):  # SQLite's limit on bound parameters
        chunk = execution_ids[start:start + 500]
        marks = ",".join("?" * len(chunk))  # only placeholders are formatted into the query
        rows = db.execute(f"SELECT execution_id FROM fills WHERE execution_id IN ({marks})", chunk)  # noqa: S608
        found.update(x for (x,) in rows)
    return found
