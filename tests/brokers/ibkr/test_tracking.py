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
from framework.events import ExecutionReported
from framework.events import OrderAccepted
from framework.events import OrderCancelled
from framework.events import OrderCancelRejected
from framework.events import OrderRejected
from framework.events import OrderUpdated
from framework.models import Instrument
from framework.models import OrderRequest
from framework.models import OrderType
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


def test_placed_then_executions_are_reported_as_facts(tracker: OrderTracker) -> None:
    assert types(tracker.placed("c1", "9", TS)) == [OrderAccepted]
    [first] = tracker.apply_execution(execution("e1", 40))
    [second] = tracker.apply_execution(execution("e2", 60))
    assert isinstance(first, ExecutionReported)
    assert isinstance(second, ExecutionReported)
    # what IBKR said, for the engine's book to check against the order
    report = first.report
    assert (report.client_order_id, report.side, report.quantity, report.instrument_id) == ("c1", Side.BUY, 40,
                                                                                          "265598")
    assert (report.broker_order_id, report.commission) == ("9", Decimal(1))
    assert tracker.get("c1").terminal  # type: ignore[union-attr]  # the adapter's own view: all 100 executed


def test_r13_the_same_execution_twice_is_reported_once_and_counted(tracker: OrderTracker) -> None:
    """R13 (partial fills): the sum of fills equals the filled quantity; 0 overfills applied; the average price exact;
    a repeated execution (WS and REST) booked once, its commission once. Partial versus the criterion: see
    docs/reliability.md."""
    tracker.placed("c1", "9", TS)
    assert len(tracker.apply_execution(execution("e1", 40))) == 1
    assert tracker.apply_execution(execution("e1", 40)) == []
    assert tracker.duplicates == 1
    assert tracker.get("c1").filled == 40  # type: ignore[union-attr]


def test_the_same_execution_id_with_other_content_is_passed_on_for_the_engine_to_refuse(
    tracker: OrderTracker,
) -> None:
    tracker.placed("c1", "9", TS)
    tracker.apply_execution(execution("e1", 40))
    [event] = tracker.apply_execution(execution("e1", 50))  # never drop a report silently
    assert isinstance(event, ExecutionReported)
    assert event.report.quantity == 50
    assert tracker.get("c1").filled == 40  # type: ignore[union-attr]


def test_values_are_passed_on_as_reported(tracker: OrderTracker) -> None:
    # a negative size or commission is not "fixed" here: the engine refuses it naming the field
    tracker.placed("c1", "9", TS)
    odd = Execution("e1", "c1", "9", "265598", "AAPL", Side.SELL, Decimal(-5), Decimal("189.5"), Decimal(-1), TS,
                    account_id="DU999")
    [event] = tracker.apply_execution(odd)
    report = event.report  # type: ignore[attr-defined]
    assert (report.side, report.quantity, report.commission, report.account_id) == (Side.SELL, -5, -1, "DU999")


def test_r12_a_fill_before_the_placement_answer_is_applied_by_order_ref(tracker: OrderTracker) -> None:
    """R12 (fill before ack, delta updates): final order and fill state right whatever the order of reports; 0 illegal
    transitions; reports for an order not yet known are parked and resolved. Partial versus the criterion: see
    docs/reliability.md."""
    assert types(tracker.apply_execution(execution("e1", 100))) == [ExecutionReported]
    assert tracker.placed("c1", "9", TS) == []  # already terminal: the late ack adds nothing


def test_r12_reports_by_order_id_before_the_answer_are_parked_and_replayed(tracker: OrderTracker) -> None:
    """R12 (fill before ack, delta updates): final order and fill state right whatever the order of reports; 0 illegal
    transitions; reports for an order not yet known are parked and resolved. Partial versus the criterion: see
    docs/reliability.md."""
    assert tracker.apply_update(update(Phase.WORKING), TS) == []
    assert tracker.apply_execution(execution("e1", 100, cid=None, oid="9")) == []
    assert types(tracker.placed("c1", "9", TS)) == [OrderAccepted, ExecutionReported]


def test_r12_partial_updates_only_change_what_they_carry(tracker: OrderTracker) -> None:
    """R12 (fill before ack, delta updates): final order and fill state right whatever the order of reports; 0 illegal
    transitions; reports for an order not yet known are parked and resolved. Partial versus the criterion: see
    docs/reliability.md."""
    tracker.placed("c1", "9", TS)
    assert tracker.apply_update(update(None, filled=40), TS) == []
    assert tracker.get("c1").broker_filled == 40  # type: ignore[union-attr]
    assert tracker.needs_fill_lookup()
    assert types(tracker.apply_update(update(Phase.CANCELLED), TS)) == [OrderCancelled]
    assert tracker.apply_update(update(Phase.CANCELLED), TS) == []


def test_inactive_before_any_fill_is_a_rejection(tracker: OrderTracker) -> None:
    tracker.placed("c1", "9", TS)
    events = tracker.apply_update(update(Phase.REJECTED, cid="c1"), TS)
    assert types(events) == [OrderRejected]
    assert events[0].reason == "IBKR status Inactive: IBKR does not work the order (rejected)"  # type: ignore[attr-defined]


def test_inactive_racing_ahead_of_the_placement_answer_is_decided_by_the_answer(tracker: OrderTracker) -> None:
    # the answer can say why (order_status_description); the stream's row cannot
    assert tracker.apply_update(update(Phase.REJECTED, cid="c1"), TS) == []
    assert tracker.inactive_while_placing("c1")
    [event] = tracker.refused_on_ack("c1", "9", "IBKR status Inactive: why", TS)
    assert isinstance(event, OrderRejected)
    assert event.reason == "IBKR status Inactive: why"
    assert tracker.client_order_id("9") == "c1"


