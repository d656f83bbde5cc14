"""Exchange trading hours in the simulated gateway (R22): held and refused orders, DAY cancels, frozen quotes.

Each test runs its own gateway on a simulated clock started where the test needs it (times only move
forward, so a shared clock would make the tests depend on their order). Keep-alive limits are pushed
out of the way so the clock can cross whole sessions.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from datetime import datetime
from typing import Any

import pytest
import websocket

from framework.clock import SimulatedClock
from simulators.ibkr import SimulatedGateway
from simulators.ibkr.sessions import OUTSIDE_RTH_ERROR
from tests.markers import needs_calendar_data
from tests.simulators.ibkr.conftest import AAPL
from tests.simulators.ibkr.conftest import BASE_CONFIG
from tests.simulators.ibkr.conftest import Api
from tests.simulators.ibkr.conftest import authenticated_ws
from tests.simulators.ibkr.conftest import lmt
from tests.simulators.ibkr.conftest import mkt
from tests.simulators.ibkr.conftest import recv_json
from tests.simulators.ibkr.conftest import recv_until
from tests.simulators.ibkr.conftest import status_of

HOURS = BASE_CONFIG.with_updates({
    "market_hours": "exchange", "idle_timeout": 40 * 86400, "sso_lifetime": 80 * 86400,
    "heartbeat_interval": 3600, "spl_interval": 3600, "warn_no_market_data": False, "warn_stop_orders": False,
    "warn_marketable": False,
})
PRE_MARKET = datetime(2024, 1, 2, 13, 0, tzinfo=UTC)  # Tuesday 08:00 New York
OPEN = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
CLOSE = datetime(2024, 1, 2, 21, 0, tzinfo=UTC)
AFTER_HOURS_END = datetime(2024, 1, 3, 1, 0, tzinfo=UTC)


class Market:
    """A gateway with exchange hours on its own simulated clock, primed, AAPL at 189.90 / 190.00."""

    def __init__(self, gw: SimulatedGateway, clock: SimulatedClock) -> None:
        self.gw = gw
        self.clock = clock
        self.api = Api(gw)
        self.api.prime()
        gw.set_quote("AAPL", bid="189.90", ask="190.00", last="189.95")

    def until(self, when: datetime) -> None:
        """Advance the clock to ``when``, running every job due on the way."""
        self.gw.advance((when - self.clock.now()).total_seconds())

    def place(self, ticket: dict[str, Any]) -> Any:
        return self.api.place(ticket).json()

    def status(self, order_id: str) -> str:
        return str(status_of(self.api, order_id)["order_status"])

    def snapshot(self, *codes: str) -> dict[str, Any]:
        query = {"conids": str(AAPL), "fields": ",".join(codes)}
        self.api.get("/iserver/marketdata/snapshot", params=query)
        return self.api.get("/iserver/marketdata/snapshot", params=query).json()[0]  # type: ignore[no-any-return]


@contextmanager
def market(start: datetime, **updates: Any) -> Iterator[Market]:
    clock = SimulatedClock(start)
    with SimulatedGateway(port=0, config=HOURS.with_updates(updates), clock=clock) as gw:
        venue = Market(gw, clock)
        try:
            yield venue
        finally:
            venue.api.close()


def sockets_of(venue: Market, opened: list[websocket.WebSocket]) -> websocket.WebSocket:
    ws = authenticated_ws(venue.gw, opened)
    ws.send("sor+{}")
    ws.send("tic")
    recv_until(ws, lambda m: m.get("topic") == "tic")
    return ws


def test_r22_an_order_before_the_open_is_held_presubmitted_and_fills_at_the_open() -> None:
    """R22: ``hold`` (documented): outside its sessions an order waits ``PreSubmitted``, then trades."""
    with market(PRE_MARKET) as venue:
        ack = venue.place(lmt(191.0, cOID="held"))  # marketable, but regular hours only
        assert ack[0]["order_status"] == "PreSubmitted"
        venue.gw.advance(60)
        assert venue.status(ack[0]["order_id"]) == "PreSubmitted"
        venue.gw.set_quote("AAPL", bid="189.80", ask="189.90")  # the market moves: still no fill
        assert venue.api.get("/iserver/account/trades").json() == []
        venue.until(OPEN)
        assert venue.status(ack[0]["order_id"]) == "Filled"
        trade = venue.api.get("/iserver/account/trades").json()[0]
        assert trade["trade_time"] == "20240102-14:30:00"


def test_an_outside_rth_limit_order_trades_in_the_pre_market_but_a_market_order_waits() -> None:
    with market(PRE_MARKET) as venue:
        limit = venue.place(lmt(191.0, outsideRTH=True))[0]["order_id"]
        market_order = venue.place(mkt(outsideRTH=True))[0]["order_id"]  # IBKR ignores outsideRTH here
        venue.gw.advance(1)
        assert venue.status(limit) == "Filled"
        assert venue.status(market_order) == "PreSubmitted"
        assert status_of(venue.api, market_order)["outside_rth"] is True
        venue.until(OPEN)
        assert venue.status(market_order) == "Filled"


def test_r22_day_orders_are_cancelled_by_the_broker_at_the_close(sockets: list[websocket.WebSocket]) -> None:
    """R22: at 16:00 New York a working DAY order is ``Cancelled`` unasked; a GTC order waits for the open."""
    with market(datetime(2024, 1, 2, 20, 59, tzinfo=UTC)) as venue:
        ws = sockets_of(venue, sockets)
        day = venue.place(lmt(185.0))[0]["order_id"]
        gtc = venue.place({**lmt(185.0), "tif": "GTC"})[0]["order_id"]
        venue.gw.advance(1)
        assert (venue.status(day), venue.status(gtc)) == ("Submitted", "Submitted")
        venue.until(CLOSE)
        assert (venue.status(day), venue.status(gtc)) == ("Cancelled", "PreSubmitted")
        cancelled = recv_until(ws, lambda m: m.get("topic") == "sor" and m["args"][0].get("status") == "Cancelled")
        assert str(cancelled["args"][0]["orderId"]) == day
        venue.until(datetime(2024, 1, 3, 14, 30, tzinfo=UTC))
        assert venue.status(gtc) == "Submitted"


def test_a_day_order_outside_rth_works_after_hours_and_ends_at_20() -> None:
    with market(datetime(2024, 1, 2, 21, 30, tzinfo=UTC)) as venue:
        order = venue.place(lmt(185.0, outsideRTH=True))[0]["order_id"]
        venue.gw.advance(1)
        assert venue.status(order) == "Submitted"
        venue.until(AFTER_HOURS_END)
        assert venue.status(order) == "Cancelled"


def test_r22_the_reject_policy_refuses_with_ibkrs_words() -> None:
    """R22: ``invalid order attribute : Outside Regular Trading Hours`` and no order at the broker."""
    with market(datetime(2024, 1, 3, 2, 0, tzinfo=UTC), outside_rth_orders="reject") as venue:  # 21:00: closed
        answer = venue.api.place(lmt(191.0, cOID="closed", outsideRTH=True))
        assert answer.status_code == 200
        assert answer.json() == {"error": OUTSIDE_RTH_ERROR}
        venue.api.get("/iserver/account/orders")
        assert venue.api.get("/iserver/account/orders").json()["orders"] == []
        venue.until(datetime(2024, 1, 3, 9, 30, tzinfo=UTC))  # pre-market: outsideRTH orders may trade
        assert venue.place(lmt(191.0, outsideRTH=True))[0]["order_status"] == "PreSubmitted"
        assert venue.api.place(lmt(191.0)).json() == {"error": OUTSIDE_RTH_ERROR}


def test_the_inactive_policy_accepts_the_order_as_inactive_with_the_reason() -> None:
    with market(PRE_MARKET, outside_rth_orders="inactive") as venue:
        ack = venue.place(lmt(191.0))[0]
        assert ack["order_status"] == "Inactive"
        status = status_of(venue.api, ack["order_id"])
        assert status["order_status_description"] == OUTSIDE_RTH_ERROR
        venue.until(OPEN)
        assert venue.status(ack["order_id"]) == "Inactive"
        assert venue.api.get("/iserver/account/trades").json() == []


def test_r22_quotes_freeze_while_closed_and_thaw_in_the_pre_market(sockets: list[websocket.WebSocket]) -> None:
    """R22: after 20:00 New York prices stand still and field 6509 says ``Z`` (frozen)."""
    with market(datetime(2024, 1, 3, 0, 59, tzinfo=UTC)) as venue:
        assert venue.snapshot("31", "6509")["6509"] == "RpB"
        ws = authenticated_ws(venue.gw, sockets)
        ws.send(f'smd+{AAPL}+{{"fields":["31","84","86","6509"]}}')
        assert recv_json(ws)["6509"] == "RpB"
        venue.until(AFTER_HOURS_END)
        assert recv_until(ws, lambda m: m.get("topic") == f"smd+{AAPL}")["6509"] == "ZpB"
        before = venue.gw.quote("AAPL")
        venue.gw.step_market(20)
        assert venue.gw.quote("AAPL") == before
        assert venue.snapshot("31", "6509")["6509"] == "ZpB"
        venue.gw.configure(delayed_data=True)
        assert venue.snapshot("6509")["6509"] == "YpB"
        venue.gw.configure(delayed_data=False)
        venue.until(datetime(2024, 1, 3, 9, 0, tzinfo=UTC))  # 04:00: pre-market
        assert venue.snapshot("6509")["6509"] == "RpB"
        venue.gw.step_market(20)
        assert venue.gw.quote("AAPL") != before


@needs_calendar_data
def test_r22_a_holiday_has_no_session_even_for_outside_rth_orders() -> None:
    """R22: Martin Luther King Jr. Day (exchange calendar) is closed all day."""
    with market(datetime(2024, 1, 15, 15, 0, tzinfo=UTC)) as venue:
        order = venue.place(lmt(191.0, outsideRTH=True, tif="GTC"))[0]["order_id"]
        venue.gw.advance(60)
        assert venue.status(order) == "PreSubmitted"
        assert venue.snapshot("6509")["6509"] == "ZpB"
        venue.until(datetime(2024, 1, 16, 9, 0, tzinfo=UTC))  # Tuesday 04:00
        assert venue.status(order) == "Filled"


def test_without_exchange_hours_the_market_never_closes() -> None:
    with market(datetime(2024, 1, 6, 3, 0, tzinfo=UTC), market_hours="always") as venue:  # Friday 22:00
        day = venue.place(lmt(185.0))[0]["order_id"]
        filled = venue.place(lmt(191.0))[0]["order_id"]
        venue.gw.advance(1)
        assert venue.status(filled) == "Filled"
        venue.until(datetime(2024, 1, 8, 3, 0, tzinfo=UTC))
        assert venue.status(day) == "Submitted"  # DAY orders do not expire without sessions
        assert venue.snapshot("6509")["6509"] == "RpB"


def test_history_bars_come_only_from_the_sessions_asked_for() -> None:
    with market(datetime(2024, 1, 8, 14, 35, tzinfo=UTC)) as venue:  # Monday 09:35 New York
        query = {"conid": AAPL, "period": "1h", "bar": "1min"}
        regular = venue.api.get("/iserver/marketdata/history", params=query).json()["data"]
        starts = [datetime.fromtimestamp(row["t"] / 1000, UTC) for row in regular]
        assert len(starts) == 60
        assert starts[-1] == datetime(2024, 1, 8, 14, 35, tzinfo=UTC)
        assert starts[0] == datetime(2024, 1, 5, 20, 6, tzinfo=UTC)  # Friday: the weekend has no bars
        assert all(s.weekday() < 5 and (14, 30) <= (s.hour, s.minute) < (21, 0) for s in starts)
        extended = venue.api.get("/iserver/marketdata/history", params={**query, "outsideRth": "true"}).json()
        assert datetime.fromtimestamp(extended["data"][0]["t"] / 1000, UTC) == datetime(2024, 1, 8, 13, 36,
                                                                                         tzinfo=UTC)


@pytest.mark.parametrize("start", [PRE_MARKET, CLOSE])
def test_an_ioc_order_that_may_not_trade_now_is_cancelled(start: datetime) -> None:
    with market(start) as venue:
        order = venue.place({**lmt(191.0), "tif": "IOC"})[0]["order_id"]
        venue.gw.advance(1)
        assert venue.status(order) == "Cancelled"
