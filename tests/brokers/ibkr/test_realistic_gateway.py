"""The adapter against the simulated gateway with exchange trading hours and every [U] wire form (R22).

The gateway runs on a simulated clock set where each test needs the market (closed, pre-market, the
close), with keep-alive limits out of the way; the adapter runs on the wall clock with real threads.
Waits are event-driven, as in ``test_simulator_integration``: the test thread runs the dispatcher
until a condition holds or a generous deadline passes. Every run ends with no frame skipped by the
adapter (``sor`` prices as numbers, bare-text echoes and frozen quotes are all read).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests

from brokers.ibkr import IbkrBroker
from brokers.ibkr import IbkrConfig
from brokers.ibkr.errors import IbkrAuthError
from brokers.ibkr.wsconnect import WsConnection
from brokers.ibkr.wsconnect import connect_websocket
from framework.broker import ConnectionState
from framework.clock import SimulatedClock
from framework.clock import SystemClock
from framework.config import EngineConfig
from framework.engine import Engine
from framework.events import OrderAccepted
from framework.events import OrderCancelled
from framework.events import OrderExpired
from framework.events import OrderFilled
from framework.events import OrderRejected
from framework.events import QuoteUpdated
from framework.models import OrderRequest
from framework.models import OrderStatus
from framework.models import OrderType
from framework.models import Side
from framework.models import TimeInForce
from framework.testing import EventRecorder
from simulators.ibkr import SimulatedGateway
from simulators.ibkr import SimulatorConfig
from simulators.ibkr.sessions import OUTSIDE_RTH_ERROR

ALLOWED = frozenset({"o163", "o354", "o383", "o403", "o451", "o10331"})
DEADLINE = 15.0
HOURS = SimulatorConfig(
    market_mode="manual", pacing_enabled=False, seed=11, market_hours="exchange", submit_latency=0.01,
    cancel_latency=0.01, idle_timeout=40 * 86400, sso_lifetime=80 * 86400, heartbeat_interval=3600,
    spl_interval=3600,
)
PRE_MARKET = datetime(2024, 1, 2, 13, 0, tzinfo=UTC)  # 08:00 New York, a Tuesday


class Recorded:
    """A real websocket connection that keeps every frame it received (to see what the gateway sent)."""

    def __init__(self, conn: WsConnection, frames: list[str | bytes]) -> None:
        self._conn = conn
        self._frames = frames

    def send(self, text: str) -> None:
        self._conn.send(text)

    def recv(self) -> str | bytes | None:
        data = self._conn.recv()
        if data is not None:
            self._frames.append(data)
        return data

    def close(self) -> None:
        self._conn.close()


class Run:
    """An engine on the IBKR adapter, connected to a gateway whose market runs on a simulated clock."""

    def __init__(self, gw: SimulatedGateway, clock: SimulatedClock, **adapter: Any) -> None:
        self.gw = gw
        self.clock = clock
        self.frames: list[str | bytes] = []
        config = IbkrConfig.model_validate({
            "base_url": gw.base_url, "ws_url": gw.ws_url, "ca_file": gw.ca_file,
            "auto_confirm_message_ids": ALLOWED, "reconnect_initial": 0.2, "reconnect_max": 2.0,
            "ws_stall_timeout": 600.0, "order_lookup_window": 8.0, **adapter,
        })

        def connect(url: str, **kw: Any) -> WsConnection:
            return Recorded(connect_websocket(url, config=config, **kw), self.frames)

        self.broker = IbkrBroker(config, clock=SystemClock(), ws_connect=connect)
        self.engine = Engine(self.broker, clock=SystemClock(), config=EngineConfig(raise_errors=True))
        self.recorder = EventRecorder(self.engine.bus)
        gw.set_quote("AAPL", bid="189.90", ask="190.00", last="189.95")
        self.engine.start()

    def wait_for(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            self.engine.run_pending()
            if condition():
                return
            time.sleep(0.01)  # yield to the adapter threads between dispatcher passes
        pytest.fail(f"timed out waiting for {what}; events: {self.recorder.types()[-15:]}")

    def until(self, when: datetime) -> None:
        """Move the gateway's market to ``when`` (the adapter keeps the wall clock)."""
        self.gw.advance((when - self.clock.now()).total_seconds())

    def submit(self, cid: str, price: str | None = None, **ticket: Any) -> None:
        priced = {"order_type": OrderType.LIMIT, "limit_price": Decimal(price)} if price else {}
        self.engine.submit_order(OrderRequest(client_order_id=cid, strategy_id="t",
                                              instrument=self.engine.instrument("AAPL"), side=Side.BUY,
                                              quantity=Decimal(10), **priced, **ticket))

    def broker_id(self, cid: str) -> str:
        order = self.engine.orders.get(cid)
        assert order is not None
        assert order.broker_order_id is not None
        return order.broker_order_id

    def other_client(self) -> requests.Session:
        """Another client of the gateway (TWS, a desk, a second script), outside the adapter."""
        other = requests.Session()
        other.verify = str(self.gw.ca_file)
        other.trust_env = False
        return other

    def at_ibkr(self, cid: str) -> str:
        """The order's status at the gateway, asked by another client (the adapter's view aside)."""
        with self.other_client() as other:
            answer = other.get(f"{self.gw.base_url}/iserver/account/order/status/{self.broker_id(cid)}", timeout=10)
        return str(answer.json()["order_status"])

    def of(self, kind: type, cid: str) -> list[Any]:
        return [e for e in self.recorder.of(kind) if e.client_order_id == cid]

    def status(self, cid: str) -> OrderStatus:
        order = self.engine.orders.get(cid)
        assert order is not None
        return order.status


