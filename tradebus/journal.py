"""The order journal in one SQLite file: :class:`SqliteJournal` implements :class:`~framework.journal.Journal`.

Stdlib ``sqlite3``, WAL mode, one transaction per write. Durability: with ``synchronous="full"`` (the
default) a write is on disk when the call returns, so a power cut loses nothing the engine acted on;
``"normal"`` survives a process crash (``kill -9``) but may lose the last writes on power loss, and
is faster.

Thread-safe: one lock serialises every statement, so the dispatcher and the kill switch's watcher
may both write.

One file may hold many runs. Each run records its venue (broker and account) in ``runs`` before it
recovers or trades; :meth:`SqliteJournal.open_orders_by_venue` lets recovery adopt only its own
venue's orders. Fills are keyed by execution id across every run: the same fill again is a counted
duplicate, another fill under a known id raises :class:`JournalConflict` naming the field (the
engine refuses such a report before it gets here; this is the last guard, never a silent drop).
A journal written before runs recorded their venue gains the ``runs`` table when opened; its older
orders have no venue, and recovery leaves them alone.
"""

from __future__ import annotations

import json
import logging
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

from framework.errors import ConfigError
from framework.events import OrderEvent
from framework.events import OrderFilled
from framework.events import OrderPartiallyFilled
from framework.journal import Venue
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
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    broker TEXT NOT NULL,
    account_id TEXT NOT NULL,
    started TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS fills_by_order ON fills(client_order_id);
