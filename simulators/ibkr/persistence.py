"""The account's books on disk, so a gateway process that is killed and started again keeps them.

IBKR keeps orders, executions and positions on its servers: restarting the Client Portal gateway
loses the session, never the account. A simulator started with a *state file* (``--state-file``)
behaves the same way. :class:`BookStore` appends one JSON line per change, written synchronously
from the event-loop thread before the change is answered or pushed, so a SIGKILL loses nothing a
client was told:

* ``order``: the full record of an order after each change (the last line of an id wins);
* ``execution``: every execution, in the order it was booked (replayed into the ledger on load);
* ``market``: every quote, at most every :data:`MARKET_EVERY` clock seconds and on a clean stop.

:func:`load` reads a file back into a :class:`SavedBooks`; a torn last line (a kill mid-write) is
skipped. The session is not saved: a restarted gateway has a new session id, as the real one does.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from simulators.ibkr.account import Execution
from simulators.ibkr.market import Quote
from simulators.ibkr.orders import Order
from simulators.ibkr.orders import OrderStatus
from simulators.ibkr.orders import parse_ticket

log = logging.getLogger(__name__)

MARKET_EVERY = 2.0
"""Clock seconds between two saved market snapshots."""

_QUOTE_FIELDS = ("bid", "ask", "last", "open", "high", "low", "prior_close")
_QUOTE_INTS = ("bid_size", "ask_size", "last_size", "volume")


def _optional(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _decimal(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def order_record(order: Order) -> dict[str, Any]:
    """Return an order as a JSON-ready dict (its ticket as received, plus the current ``cOID``)."""
    return {
        "k": "order", "order_id": order.order_id, "account": order.account, "ticket": order.ticket.raw,
        "coid": order.ticket.client_order_id, "created_ms": order.created_ms, "status": str(order.status),
        "filled": str(order.filled), "avg_price": _optional(order.avg_price),
        "commission_charged": str(order.commission_charged), "stop_price": _optional(order.stop_price),
        "triggered": order.triggered, "parent_id": order.parent_id, "oca_group": order.oca_group,
        "last_change_ms": order.last_change_ms, "active": order.active, "held": order.held,
    }


def order_from_record(record: dict[str, Any]) -> Order:
    """Rebuild an order from :func:`order_record` (placed in an earlier brokerage session: epoch 0)."""
    ticket = parse_ticket(record["ticket"])
    if record["coid"] != ticket.client_order_id:  # a modification may have given it a new cOID
        ticket = type(ticket)(**{**ticket.__dict__, "client_order_id": record["coid"]})
    return Order(
        order_id=int(record["order_id"]), account=str(record["account"]), ticket=ticket, epoch=0,
        created_ms=int(record["created_ms"]), status=OrderStatus(record["status"]), filled=Decimal(record["filled"]),
        avg_price=_decimal(record["avg_price"]), commission_charged=Decimal(record["commission_charged"]),
        stop_price=_decimal(record["stop_price"]), triggered=bool(record["triggered"]),
        parent_id=record["parent_id"], oca_group=record["oca_group"], last_change_ms=int(record["last_change_ms"]),
        active=bool(record["active"]), held=bool(record["held"]),
    )


def execution_record(execution: Execution) -> dict[str, Any]:
    """Return an execution as a JSON-ready dict."""
    return {
        "k": "execution", "execution_id": execution.execution_id, "order_id": execution.order_id,
        "conid": execution.conid, "side": execution.side, "size": str(execution.size), "price": str(execution.price),
        "commission": str(execution.commission), "time": execution.time.isoformat(),
        "order_ref": execution.order_ref, "account": execution.account,
    }


def execution_from_record(record: dict[str, Any]) -> Execution:
    """Rebuild an execution from :func:`execution_record`."""
    return Execution(
        execution_id=str(record["execution_id"]), order_id=int(record["order_id"]), conid=int(record["conid"]),
        side=str(record["side"]), size=Decimal(record["size"]), price=Decimal(record["price"]),
        commission=Decimal(record["commission"]), time=datetime.fromisoformat(record["time"]),
        order_ref=str(record["order_ref"]), account=str(record["account"]),
    )


def quote_record(quote: Quote) -> dict[str, Any]:
    """Return a quote's prices and sizes as a JSON-ready dict."""
    values: dict[str, Any] = {name: str(getattr(quote, name)) for name in _QUOTE_FIELDS}
    values.update({name: getattr(quote, name) for name in _QUOTE_INTS})
    values.update(conid=quote.conid, traded=quote.traded, halted=quote.halted)
    return values


