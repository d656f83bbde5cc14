"""Checks an execution report against its order before anything is booked.

A broker's report of an execution is a claim; the order book holds what was asked for. A report is
booked only when it agrees with its order: the same side and instrument, this account, a positive
finite size that keeps the filled quantity within the order, a positive finite price, a commission
that is a cost (zero or positive), an aware time. An execution id seen before must carry the same
content: the same report again is a harmless duplicate (counted, not booked twice), a different one
is an inconsistency to surface, never something to drop silently.

The functions here are pure: they name the first field that contradicts and both values, and the
caller (:class:`~framework.orders.OrderBook`) refuses the report with an ``ExecutionRefused`` event.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from framework.models import ExecutionReport
from framework.models import Fill
from framework.models import Order

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Contradiction:
    """The first field of a report that contradicts its order or an earlier report.

    Attributes:
        field: The field's name.
        expected: What the order (or the earlier report) says.
        received: What the report says.
    """

    field: str
    expected: str
    received: str


def check_report(report: ExecutionReport, order: Order, account_id: str | None) -> Contradiction | None:
    """Return the first way ``report`` contradicts ``order`` (booked by ``account_id``), or None."""
    request = order.request
    if report.side is not request.side:
        return Contradiction("side", request.side.value, str(report.side))
    found = _instrument(report, order)
    if found is not None:
        return found
    if account_id and report.account_id is not None and report.account_id != account_id:
        return Contradiction("account", account_id, report.account_id)
    found = _amounts(report)
    if found is not None:
        return found
    filled = order.filled_quantity + report.quantity
    if filled > request.quantity:
        return Contradiction("quantity", f"at most {request.quantity - order.filled_quantity} remaining",
                             f"{report.quantity} (cumulative {filled} of {request.quantity})")
    return None


def _instrument(report: ExecutionReport, order: Order) -> Contradiction | None:
    instrument = order.request.instrument
    symbol = report.symbol
    if symbol and symbol != instrument.symbol and symbol.upper() != instrument.symbol.upper():
        return Contradiction("instrument", instrument.symbol, symbol)
    if report.instrument_id is not None and instrument.broker_id is not None \
            and report.instrument_id != instrument.broker_id:
        return Contradiction("instrument", f"{instrument.symbol} ({instrument.broker_id})", report.instrument_id)
    return None


def _amounts(report: ExecutionReport) -> Contradiction | None:
    if not (report.quantity.is_finite() and report.quantity > ZERO):
        return Contradiction("quantity", "a positive finite size", str(report.quantity))
    if not (report.price.is_finite() and report.price > ZERO):
        return Contradiction("price", "a positive finite price", str(report.price))
    commission = report.commission
    if commission is not None and not (commission.is_finite() and commission >= ZERO):
        return Contradiction("commission", "a cost, zero or positive", str(commission))
    if report.ts.tzinfo is None:
        return Contradiction("ts", "an aware UTC time", report.ts.isoformat())
    return None


def compare_with_booked(report: ExecutionReport, booked: Fill) -> Contradiction | None:
    """Return how ``report`` differs from the fill already booked under its execution id, or None.

    Times are not compared (a stream and a REST lookup stamp the same execution with different
    precision), nor a commission that one of the two did not report.
    """
    pairs = (
        ("client_order_id", booked.client_order_id, report.client_order_id),
        ("side", booked.side, report.side),
        ("quantity", booked.quantity, report.quantity),
        ("price", booked.price, report.price),
    )
    for name, before, now in pairs:
        if before != now:
            return Contradiction("execution_id", f"{report.execution_id} booked with {name} {before}",
                                 f"{name} {now}")
    if report.commission is not None and report.commission != booked.commission:
        return Contradiction("execution_id", f"{report.execution_id} booked with commission {booked.commission}",
                             f"commission {report.commission}")
    return None


def fill_from_report(report: ExecutionReport, order: Order) -> Fill:
    """The :class:`Fill` of a report that passed :func:`check_report`.

    Equal amounts share the order's Decimal objects (a run keeps every fill and order: one object
    instead of two saves about a hundred bytes each).
    """
    request = order.request
    quantity = request.quantity if report.quantity == request.quantity else report.quantity
    commission = report.commission if report.commission else ZERO
    return Fill(report.execution_id, report.client_order_id, request.symbol, report.side, quantity, report.price,
                commission, report.ts, report.broker_order_id or order.broker_order_id)