CREATE INDEX IF NOT EXISTS orders_by_status ON orders(status);
"""

log = logging.getLogger(__name__)

_SELECT_ORDERS = (
    "SELECT o.request, o.status, o.broker_order_id, o.filled_quantity, o.average_fill_price, o.reason, o.updated,"
    " r.broker, r.account_id FROM orders o LEFT JOIN runs r ON r.run_id = o.run_id"
)
_SELECT_FILLS = (
    "SELECT execution_id, client_order_id, symbol, side, quantity, price, commission, ts, broker_order_id FROM fills"
)
_UNFINISHED = f" WHERE o.status NOT IN ({','.join(repr(s.value) for s in TERMINAL_STATUSES)})"
_OLDEST_FIRST = " ORDER BY o.created, o.rowid"


class JournalConflict(sqlite3.IntegrityError):
    """A fill's execution id is journaled with other content (another order, side, size, price or commission).

    Attributes:
        execution_id: The id.
        field: The first field that differs.
    """

    def __init__(self, message: str, *, execution_id: str = "", field: str = "") -> None:
        super().__init__(message)
        self.execution_id = execution_id
        self.field = field


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

    Attributes:
        duplicates: Fills recorded again with the same content (stored once).

    Raises:
        ConfigError: If ``path`` cannot be created or opened as a SQLite database (key ``journal``).
    """

    def __init__(self, path: Path, *, synchronous: Literal["full", "normal"] = "full") -> None:
        try:
            self.path = private_file(path)  # 0600 in a 0700 folder; SQLite gives -wal and -shm the same mode
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
        except (OSError, sqlite3.Error) as e:  # a folder we cannot write, a file that is not a database
            if isinstance(e, OSError):
                fix = f"({e.strerror or e}); choose a file in a writable folder"
            else:
                fix = f"({e}); give a new file or an existing journal"
            msg = f"cannot open {path} as the order journal {fix} (journal in the settings, --journal for a backtest)"
            raise ConfigError(msg, key="journal") from e
        for sidecar in ("-wal", "-shm"):  # left readable by an earlier version after a crash
            tighten(path.with_name(path.name + sidecar))
        self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)
        self._lock = threading.RLock()
        self.duplicates = 0

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

    def record_run(self, run_id: str, venue: Venue, started: datetime) -> None:
        """Record that run ``run_id`` trades ``venue`` (a run id used again takes the new venue).

        The account is stored in the journal's form (:meth:`~framework.journal.Venue.journaled`), never in the clear.
        """
        venue = venue.journaled()
        with self._transaction() as db:
            db.execute(
                "INSERT INTO runs VALUES (?,?,?,?) ON CONFLICT(run_id) DO UPDATE SET broker=excluded.broker,"
                " account_id=excluded.account_id, started=excluded.started",
                (run_id, venue.broker, venue.account_id, started.isoformat()),
            )

    def venue(self, run_id: str) -> Venue | None:
        """The venue run ``run_id`` recorded (in the journal's form), or None."""
        rows = self._query("SELECT broker, account_id FROM runs WHERE run_id=?", (run_id,))
        return Venue(*rows[0]) if rows else None

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
        """Append ``event`` and the order's state after it, in one transaction.

        Returns:
            False, writing nothing, for a fill journaled before with the same content (counted in
            :attr:`duplicates`); True otherwise.

        Raises:
            JournalConflict: If the fill's execution id is journaled with other content (nothing is
                written; the message names the field).
        """
        with self._transaction() as db:
            if isinstance(event, OrderFilled | OrderPartiallyFilled) and not _insert_fill(db, event.fill):
                self.duplicates += 1
                log.info("execution %s is journaled already, with the same content: stored once",
                         event.fill.execution_id)
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
            rows = self._query(_SELECT_ORDERS + _OLDEST_FIRST)
        else:
            rows = self._query(_SELECT_ORDERS + " WHERE o.run_id=?" + _OLDEST_FIRST, (run_id,))
        return [_order_from_row(row) for row in rows]

    def open_orders(self, *, venue: Venue | None = None) -> list[Order]:
        """Orders whose outcome is not final (including intents never acknowledged), oldest first.

        Args:
            venue: Only the orders of runs that recorded this venue (None: every one).
        """
        if venue is None:
            return [_order_from_row(row) for row in self._query(_SELECT_ORDERS + _UNFINISHED + _OLDEST_FIRST)]
        return self.open_orders_by_venue().get(venue.journaled(), [])

    def open_orders_by_venue(self) -> dict[Venue | None, list[Order]]:
        """Unfinished orders by the venue their run recorded (None: a run that recorded none), oldest first."""
        found: dict[Venue | None, list[Order]] = {}
        for row in self._query(_SELECT_ORDERS + _UNFINISHED + _OLDEST_FIRST):
            venue = None if row[-2] is None else Venue(row[-2], row[-1])
            found.setdefault(venue, []).append(_order_from_row(row))
        return found

    def fills(self, *, client_order_id: str | None = None) -> list[Fill]:
        """Every fill (of one order, if given), in the order recorded."""
        if client_order_id is None:
            rows = self._query(_SELECT_FILLS + " ORDER BY rowid")
        else:
            rows = self._query(_SELECT_FILLS + " WHERE client_order_id=? ORDER BY rowid", (client_order_id,))
        return [_fill_from_row(row) for row in rows]

    def fill(self, execution_id: str) -> Fill | None:
        """The fill journaled under ``execution_id`` (by any run), or None."""
        rows = self._query(_SELECT_FILLS + " WHERE execution_id=?", (execution_id,))
        return _fill_from_row(rows[0]) if rows else None

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
    # only a known execution id is tolerated here: every other constraint still fails loudly
    cursor = db.execute(
        "INSERT INTO fills VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(execution_id) DO NOTHING",
        (
            fill.execution_id, fill.client_order_id, fill.symbol, fill.side.value, str(fill.quantity),
            str(fill.price), str(fill.commission), fill.ts.isoformat(), fill.broker_order_id,
        ),
    )  # fmt: skip
    if cursor.rowcount == 1:
        return True
    row = db.execute(_SELECT_FILLS + " WHERE execution_id=?", (fill.execution_id,)).fetchone()
    _check_same(_fill_from_row(row), fill)
    return False


def _check_same(journaled: Fill, fill: Fill) -> None:
    # the fields a fill is; times are not compared (two reports of one execution stamp it differently)
    for name in ("client_order_id", "symbol", "side", "quantity", "price", "commission"):
        before, now = getattr(journaled, name), getattr(fill, name)
        if before != now:
            text = (f"execution {fill.execution_id} is journaled with {name} {_text(before)}, not {_text(now)}; "
                    "nothing written")
            raise JournalConflict(text, execution_id=fill.execution_id, field=name)


def _text(value: object) -> str:
    return value.value if isinstance(value, Side) else str(value)


def _fill_from_row(row: tuple[Any, ...]) -> Fill:
    execution_id, cid, symbol, side, quantity, price, commission, ts, broker_order_id = row
    return Fill(execution_id, cid, symbol, Side(side), Decimal(quantity), Decimal(price), Decimal(commission),
                datetime.fromisoformat(ts), broker_order_id)


def _order_from_row(row: tuple[Any, ...]) -> Order:
    request, status, broker_id, filled, average, reason, updated = row[:7]  # then the run's venue
    return Order(
        request=OrderRequest.model_validate(json.loads(request)),
        status=OrderStatus(status),
        broker_order_id=broker_id,
        filled_quantity=Decimal(filled),
        average_fill_price=None if average is None else Decimal(average),
        reason=reason,
        updated=datetime.fromisoformat(updated),
    )