@contextmanager
def run(start: datetime, *, adapter: dict[str, Any] | None = None, **gateway: Any) -> Iterator[Run]:
    clock = SimulatedClock(start)
    with SimulatedGateway(port=0, config=HOURS.with_updates(gateway), clock=clock) as gw:
        made = Run(gw, clock, **(adapter or {}))
        try:
            yield made
            assert dict(made.broker.stream.skipped) == {}, "the adapter skipped frames it should have read"
        finally:
            made.engine.stop()
            made.recorder.close()


# ------------------------------------------------------------------ R22: trading hours


def test_r22_an_outside_rth_refusal_is_a_definitive_rejection_with_ibkrs_text() -> None:
    """R22: ``invalid order attribute : Outside Regular Trading Hours`` ends the order as rejected, no lookup."""
    with run(datetime(2024, 1, 3, 2, 0, tzinfo=UTC), outside_rth_orders="reject") as r:  # 21:00 New York
        r.submit("closed", "189.00", outside_rth=True)
        r.wait_for(lambda: r.of(OrderRejected, "closed") != [], "the rejection")
        assert r.of(OrderRejected, "closed")[0].reason == OUTSIDE_RTH_ERROR
        assert r.status("closed") is OrderStatus.REJECTED
        assert r.gw.state()["orders"] == 0
        assert r.gw.state()["placement_posts"] == {"closed": 1}  # refused once, not looked up as ambiguous
        assert r.broker.tracker.unresolved() == []


def test_r22_a_day_order_the_broker_cancels_at_the_close_is_expired() -> None:
    """R22: IBKR's unsolicited cancel of a DAY order at 16:00 is recorded as ``OrderExpired``; ours stay cancels."""
    with run(datetime(2024, 1, 2, 20, 59, tzinfo=UTC)) as r:  # 15:59 New York
        r.submit("day", "185.00")
        r.submit("gtc", "185.00", time_in_force=TimeInForce.GTC)
        r.wait_for(lambda: r.of(OrderAccepted, "day") != [] and r.of(OrderAccepted, "gtc") != [], "acknowledgements")
        r.gw.advance(1)
        assert (r.at_ibkr("day"), r.at_ibkr("gtc")) == ("Submitted", "Submitted")
        r.until(datetime(2024, 1, 2, 21, 0, tzinfo=UTC))
        r.wait_for(lambda: r.of(OrderExpired, "day") != [], "the broker's cancel at the close")
        assert r.status("day") is OrderStatus.EXPIRED
        assert r.of(OrderCancelled, "day") == []
        assert r.at_ibkr("gtc") == "PreSubmitted"  # held for the next session, still working
        assert r.status("gtc") is OrderStatus.ACCEPTED
        r.engine.cancel_order("gtc")
        r.wait_for(lambda: r.at_ibkr("gtc") == "PendingCancel", "the cancel request at IBKR")
        r.gw.advance(1)
        r.wait_for(lambda: r.of(OrderCancelled, "gtc") != [], "our own cancel")
        assert r.of(OrderCancelled, "gtc")[0].reason == "cancelled"