def test_inactive_racing_ahead_of_an_answer_that_says_working_still_rejects(tracker: OrderTracker) -> None:
    tracker.apply_update(update(Phase.REJECTED, cid="c1"), TS)
    assert types(tracker.placed("c1", "9", TS)) == [OrderRejected]  # never accepted after IBKR said Inactive
    assert tracker.open_orders() == []


def test_inactive_racing_ahead_of_an_ambiguous_answer_is_found_by_the_lookup(tracker: OrderTracker) -> None:
    tracker.apply_update(update(Phase.REJECTED, cid="c1"), TS)
    tracker.mark_unresolved("c1", since=5.0)
    assert types(tracker.apply_update(update(Phase.REJECTED, cid="c1"), TS)) == [OrderRejected]
    assert tracker.unresolved() == []


def test_inactive_after_a_partial_fill_is_reported_as_it_is(tracker: OrderTracker) -> None:
    # the engine's book decides that a partly filled order ends cancelled, not rejected
    tracker.placed("c1", "9", TS)
    tracker.apply_execution(execution("e1", 10))
    assert types(tracker.apply_update(update(Phase.REJECTED), TS)) == [OrderRejected]


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


def test_a_fill_for_an_order_declared_lost_is_reported_and_flags_it_for_cancel(
    tracker: OrderTracker, caplog: pytest.LogCaptureFixture
) -> None:
    tracker.mark_unresolved("c1", 0.0)
    assert [type(e) for e in tracker.rejected("c1", "lost", TS, lost=True)] == [OrderRejected]
    # reported: the engine refuses it (the order is rejected in its book) loudly, never silently
    assert types(tracker.apply_execution(execution("e1", 40, oid="9"))) == [ExecutionReported]
    assert "declared lost" in caplog.text
    assert tracker.take_resurfaced() == {"c1": "9"}  # the broker cancels the rest at IBKR
    assert tracker.take_resurfaced() == {}  # once


def test_an_ordinary_rejection_is_never_flagged_for_cancel(tracker: OrderTracker) -> None:
    tracker.placed("c1", "9", TS)
    tracker.apply_update(update(Phase.REJECTED, oid="9"), TS)
    tracker.apply_update(update(Phase.WORKING, oid="9"), TS)
    assert tracker.take_resurfaced() == {}


LIMIT = REQUEST.model_copy(update={"order_type": OrderType.LIMIT, "limit_price": Decimal("189.00")})


def row(quantity: int, price: str | None, *, filled: int = 0) -> OrderUpdate:
    """A full live-orders row of order 9."""
    return OrderUpdate("9", "c1", Phase.WORKING, "Submitted", Decimal(filled), Decimal(quantity),
                       price=None if price is None else Decimal(price))


def pending(new_quantity: int, new_price: str) -> tuple[OrderTracker, OrderRequest]:
    t = OrderTracker()
    t.register(LIMIT)
    t.placed("c1", "9", TS)
    new = LIMIT.model_copy(update={"quantity": Decimal(new_quantity), "limit_price": Decimal(new_price)})
    t.modify_unresolved(new, since=1.0)
    return t, new


def test_a_lost_modification_is_settled_only_by_a_full_row_that_shows_a_ticket() -> None:
    t, new = pending(60, "188.50")
    assert t.pending_modifies() == [("c1", 1.0)]
    assert t.apply_update(row(60, "188.50"), TS) == []  # a streamed update: not evidence enough
    assert t.apply_update(row(60, None), TS, full=True) == []  # the price missing: neither ticket shown
    [updated] = t.apply_update(row(60, "188.50"), TS, full=True)
    assert isinstance(updated, OrderUpdated)
    assert updated.request == new
    assert t.get("c1").request == new  # type: ignore[union-attr]
    assert t.pending_modifies() == []


def test_a_lost_modification_ibkr_never_applied_is_refused() -> None:
    t, _ = pending(60, "188.50")
    [refused] = t.apply_update(row(100, "189.00"), TS, full=True)
    assert isinstance(refused, OrderCancelRejected)
    assert refused.reason == "modification not applied: IBKR kept the previous ticket"
    assert t.get("c1").request == LIMIT  # type: ignore[union-attr]


def test_a_modification_applied_after_the_order_filled_its_new_size_ends_the_order() -> None:
    t, _ = pending(40, "188.50")
    t.apply_execution(execution("e1", 40, oid="9"))
    [updated] = t.apply_update(row(40, "188.50", filled=40), TS, full=True)
    assert isinstance(updated, OrderUpdated)
    assert t.open_orders() == []


def test_waiting_for_a_lost_modification_can_be_given_up() -> None:
    t, _ = pending(60, "188.50")
    [refused] = t.give_up_modify("c1", "outcome unknown", TS)
    assert isinstance(refused, OrderCancelRejected)
    assert t.pending_modifies() == []
    assert t.give_up_modify("c1", "again", TS) == []


def test_a_modification_applied_before_the_order_filled_at_it_is_still_reported() -> None:
    t, new = pending(100, "188.50")
    t.apply_execution(execution("e1", 100, oid="9"))  # filled at the new limit before the row came
    assert t.open_orders() == []
    [updated] = t.apply_update(row(100, "188.50", filled=100), TS, full=True)
    assert isinstance(updated, OrderUpdated)
    assert updated.request == new


def test_a_finished_order_whose_lost_modification_was_not_applied_needs_no_answer() -> None:
    t, _ = pending(100, "188.50")
    t.apply_execution(execution("e1", 100, oid="9"))
    assert t.apply_update(row(100, "189.00", filled=100), TS, full=True) == []
    assert t.pending_modifies() == []