def quote_values(record: dict[str, Any]) -> dict[str, Decimal | int | bool]:
    """Return the attributes :func:`quote_record` saved, typed for ``Quote``."""
    values: dict[str, Decimal | int | bool] = {name: Decimal(record[name]) for name in _QUOTE_FIELDS}
    values.update({name: int(record[name]) for name in _QUOTE_INTS})
    values.update(traded=bool(record["traded"]), halted=bool(record["halted"]))
    return values


@dataclass
class SavedBooks:
    """What a state file held.

    Attributes:
        orders: The latest record of each order, by order id.
        coids: Every ``cOID`` an order was known by, by order id (a modification may add one).
        executions: Every execution, in booking order.
        quotes: The last saved quote of each instrument, by conid.
    """

    orders: dict[int, Order] = field(default_factory=dict)
    coids: dict[int, set[str]] = field(default_factory=dict)
    executions: list[Execution] = field(default_factory=list)
    quotes: dict[int, dict[str, Decimal | int | bool]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """Whether nothing was saved."""
        return not (self.orders or self.executions or self.quotes)


def load(path: Path) -> SavedBooks:
    """Read a state file (a missing file is empty books); a torn or unreadable line is skipped."""
    saved = SavedBooks()
    if not path.exists():
        return saved
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            try:
                _apply(saved, json.loads(line))
            except (ValueError, KeyError, TypeError) as e:
                log.warning("%s line %d skipped: %s", path, number, e)
    return saved


def _apply(saved: SavedBooks, record: dict[str, Any]) -> None:
    kind = record["k"]
    if kind == "order":
        order = order_from_record(record)
        saved.orders[order.order_id] = order
        if order.ticket.client_order_id is not None:
            saved.coids.setdefault(order.order_id, set()).add(order.ticket.client_order_id)
    elif kind == "execution":
        saved.executions.append(execution_from_record(record))
    elif kind == "market":
        for quote in record["quotes"]:
            saved.quotes[int(quote["conid"])] = quote_values(quote)


class BookStore:
    """Appends the books' changes to a state file (see the module docstring).

    Args:
        path: The file (created 0600 if missing; appended to otherwise).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._market_saved_at: float | None = None

    def _write(self, record: dict[str, Any]) -> None:
        if self._fd is not None:
            # one write() per line: a kill leaves at most a torn last line, which load() skips
            os.write(self._fd, (json.dumps(record, separators=(",", ":")) + "\n").encode())

    def order(self, order: Order) -> None:
        """Save an order after a change."""
        self._write(order_record(order))

    def execution(self, execution: Execution) -> None:
        """Save an execution as it is booked."""
        self._write(execution_record(execution))

    def market(self, quotes: list[Quote], now: float, *, force: bool = False) -> None:
        """Save every quote, unless the last snapshot is younger than :data:`MARKET_EVERY` clock seconds."""
        if not force and self._market_saved_at is not None and now - self._market_saved_at < MARKET_EVERY:
            return
        self._market_saved_at = now
        self._write({"k": "market", "quotes": [quote_record(q) for q in quotes]})

    def clear(self) -> None:
        """Forget everything saved (a ``reset`` of the gateway)."""
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
        self._market_saved_at = None

    def close(self) -> None:
        """Close the file; later changes are not saved."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
