"""Order tracker: id mapping, merged partial reports, fill de-duplication, races."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from decimal import Decimal

import pytest

from brokers.ibkr.parsing import Execution
from brokers.ibkr.parsing import OrderUpdate
from brokers.ibkr.parsing import Phase
from brokers.ibkr.tracking import OrderTracker
from framework.events import OrderAccepted
from framework.events import OrderCancelled
from framework.events import OrderFilled
from framework.events import OrderPartiallyFilled
from framework.events import OrderRejected
from framework.models import Instrument
from framework.models import OrderRequest
from framework.models import Side

TS = datetime(2024, 1, 2, 15, tzinfo=UTC)
REQUEST = OrderRequest(client_order_id="c1", instrument=Instrument(symbol="AAPL", broker_id="265598"),
                       side=Side.BUY, quantity=Decimal(100))


def execution(exec_id: str, quantity: int, *, cid: str | None = "c1", oid: str | None = None) -> Execution:
    return Execution(exec_id, cid, oid, "265598", "AAPL", Side.BUY, Decimal(quantity), Decimal("189.5"),
                     Decimal("1"), TS)


def update(phase: Phase | None, *, oid: str = "9", cid: str | None = None, filled: int | None = None) -> OrderUpdate:
    status = {Phase.WORKING: "Submitted", Phase.CANCELLED: "Cancelled", Phase.REJECTED: "Inactive",
              Phase.FILLED: "Filled"}.get(phase) if phase else None
    return OrderUpdate(oid, cid, phase, status, Decimal(filled) if filled is not None else None, None)


@pytest.fixture
def tracker() -> OrderTracker:
    t = OrderTracker()
    t.register(REQUEST)
    return t


def types(events: list[object]) -> list[type]:
    return [type(e) for e in events]


def test_placed_then_partial_and_final_fills(tracker: OrderTracker) -> None:
    assert types(tracker.placed("c1", "9", TS)) == [OrderAccepted]
    assert types(tracker.apply_execution(execution("e1", 40))) == [OrderPartiallyFilled]
    assert types(tracker.apply_execution(execution("e2", 60))) == [OrderFilled]
    assert tracker.get("c1").terminal  # type: ignore[union-attr]


def test_the_same_execution_twice_fills_once(tracker: OrderTracker) -> None:
    tracker.placed("c1", "9", TS)
    assert len(tracker.apply_execution(execution("e1", 40))) == 1
    assert tracker.apply_execution(execution("e1", 40)) == []
    assert tracker.get("c1").filled == 40  # type: ignore[union-attr]


def test_a_fill_before_the_placement_answer_is_applied_by_order_ref(tracker: OrderTracker) -> None:
    assert types(tracker.apply_execution(execution("e1", 100))) == [OrderFilled]
    assert tracker.placed("c1", "9", TS) == []  # already terminal: the late ack adds nothing


def test_reports_by_order_id_before_the_answer_are_parked_and_replayed(tracker: OrderTracker) -> None:
    assert tracker.apply_update(update(Phase.WORKING), TS) == []
    assert tracker.apply_execution(execution("e1", 100, cid=None, oid="9")) == []
    assert types(tracker.placed("c1", "9", TS)) == [OrderAccepted, OrderFilled]


def test_partial_updates_only_change_what_they_carry(tracker: OrderTracker) -> None:
    tracker.placed("c1", "9", TS)
    assert tracker.apply_update(update(None, filled=40), TS) == []
    assert tracker.get("c1").broker_filled == 40  # type: ignore[union-attr]
    assert tracker.needs_fill_lookup()
    assert types(tracker.apply_update(update(Phase.CANCELLED), TS)) == [OrderCancelled]
    assert tracker.apply_update(update(Phase.CANCELLED), TS) == []


def test_inactive_before_any_fill_is_a_rejection(tracker: OrderTracker) -> None:
    events = tracker.apply_update(update(Phase.REJECTED, cid="c1"), TS)
    assert types(events) == [OrderRejected]
    assert "Inactive" in events[0].reason  # type: ignore[attr-defined]


def test_inactive_after_a_partial_fill_is_a_cancel(tracker: OrderTracker) -> None:
    tracker.placed("c1", "9", TS)
    tracker.apply_execution(execution("e1", 10))
    assert types(tracker.apply_update(update(Phase.REJECTED), TS)) == [OrderCancelled]


def test_an_unresolved_order_is_resolved_by_a_full_row_with_its_order_ref(tracker: OrderTracker) -> None:
    tracker.mark_unresolved("c1", since=5.0)
    assert tracker.unresolved() == [("c1", 5.0)]
    assert types(tracker.apply_update(update(Phase.WORKING, cid="c1", oid="9"), TS)) == [OrderAccepted]
    assert tracker.unresolved() == []
    assert tracker.client_order_id("9") == "c1"


def test_rejected_is_terminal_and_emitted_once(tracker: OrderTracker) -> None:
    assert types(tracker.rejected("c1", "no", TS)) == [OrderRejected]
    assert tracker.rejected("c1", "no", TS) == []
    assert tracker.open_orders() == []


def test_a_fill_for_an_order_declared_lost_is_not_booked_but_flags_it_for_cancel(
    tracker: OrderTracker, caplog: pytest.LogCaptureFixture
) -> None:
    tracker.mark_unresolved("c1", 0.0)
    assert [type(e) for e in tracker.rejected("c1", "lost", TS, lost=True)] == [OrderRejected]
    assert tracker.apply_execution(execution("e1", 40, oid="9")) == []  # the framework closed it: not booked
    assert "declared lost" in caplog.text
    assert tracker.take_resurfaced() == {"c1": "9"}  # the broker cancels the rest at IBKR
    assert tracker.take_resurfaced() == {}  # once


def test_an_ordinary_rejection_is_never_flagged_for_cancel(tracker: OrderTracker) -> None:
    tracker.placed("c1", "9", TS)
    tracker.apply_update(update(Phase.REJECTED, oid="9"), TS)
    tracker.apply_update(update(Phase.WORKING, oid="9"), TS)
    assert tracker.take_resurfaced() == {}
