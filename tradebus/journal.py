"""The order journal in one SQLite file: :class:`SqliteJournal` implements :class:`~framework.journal.Journal`.

Stdlib ``sqlite3``, WAL mode, one transaction per write. Durability: with ``synchronous="full"`` (the
default) a write is on disk when the call returns, so a power cut loses nothing the engine acted on;
``"normal"`` survives a process crash (``kill -9``) but may lose the last writes on power loss, and
is faster.

Thread-safe: one lock serialises every statement, so the dispatcher and the kill switch's watcher
may both write.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from typing import Literal

from framework.events import OrderEvent
from framework.events import OrderFilled
from framework.events import OrderPartiallyFilled
from framework.models import TERMINAL_STATUSES
from framework.models import Fill
from framework.models import Order
from framework.models import OrderRequest
from framework.models import OrderStatus
from framework.models import Side
from framework.private_files import private_file
from framework.private_files import tighten

SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    client_order_id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    strategy_id TEXT NOT NULL,
    symbol TEXT NOT NULL,
    request TEXT NOT NULL,
    status TEXT NOT NULL,
    broker_order_id TEXT,
    filled_quantity TEXT NOT NULL,
    average_fill_price TEXT,
    reason TEXT,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS order_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    client_order_id TEXT NOT NULL REFERENCES orders(client_order_id),
    event TEXT NOT NULL,
    ts TEXT NOT NULL,
    payload TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS fills (
    execution_id TEXT PRIMARY KEY,
    client_order_id TEXT NOT NULL REFERENCES orders(client_order_id),
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    quantity TEXT NOT NULL,
    price TEXT NOT NULL,
    commission TEXT NOT NULL,
    ts TEXT NOT NULL,
    broker_order_id TEXT
);
CREATE INDEX IF NOT EXISTS fills_by_order ON fills(client_order_id);
CREATE INDEX IF NOT EXISTS orders_by_status ON orders(status);
"""


@dataclass(frozen=True)
class JournalEntry:
    """One row of an order's history.

    Attributes:
        seq: Position in the journal.
        client_order_id: The order.
        event: Event class name.
        ts: Event time.
        payload: The event as JSON.
    """

    seq: int
    client_order_id: str
    event: str
    ts: datetime
    payload: str


