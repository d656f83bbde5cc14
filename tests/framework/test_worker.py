"""The command worker: lanes that never wait on each other, per-order issue order, the kill switch's drop."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from framework.commands import CancelAllOrders
from framework.commands import CancelOrder
from framework.commands import ModifyOrder
from framework.commands import OrderCommand
from framework.commands import SubmitOrder
from framework.events import AnyEvent
from framework.events import OrderCancelled
from framework.models import Instrument
from framework.models import OrderRequest
from framework.testing import FakeClock
from framework.worker import CommandWorker

BOUND = 10.0  # seconds a lane may take to react; never reached when it works


def submit(cid: str, quantity: int = 1) -> SubmitOrder:
    return SubmitOrder(OrderRequest(client_order_id=cid, instrument=Instrument(symbol="A"), side="buy",
                                    quantity=Decimal(quantity)))


def modify(cid: str, quantity: int) -> ModifyOrder:
    return ModifyOrder(submit(cid, quantity).request)


def lane(command: OrderCommand) -> str:
    return "cancel" if isinstance(command, CancelOrder | CancelAllOrders) else "place"


class Venue:
    """Records what reached it; a command can be made to block until the test releases it."""

    def __init__(self) -> None:
        self.sent: list[OrderCommand] = []
        self.blocked: set[str] = set()
        self.entered = threading.Event()
        self.release = threading.Event()
        self.changed = threading.Condition()

    def execute(self, command: OrderCommand) -> None:
        if command.client_order_id in self.blocked:
            self.entered.set()
            assert self.release.wait(BOUND)
        with self.changed:
            self.sent.append(command)
            self.changed.notify_all()

    def wait_sent(self, count: int) -> list[OrderCommand]:
        """Block until ``count`` commands reached the venue (bounded); return them."""
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.sent) >= count, timeout=BOUND), self.sent
            return list(self.sent)


def worker_for(venue: Venue, events: list[AnyEvent] | None = None, **kwargs: object) -> CommandWorker:
    sink = (events if events is not None else []).append
    return CommandWorker(venue.execute, lane_of=lane, lanes=("place", "cancel"), sink=sink, clock=FakeClock(),
                         **kwargs)  # type: ignore[arg-type]


def test_without_threads_commands_run_in_issue_order() -> None:
    venue = Venue()
    worker = worker_for(venue)
    commands = [submit("a"), submit("b"), CancelOrder("x"), modify("b", 2)]
    for command in commands:
        worker.put(command)
    assert worker.run_pending() == 4
    assert venue.sent == commands


def test_a_cancel_of_an_order_not_sent_yet_removes_it_and_the_venue_never_sees_it() -> None:
    venue, events = Venue(), []
    worker = worker_for(venue, events)
    worker.put(submit("a"))
    worker.put(modify("a", 3))
    worker.put(CancelOrder("a"))
    assert worker.run_pending() == 0
    assert venue.sent == []
    assert [(type(e), e.client_order_id, e.reason) for e in events] == [  # type: ignore[union-attr]
        (OrderCancelled, "a", "cancelled before it was sent")]


def test_drop_unsent_returns_placements_and_keeps_cancels() -> None:
    venue = Venue()
    worker = worker_for(venue)
    for command in (submit("a"), CancelOrder("x"), modify("y", 2), CancelAllOrders("stop")):
        worker.put(command)
    dropped = worker.drop_unsent()
    assert dropped == [submit("a"), modify("y", 2)]
    worker.run_pending()
    assert venue.sent == [CancelOrder("x"), CancelAllOrders("stop")]


def test_a_cancel_never_waits_behind_a_placement_stuck_in_io() -> None:
    venue = Venue()
    venue.blocked.add("stuck")
    worker = worker_for(venue)
    worker.start()
    try:
        worker.put(submit("stuck"))
        assert venue.entered.wait(BOUND)  # the placement lane is inside the venue call
        worker.put(submit("behind"))  # waits on the placement lane
        worker.put(CancelOrder("earlier"))  # another order's cancel: its own lane
        worker.put(CancelAllOrders("stop"))
        assert venue.wait_sent(2) == [CancelOrder("earlier"), CancelAllOrders("stop")]
        assert worker.drop_unsent() == [submit("behind")]
        venue.release.set()
        assert venue.wait_sent(3)[-1] == submit("stuck")  # the stuck one finished; the dropped one never went
    finally:
        venue.release.set()
        worker.stop()


def test_a_cancel_of_an_order_being_sent_waits_for_it() -> None:
    venue = Venue()
    venue.blocked.add("a")
    worker = worker_for(venue)
    worker.start()
    try:
        worker.put(submit("a"))
        assert venue.entered.wait(BOUND)
        worker.put(CancelOrder("a"))  # its submission is on the wire: the cancel must follow it
        assert worker.pending() == 1
        venue.release.set()
        assert venue.wait_sent(2) == [submit("a"), CancelOrder("a")]
    finally:
        venue.release.set()
        worker.stop()


def test_an_exception_in_one_command_does_not_end_the_lane() -> None:
    failures: list[tuple[OrderCommand, Exception]] = []

    def explode(command: OrderCommand) -> None:
        if command.client_order_id == "bad":
            msg = "venue bug"
            raise RuntimeError(msg)
        sent.append(command)

    sent: list[OrderCommand] = []
    worker = CommandWorker(explode, lane_of=lane, lanes=("place", "cancel"), sink=[].append, clock=FakeClock(),
                           on_error=lambda c, e: failures.append((c, e)))
    worker.put(submit("bad"))
    worker.put(submit("good"))
    assert worker.run_pending() == 2
    assert sent == [submit("good")]
    assert worker.errors == 1
    assert [(c, str(e)) for c, e in failures] == [(submit("bad"), "venue bug")]


@pytest.mark.parametrize("command", [submit("a"), modify("a", 2)])
def test_placements_are_what_the_kill_switch_drops(command: OrderCommand) -> None:
    worker = worker_for(Venue())
    worker.put(command)
    assert worker.drop_unsent() == [command]
    assert worker.pending() == 0
