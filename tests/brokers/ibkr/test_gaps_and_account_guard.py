"""The stream's data gaps (``DataGap`` per streamed instrument when the stream is back), and the
account guard (start-up: paper only when every sign agrees; running: an ``act`` listing another
account halts trading and nothing more is placed)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from brokers.ibkr import IbkrBroker
from brokers.ibkr.accountguard import AccountGuard
from brokers.ibkr.accountguard import is_paper
from brokers.ibkr.stream import IbkrStream
from brokers.ibkr.stream import StreamState
from framework.commands import ModifyOrder
from framework.commands import SubmitOrder
from framework.errors import BrokerConnectionError
from framework.events import BarClosed
from framework.events import CommandNotSent
from framework.events import DataGap
from framework.events import HaltRequested
from framework.models import Instrument
from framework.models import OrderRequest
from framework.testing import FakeClock
from tests.brokers.ibkr.fakes import FakeAdapter
from tests.brokers.ibkr.fakes import FakeWsFactory
from tests.brokers.ibkr.fakes import Reply
from tests.brokers.ibkr.fakes import advancing_sleep
from tests.brokers.ibkr.fakes import fake_session
from tests.brokers.ibkr.fakes import fixture
from tests.brokers.ibkr.fakes import gateway_routes
from tests.brokers.ibkr.fakes import make_config

AAPL = Instrument(symbol="AAPL", broker_id="265598", exchange="NASDAQ")
MSFT = Instrument(symbol="MSFT", broker_id="272093", exchange="NASDAQ")
HB = {"topic": "system", "hb": 1}


def authenticate(factory: FakeWsFactory) -> None:
    factory.last.push(fixture("ws_sts_authenticated"))


def test_the_first_open_has_no_gap_and_a_reopen_names_it(clock: FakeClock) -> None:
    factory = FakeWsFactory()
    stream = IbkrStream(make_config(ws_stall_timeout=24), clock, factory, rng=random.Random(1))
    stream.open("s")
    authenticate(factory)
    assert [c.gap for c in stream.poll().changes] == [None, None]  # authenticating, open
    clock.advance(timedelta(seconds=5))
    factory.last.push(HB)
    stream.poll()
    last_data = clock.now()
    clock.advance(timedelta(seconds=25))  # silent past the stall timeout
    assert [c.state for c in stream.tick(clock.monotonic())] == [StreamState.CLOSED]
    clock.advance(timedelta(seconds=1))
    stream.tick(clock.monotonic())  # reconnect (back-off 0.5-1 s)
    authenticate(factory)
    opened = [c for c in stream.poll().changes if c.state is StreamState.OPEN]
    assert [c.gap for c in opened] == [(last_data, clock.now())]
    stream.close()
    stream.open("s")  # a fresh start after a close by request: no gap
    authenticate(factory)
    assert [c.gap for c in stream.poll().changes if c.state is StreamState.OPEN] == [None]


@pytest.fixture
def world(clock: FakeClock) -> Iterator[tuple[IbkrBroker, FakeWsFactory, FakeAdapter, list[Any]]]:
    adapter = FakeAdapter()
    gateway_routes(adapter)
    factory = FakeWsFactory()
    events: list[Any] = []
    with fake_session(adapter) as session:
        broker = IbkrBroker(make_config(), clock=clock, session=session, ws_connect=factory,
                            sleep=advancing_sleep(clock), start_threads=False, rng=random.Random(3))
        broker.connect(events.append)
        factory.last.push(fixture("ws_sts_authenticated"), fixture("ws_system_success"))
        while broker.poll_stream():
            pass
        yield broker, factory, adapter, events
        broker.disconnect()


def test_a_reconnect_emits_a_data_gap_per_streamed_instrument(
    world: tuple[IbkrBroker, FakeWsFactory, FakeAdapter, list[Any]], clock: FakeClock,
) -> None:
    broker, factory, _, events = world
    broker.subscribe_quotes(AAPL)
    broker.subscribe_bars(MSFT, timedelta(minutes=1))
    factory.last.push(HB)
    broker.poll_stream()
    start = clock.now()
    factory.last.push(ConnectionResetError("reset by peer"))
    broker.poll_stream()
    clock.advance(timedelta(seconds=2))
    broker.tick()
    factory.last.push(fixture("ws_sts_authenticated"))
    broker.poll_stream()
    gaps = [e for e in events if isinstance(e, DataGap)]
    assert [(g.symbol, g.start, g.end) for g in gaps] == [("AAPL", start, clock.now()), ("MSFT", start, clock.now())]


def test_the_volume_traded_during_a_gap_is_not_one_trade(
    world: tuple[IbkrBroker, FakeWsFactory, FakeAdapter, list[Any]], clock: FakeClock,
) -> None:
    broker, factory, _, events = world
    broker.subscribe_bars(AAPL, timedelta(minutes=1))
    smd = fixture("ws_smd") | {"7762": "1000"}
    factory.last.push(smd, {"topic": "smd+265598", "conid": 265598, "31": "189.70", "7762": "1100"})
    while broker.poll_stream():
        pass
    factory.last.push(ConnectionResetError("reset by peer"))
    broker.poll_stream()
    clock.advance(timedelta(seconds=2))
    broker.tick()
    factory.last.push(fixture("ws_sts_authenticated"), smd | {"31": "189.80", "7762": "90000"})
    while broker.poll_stream():
        pass
    clock.advance(timedelta(minutes=2))
    broker.tick()  # flushes the bar
    [bar] = [e.bar for e in events if isinstance(e, BarClosed)]
    # the first print and the volume step seen live (100 each) and the first print after the gap, by its
    # size (a new baseline); not the 88,900 traded while the stream was down
    assert bar.volume == 300


def test_paper_needs_every_sign_to_agree() -> None:
    assert is_paper("DU1234567", True, "DEMO")
    assert is_paper("DU1234567", None, None)
    assert not is_paper("U1234567", True, "DEMO")  # a live id, whatever the flags say
    assert not is_paper("DU1234567", False, "DEMO")
    assert not is_paper("DU1234567", True, "INDIVIDUAL")


@pytest.mark.parametrize(("listed", "is_paper_flag", "account_type"), [
    (["U7654321"], True, "DEMO"),  # a U... account flagged paper
    (["DU1234567"], True, "INDIVIDUAL"),  # no DEMO
    (["DU1234567"], False, "DEMO"),  # flagged live
])
def test_start_up_refuses_an_account_that_is_not_clearly_paper(
    clock: FakeClock, listed: list[str], is_paper_flag: bool, account_type: str,
) -> None:
    adapter = FakeAdapter()
    gateway_routes(adapter)
    accounts = fixture("http_get_iserver_accounts") | {"accounts": listed, "isPaper": is_paper_flag}
    adapter.on("GET", "/iserver/accounts", Reply(200, accounts))
    adapter.on("GET", "/portfolio/accounts", Reply(200, [{"id": listed[0], "type": account_type}]))
    with fake_session(adapter) as session:
        broker = IbkrBroker(make_config(), clock=clock, session=session, ws_connect=FakeWsFactory(),
                            sleep=advancing_sleep(clock), start_threads=False)
        with pytest.raises(BrokerConnectionError, match="is not a paper account"):
            broker.connect(lambda event: None)
    assert not [p for p in adapter.paths("POST") if p.endswith("/orders")]


def test_the_guard_trips_once_on_a_missing_or_a_strange_account() -> None:
    guard = AccountGuard()
    assert guard.check(["U1"]) is None  # nothing admitted yet: nothing to compare
    guard.admit("DU1234567", ["DU1234567", "DU1234568"])
    assert guard.check(["DU1234568", "DU1234567"]) is None
    assert guard.check(["DU1234567", "U7654321"]) == (
        "the gateway's session lists account U****321, which is not this run's")
    assert guard.check(["U9999999"]) is None  # tripped already: said once
    other = AccountGuard()
    other.admit("DU1234567", ["DU1234567"])
    assert other.check(["U7654321"]) == (
        "the gateway's session no longer lists account DU****567 (it lists U****321)")


def order(cid: str) -> OrderRequest:
    return OrderRequest(client_order_id=cid, instrument=AAPL, side="buy", quantity=1, order_type="limit",
                        limit_price=100)


def test_an_act_with_another_account_halts_and_nothing_more_is_placed(
    world: tuple[IbkrBroker, FakeWsFactory, FakeAdapter, list[Any]],
) -> None:
    broker, factory, adapter, events = world
    broker.execute(SubmitOrder(order("queued")))  # queued on the worker, not sent yet
    other = fixture("ws_act")
    other["args"]["accounts"] = ["U7654321"]
    factory.last.push(other)
    broker.poll_stream()
    broker.execute(ModifyOrder(order("queued")))
    broker.run_commands()
    [halt] = [e for e in events if isinstance(e, HaltRequested)]
    assert (halt.source, halt.reason) == (
        "ibkr", "the gateway's session no longer lists account DU****567 (it lists U****321)")
    assert [(e.client_order_id, e.command) for e in events if isinstance(e, CommandNotSent)] == [
        ("queued", "submit"), ("queued", "modify")]
    assert all(e.reason.startswith("trading stopped: the gateway's session") for e in events
               if isinstance(e, CommandNotSent))
    assert not [p for p in adapter.paths("POST") if "/orders" in p or "/order/" in p]