class SqliteJournal:
    """A journal in one SQLite file.

    Args:
        path: The database file (created with its folder if missing).
        synchronous: ``"full"`` (durable on power loss) or ``"normal"`` (durable on process crash).
    """

    def __init__(self, path: Path, *, synchronous: Literal["full", "normal"] = "full") -> None:
        self.path = private_file(path)  # 0600 in a 0700 folder; SQLite gives -wal and -shm the same mode
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        for sidecar in ("-wal", "-shm"):  # left readable by an earlier version after a crash
            tighten(path.with_name(path.name + sidecar))
        self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)
        self._lock = threading.RLock()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, params: tuple[str, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def record_intent(self, order: Order, run_id: str) -> None:
        """Store a new order before it is sent.

        Raises:
            sqlite3.IntegrityError: If the client order id is already journaled (never re-send it).
        """
        req = order.request
        with self._transaction() as db:
            db.execute(
                "INSERT INTO orders VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    req.client_order_id, run_id, req.strategy_id, req.symbol, req.model_dump_json(),
                    order.status.value, order.broker_order_id, str(order.filled_quantity),
                    None, order.reason, order.updated.isoformat(), order.updated.isoformat(),
                ),
            )  # fmt: skip
            _append(db, "OrderIntent", req.client_order_id, order.updated, req.model_dump_json())

    def record_event(self, event: OrderEvent, order: Order) -> bool:
        """Append ``event`` and the order's state after it, in one transaction."""
        with self._transaction() as db:
            if isinstance(event, OrderFilled | OrderPartiallyFilled) and not _insert_fill(db, event.fill):
                return False
            _append(db, type(event).__name__, event.client_order_id, event.ts, event.model_dump_json())
            db.execute(
                "UPDATE orders SET status=?, broker_order_id=?, filled_quantity=?, average_fill_price=?,"
                " reason=?, request=?, updated=? WHERE client_order_id=?",
                (
                    order.status.value, order.broker_order_id, str(order.filled_quantity),
                    None if order.average_fill_price is None else str(order.average_fill_price),
                    order.reason, order.request.model_dump_json(), order.updated.isoformat(), order.client_order_id,
                ),
            )  # fmt: skip
        return True

    def orders(self, *, run_id: str | None = None) -> list[Order]:
        """Every order (of one run, if given), oldest first."""
        if run_id is None:
            return self._orders("", ())
        return self._orders(" WHERE run_id=?", (run_id,))

    def open_orders(self) -> list[Order]:
        """Orders whose outcome is not final (including intents never acknowledged), oldest first.

        Read through the status index: a long journal's finished orders are not loaded.
        """
        final = tuple(s.value for s in TERMINAL_STATUSES)
        return self._orders(f" WHERE status NOT IN ({','.join('?' * len(final))})", final)

    def _orders(self, where: str, params: tuple[str, ...]) -> list[Order]:
        sql = (
            "SELECT request, status, broker_order_id, filled_quantity, average_fill_price, reason, updated FROM orders"
        )
        rows = self._query(sql + where + " ORDER BY created, rowid", params)
        return [_order_from_row(row) for row in rows]

    def fills(self, *, client_order_id: str | None = None) -> list[Fill]:
        """Every fill (of one order, if given), in the order recorded."""
        sql = (
            "SELECT execution_id, client_order_id, symbol, side, quantity, price, commission, ts, broker_order_id"
            " FROM fills"
        )
        params: tuple[str, ...] = ()
        if client_order_id is not None:
            sql += " WHERE client_order_id=?"
            params = (client_order_id,)
        rows = self._query(sql + " ORDER BY rowid", params)
        return [_fill_from_row(row) for row in rows]

    def history(self, client_order_id: str) -> list[JournalEntry]:
        """Every journal row of one order, in order."""
        rows = self._query(
            "SELECT seq, client_order_id, event, ts, payload FROM order_events WHERE client_order_id=? ORDER BY seq",
            (client_order_id,),
        )
        return [JournalEntry(r[0], r[1], r[2], datetime.fromisoformat(r[3]), r[4]) for r in rows]

    def run_ids(self) -> list[str]:
        """Runs that placed orders, oldest first."""
        rows = self._query("SELECT run_id FROM orders GROUP BY run_id ORDER BY MIN(created)")
        return [r[0] for r in rows]

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()


def _append(db: sqlite3.Connection, event: str, cid: str, ts: datetime, payload: str) -> None:
    db.execute(
        "INSERT INTO order_events (client_order_id, event, ts, payload) VALUES (?,?,?,?)",
        (cid, event, ts.isoformat(), payload),
    )


def _insert_fill(db: sqlite3.Connection, fill: Fill) -> bool:
    cursor = db.execute(
        "INSERT OR IGNORE INTO fills VALUES (?,?,?,?,?,?,?,?,?)",
        (
            fill.execution_id, fill.client_order_id, fill.symbol, fill.side.value, str(fill.quantity),
            str(fill.price), str(fill.commission), fill.ts.isoformat(), fill.broker_order_id,
        ),
    )  # fmt: skip
    return cursor.rowcount == 1


def _fill_from_row(row: tuple[Any, ...]) -> Fill:
    execution_id, cid, symbol, side, quantity, price, commission, ts, broker_order_id = row
    return Fill(execution_id, cid, symbol, Side(side), Decimal(quantity), Decimal(price), Decimal(commission),
                datetime.fromisoformat(ts), broker_order_id)


def _order_from_row(row: tuple[str, str, str | None, str, str | None, str | None, str]) -> Order:
    request, status, broker_id, filled, average, reason, updated = row
    return Order(
        request=OrderRequest.model_validate(json.loads(request)),
        status=OrderStatus(status),
        broker_order_id=broker_id,
        filled_quantity=Decimal(filled),
        average_fill_price=None if average is None else Decimal(average),
        reason=reason,
        updated=datetime.fromisoformat(updated),
    )