def test_r22_a_cancel_by_the_broker_during_the_session_is_recorded_as_not_requested() -> None:
    """R22: a cancel nobody here asked for, in regular hours, is ``OrderCancelled`` saying so (not an expiry)."""
    with run(datetime(2024, 1, 2, 15, 0, tzinfo=UTC)) as r:  # 10:00 New York
        r.submit("elsewhere", "185.00")
        r.wait_for(lambda: r.of(OrderAccepted, "elsewhere") != [], "the acknowledgement")
        with r.other_client() as other:  # someone else cancels it at IBKR
            url = f"{r.gw.base_url}/iserver/account/DU1234567/order/{r.broker_id('elsewhere')}"
            assert other.delete(url, timeout=10).ok
        r.gw.advance(1)
        r.wait_for(lambda: r.of(OrderCancelled, "elsewhere") != [], "the cancel")
        assert r.of(OrderCancelled, "elsewhere")[0].reason == "cancelled by IBKR (not requested)"
        assert r.of(OrderExpired, "elsewhere") == []


def test_r22_a_cancel_by_the_broker_long_after_the_close_is_not_taken_for_an_expiry() -> None:
    """R22: only a cancel close to the session's end is an expiry; one at 17:30 New York is a cancel we did not ask
    for (a previous run of ours may have sent it and died before journaling it: the crash test meets this)."""
    with run(datetime(2024, 1, 2, 22, 30, tzinfo=UTC), market_hours="always") as r:  # 17:30 New York
        r.submit("evening", "185.00")
        r.wait_for(lambda: r.of(OrderAccepted, "evening") != [], "the acknowledgement")
        with r.other_client() as other:
            url = f"{r.gw.base_url}/iserver/account/DU1234567/order/{r.broker_id('evening')}"
            assert other.delete(url, timeout=10).ok
        r.gw.advance(1)
        r.wait_for(lambda: r.of(OrderCancelled, "evening") != [], "the cancel")
        assert r.of(OrderCancelled, "evening")[0].reason == "cancelled by IBKR (not requested)"
        assert r.of(OrderExpired, "evening") == []


def test_r22_an_inactive_order_is_a_rejection_with_ibkrs_description() -> None:
    """R22: an order IBKR accepts ``Inactive`` outside its hours is rejected with IBKR's words for why."""
    with run(PRE_MARKET, outside_rth_orders="inactive") as r:
        r.submit("inactive", "189.00")  # regular hours only, in pre-market
        r.wait_for(lambda: r.of(OrderRejected, "inactive") != [], "the rejection")
        assert r.of(OrderRejected, "inactive")[0].reason == f"IBKR status Inactive: {OUTSIDE_RTH_ERROR}"
        assert r.status("inactive") is OrderStatus.REJECTED
        assert r.at_ibkr("inactive") == "Inactive"
        assert r.broker.tracker.unresolved() == []


def test_r22_an_order_held_while_closed_fills_at_the_open_and_quotes_say_frozen() -> None:
    """R22: quotes of a closed market arrive frozen; a held order works and fills once the session opens."""
    with run(datetime(2024, 1, 2, 21, 30, tzinfo=UTC)) as r:  # after-hours
        r.engine.subscriptions.subscribe_quotes("AAPL")
        r.wait_for(lambda: r.recorder.of(QuoteUpdated) != [], "a quote")
        assert r.recorder.of(QuoteUpdated)[-1].quote.frozen is False
        r.until(datetime(2024, 1, 3, 1, 0, tzinfo=UTC))  # 20:00: closed
        r.wait_for(lambda: r.recorder.of(QuoteUpdated)[-1].quote.frozen, "a frozen quote")
        r.submit("held", "191.00")  # marketable, regular hours only
        r.wait_for(lambda: r.of(OrderAccepted, "held") != [], "the acknowledgement")
        r.gw.advance(1)
        assert r.at_ibkr("held") == "PreSubmitted"
        assert r.status("held") is OrderStatus.ACCEPTED
        r.until(datetime(2024, 1, 3, 14, 30, tzinfo=UTC))  # 09:30: the open
        r.wait_for(lambda: r.of(OrderFilled, "held") != [], "the fill at the open")
        r.wait_for(lambda: r.recorder.of(QuoteUpdated)[-1].quote.frozen is False, "a live quote")


