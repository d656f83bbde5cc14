"""The kill switch denies new orders, drops unsent ones, cancels open ones, and survives a restart until cleared."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

from framework.commands import CancelAllOrders
from framework.engine import Engine
from framework.events import OrderCancelled
from framework.events import OrderDenied
from framework.events import TimerFired
from framework.killswitch import KillSwitch
from framework.killswitch import clear
from framework.killswitch import halt
from framework.killswitch import halt_reason
from framework.models import Instrument
from framework.models import OrderRequest
from framework.models import OrderStatus
from framework.testing import EventRecorder
from framework.testing import FakeClock
from framework.testing import ScriptedBroker

AAPL = Instrument(symbol="AAPL")


def limit(cid: str) -> OrderRequest:
    return OrderRequest(
        client_order_id=cid, instrument=AAPL, side="buy", quantity=1, order_type="limit", limit_price=90
    )


def build(flag: Path, clock: FakeClock) -> tuple[Engine, ScriptedBroker, KillSwitch, EventRecorder]:
    broker = ScriptedBroker(clock, auto_cancel=True)
    engine = Engine(broker, clock=clock)
    switch = KillSwitch(flag)
    engine.add_kill_switch(switch)
    recorder = EventRecorder(engine.bus, [OrderDenied, OrderCancelled])
    engine.start()
    return engine, broker, switch, recorder


def test_engage_cancels_open_orders_and_denies_new_ones(tmp_path: Path) -> None:
    clock = FakeClock()
    engine, broker, switch, recorder = build(tmp_path / "HALT", clock)
    for cid in ("a", "b"):
        engine.submit_order(limit(cid))
    engine.run_pending()
    switch.engage("operator said stop")
    engine.run_pending()
    assert sorted(broker.cancel_requests) == ["a", "b"]
    assert len(recorder.of(OrderCancelled)) == 2
    engine.submit_order(limit("c"))
    engine.run_pending()
    assert recorder.of(OrderDenied)[0].reason == "trading halted: operator said stop"
    assert [r.client_order_id for r in broker.submitted] == ["a", "b"]


def test_flag_file_written_by_another_process_halts_within_one_poll(tmp_path: Path) -> None:
    clock = FakeClock()
    flag = tmp_path / "HALT"
    engine, broker, switch, _ = build(flag, clock)
    engine.submit_order(limit("a"))
    engine.run_pending()
    halt(flag, "from the CLI", clock.now())
    assert not switch.halted  # not yet polled
    clock.advance(timedelta(seconds=1))
    engine.run_pending()
    assert switch.halted
    assert broker.cancel_requests == ["a"]


def test_halt_survives_a_restart_until_cleared(tmp_path: Path) -> None:
    flag = tmp_path / "state" / "HALT"
    clock = FakeClock()
    first, _, switch, _ = build(flag, clock)
    switch.engage("daily loss")
    first.stop()
    engine, broker, restarted, _ = build(flag, clock)
    assert restarted.halted
    assert restarted.reason == "daily loss"
    engine.submit_order(limit("x"))
    engine.run_pending()
    assert broker.submitted == []
    restarted.release()
    engine.submit_order(limit("y"))
    engine.run_pending()
    assert [r.client_order_id for r in broker.submitted] == ["y"]
    assert not flag.exists()


def test_removing_the_flag_file_clears_at_the_next_poll(tmp_path: Path) -> None:
    clock = FakeClock()
    flag = tmp_path / "HALT"
    halt(flag, "x", clock.now())
    engine, _, switch, _ = build(flag, clock)
    assert switch.halted
    assert clear(flag)
    assert not clear(flag)
    clock.advance(timedelta(seconds=1))
    engine.run_pending()
    assert not switch.halted


def test_hand_made_flag_file_with_plain_text(tmp_path: Path) -> None:
    flag = tmp_path / "HALT"
    flag.write_text("stop everything\n", encoding="utf-8")
    assert halt_reason(flag) == "stop everything"
    flag.write_text("", encoding="utf-8")
    assert halt_reason(flag) == "halted"


def test_engage_drops_commands_the_broker_has_not_sent_and_reports_them_never_sent(tmp_path: Path) -> None:
    clock = FakeClock()
    engine, broker, switch, recorder = build(tmp_path / "HALT", clock)
    broker.hold_commands = True  # the adapter's worker is stuck sending something else
    for cid in ("a", "b"):
        engine.submit_order(limit(cid))
    switch.engage("stop")
    broker.release_commands()
    engine.run_pending()
    assert broker.submitted == []  # neither ever reached the venue
    assert [(e.client_order_id, e.reason) for e in recorder.of(OrderDenied)] == [
        ("a", "never sent: trading halted (stop)"), ("b", "never sent: trading halted (stop)")]
    assert {o.status for o in engine.orders.all()} == {OrderStatus.DENIED}
    assert isinstance(broker.commands[-1], CancelAllOrders)


def test_the_watcher_thread_halts_without_the_dispatcher(tmp_path: Path) -> None:
    # nobody drains the engine's queue here: the halt must not depend on the dispatcher
    clock = FakeClock()
    flag = tmp_path / "HALT"
    engine, broker, switch, _ = build(flag, clock)
    engine.submit_order(limit("a"))
    switch.start()
    try:
        halt(flag, "from another process", clock.now())
        assert switch.engaged.wait(timeout=5), "the watcher did not halt"
    finally:
        switch.stop()
    assert engine.gateway.halt_reason == "from another process"
    assert isinstance(broker.commands[-1], CancelAllOrders)
    assert broker.cancel_requests == ["a"]
    engine.submit_order(limit("b"))
    engine.run_pending()
    assert [r.client_order_id for r in broker.submitted] == ["a"]


def test_a_halt_while_a_strategy_handler_is_stuck_still_takes_effect(tmp_path: Path) -> None:
    clock = FakeClock()
    flag = tmp_path / "HALT"
    engine, broker, switch, _ = build(flag, clock)
    stuck, release = threading.Event(), threading.Event()

    def slow_handler(event: object) -> None:
        stuck.set()
        release.wait(timeout=10)

    engine.bus.subscribe(TimerFired, slow_handler, sender="slow")
    engine.timers.schedule("slow", "t", clock.now())
    dispatcher = threading.Thread(target=engine.run_pending)
    dispatcher.start()
    try:
        assert stuck.wait(timeout=5)
        switch.engage("stop now")  # from this thread, while the dispatcher is inside a handler
        assert engine.gateway.deny_reason(limit("z")) == "trading halted: stop now"
        assert isinstance(broker.commands[-1], CancelAllOrders)
    finally:
        release.set()
        dispatcher.join(timeout=5)