def test_r22_an_outside_rth_order_trades_in_pre_market_and_its_flag_is_read_back() -> None:
    """R22: ``outsideRTH`` is honoured (a pre-market fill) and read from live orders by a fresh adapter."""
    with run(PRE_MARKET) as r:
        r.submit("early", "191.00", outside_rth=True)  # marketable
        r.submit("resting", "150.00", outside_rth=True, time_in_force=TimeInForce.GTC)  # far below: asks o163
        r.wait_for(lambda: r.of(OrderAccepted, "early") != [] and r.of(OrderAccepted, "resting") != [],
                   "acknowledgements")
        r.gw.advance(1)  # past the gateway's submit latency: both work now, in pre-market
        r.wait_for(lambda: r.of(OrderFilled, "early") != [], "the pre-market fill")
        assert r.at_ibkr("resting") == "Submitted"
        fresh = IbkrBroker(r.broker.config, clock=SystemClock(), start_threads=False)  # a restarted process
        fresh.connect(lambda event: None)
        try:
            adopted = {o.client_order_id: o.request for o in fresh.open_orders()}
        finally:
            fresh.disconnect()
        assert adopted["resting"].outside_rth is True
        assert adopted["resting"].time_in_force is TimeInForce.GTC


# ------------------------------------------------------------------ the [U] forms, every variant


@pytest.mark.parametrize("form", ["json", "empty", "html"])
def test_every_401_body_form_reads_as_a_lost_session(form: str) -> None:
    with run(PRE_MARKET, unauthorized_body=form) as r:
        losses_before = r.broker.rest.session_losses()[0]
        r.gw.logout()
        with pytest.raises(IbkrAuthError):
            r.broker.rest.brokerage_accounts()
        assert r.broker.rest.session_losses()[0] == losses_before + 1
        r.wait_for(lambda: r.broker.connection_state is not ConnectionState.CONNECTED, "the adapter to notice")


@pytest.mark.parametrize("form", ["empty", "error"])
def test_a_secdef_search_without_a_match_reads_as_no_contract_in_every_form(form: str) -> None:
    with run(PRE_MARKET, secdef_no_match=form) as r:
        assert r.broker.rest.search_contracts("NOSUCH", "STK") == []
        with pytest.raises(LookupError, match="NOSUCH"):
            r.broker.resolve_instrument("NOSUCH")
        assert r.broker.resolve_instrument("AAPL").broker_id == "265598"  # known symbols still resolve


@pytest.mark.parametrize("form", ["uuid", "hex", "number"])
def test_reply_ids_of_every_form_are_answered(form: str) -> None:
    with run(PRE_MARKET, reply_id_format=form) as r:
        r.submit("far", "150.00", outside_rth=True, time_in_force=TimeInForce.GTC)  # o163: price far away
        r.wait_for(lambda: r.of(OrderAccepted, "far") != [], "the acknowledgement after the question")
        assert r.gw.state()["orders"] == 1


@pytest.mark.parametrize("form", ["json", "text"])
def test_the_echo_keepalive_is_read_in_every_form(form: str) -> None:
    echoed = (b"ech+hb",) if form == "text" else ()
    with run(PRE_MARKET, adapter={"ws_tic_interval": 0.2}, echo_form=form) as r:

        def echoes() -> int:
            return sum(1 for f in r.frames if f in echoed or (f.startswith(b"{") and  # type: ignore[union-attr]
                                                             json.loads(f).get("topic") == "ech+hb"))

        r.wait_for(lambda: echoes() >= 2, "two answers to ech+hb")
        assert r.broker.stream.malformed == 0
        assert r.broker.connection_state is ConnectionState.CONNECTED


@pytest.mark.parametrize("anchor", ["end", "start"])
def test_history_of_a_past_window_arrives_whatever_start_time_marks(anchor: str) -> None:
    with run(datetime(2024, 1, 3, 15, 0, tzinfo=UTC), history_start_time=anchor, history_latency=0) as r:
        start = datetime(2024, 1, 2, 15, 0, tzinfo=UTC)  # 10:00-11:00 New York the day before
        bars = r.broker.historical_bars(r.broker.resolve_instrument("AAPL"), timedelta(minutes=1), start,
                                        start + timedelta(hours=1))
        assert [b.start for b in bars] == [start + timedelta(minutes=m) for m in range(60)]
