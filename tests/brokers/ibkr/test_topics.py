"""The topic table, table-driven over the recorded websocket fixtures: frame -> wire model -> typed messages."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from brokers.ibkr import topics
from brokers.ibkr.parsing import Execution
from brokers.ibkr.parsing import OrderUpdate
from brokers.ibkr.parsing import Phase
from brokers.ibkr.parsing import QuoteTick
from brokers.ibkr.topics import AccountList
from brokers.ibkr.topics import AccountSummary
from brokers.ibkr.topics import AccountValue
from brokers.ibkr.topics import Heartbeat
from brokers.ibkr.topics import Incoming
from brokers.ibkr.topics import LedgerUpdate
from brokers.ibkr.topics import LoggedIn
from brokers.ibkr.topics import SessionStatus
from brokers.ibkr.topics import StreamError
from brokers.ibkr.topics import TicReply
from brokers.ibkr.topics import WaitingForSession
from framework.events import PnlUpdated
from framework.models import Side
from tests.brokers.ibkr.fakes import FIXTURES
from tests.brokers.ibkr.fakes import fixture

TS = datetime(2024, 4, 8, 17, 21, 51, tzinfo=UTC)
D = Decimal


def update(
    order_id: str, phase: Phase | None, status: str | None, filled: str | None, total: str | None,
    price: str | None = None,
) -> OrderUpdate:
    return OrderUpdate(broker_order_id=order_id, client_order_id=None, phase=phase, status_text=status,
                       filled_quantity=None if filled is None else D(filled),
                       total_quantity=None if total is None else D(total), price=None if price is None else D(price))


def summary(message: Incoming) -> Any:
    """Executions compared by what the topic read from the row (the dataclass belongs to order tracking)."""
    if isinstance(message, Execution):
        return ("Execution", message.execution_id, message.client_order_id, message.instrument_id, message.side,
                message.quantity, message.price, message.ts)
    return message


EXPECTED: dict[str, list[Any]] = {
    "ws_smd": [QuoteTick("265598", bid=189.56, ask=189.61, bid_size=200.0, ask_size=500.0, last=189.6,
                         last_size=100.0, day_volume=None, frozen=False)],
    "ws_sor_status": [update("352055828", Phase.PENDING, "PendingSubmit", None, None),
                      update("352055828", Phase.WORKING, "PreSubmitted", None, None),
                      update("352055828", Phase.WORKING, "Submitted", None, None)],
    "ws_sor_fills": [update("352055828", None, None, "100.0", "722.0"),
                     update("352055828", Phase.FILLED, "Filled", "722.0", "722.0", "382.4")],
    "ws_sor_full": [replace(update("922048212", Phase.WORKING, "Submitted", "0.0", "100.0", "372"),
                            changed_at=datetime(2020, 7, 8, 17, 35, 51, tzinfo=UTC))],
    "ws_str": [("Execution", "0000e0d5.60cf1bd1.01.01", "66807500", "265598", Side.BUY, D(1), D("130.64"),
                datetime(2021, 4, 8, 22, 10, 1, tzinfo=UTC))],
    "ws_spl": [PnlUpdated(ts=TS, account_id="DU1234", daily_pnl=D("-57520.0"), unrealized_pnl=D("972100.0"))],
    "ws_sts_authenticated": [SessionStatus(authenticated=True, competing=None)],
    "ws_sts_unauthenticated": [SessionStatus(authenticated=False, competing=None)],
    "ws_sts_competing": [SessionStatus(authenticated=None, competing=True)],
    "ws_sts_not_competing": [SessionStatus(authenticated=None, competing=False)],
    "ws_sts_message": [SessionStatus(authenticated=None, competing=None)],
    "ws_sts_fail": [SessionStatus(authenticated=None, competing=None)],
    "ws_act": [AccountList(accounts=("DU1234567",), selected="DU1234567")],
    "ws_ssd": [AccountSummary("DU1234567", (AccountValue("AccountCode", None, None, "DU1234567"),
                                            AccountValue("NetLiquidation", D("1034222.25"), "USD", None),
                                            AccountValue("ExcessLiquidity-S", D("1023861.0"), "USD", None)))],
    "ws_sld": [LedgerUpdate("DU1234567", "BASE", cash_balance=D("985376.94"), net_liquidation=D("1034222.25"),
                            unrealized_pnl=D("1701.0"))],
    "ws_system_success": [LoggedIn("user1234")],
    "ws_system_hb": [Heartbeat(1594677336001)],
    "ws_tic": [TicReply(1594677336001)],
    "ws_waiting_for_session": [WaitingForSession()],
    "ws_error": [StreamError("no session")],
}


def test_every_recorded_websocket_fixture_has_its_expectation() -> None:
    assert set(EXPECTED) == {p.stem for p in FIXTURES.glob("ws_*.json")}


def test_every_topic_of_the_table_has_a_recorded_fixture() -> None:
    recorded = {str(fixture(name).get("topic", "")).partition("+")[0] for name in EXPECTED}
    assert set(topics.TOPICS) - {"error"} <= recorded  # {"topic": "error"} is known only from ibind's code


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_recorded_frame_becomes_its_typed_messages(name: str) -> None:
    assert [summary(m) for m in topics.parse_frame(fixture(name), TS)] == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_parsing_is_pure_the_same_frame_gives_the_same_messages(name: str) -> None:
    message = fixture(name)
    assert topics.parse_frame(message, TS) == topics.parse_frame(message, TS)
    assert message == fixture(name)  # the frame is not touched


def test_spl_gives_one_pnl_event_per_account_with_every_documented_value() -> None:
    frame = fixture("ws_spl")
    frame["args"]["DU1234.Core"] |= {"nl": 1034222.25, "el": 1023861.0, "mv": 48845.0}  # spec 7.7: nl, el, mv
    frame["args"]["DU1234.Model1"] = {"rowType": 1, "dpl": 1.0}  # an FA model partition: not the account
    frame["args"]["DU7654321.Core"] = {"rowType": 1, "upl": "12.5"}
    assert topics.parse_frame(frame, TS) == [
        PnlUpdated(ts=TS, account_id="DU1234", daily_pnl=D("-57520.0"), unrealized_pnl=D("972100.0"),
                   net_liquidation=D("1034222.25"), excess_liquidity=D("1023861.0"), market_value=D("48845.0")),
        PnlUpdated(ts=TS, account_id="DU7654321", unrealized_pnl=D("12.5")),
    ]


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ({"topic": "sor", "args": {"not": "a list"}}, []),
        ({"topic": "str", "args": None}, []),
        ({"topic": "spl", "args": [1, 2]}, []),
        ({"topic": "spl", "args": {"DU1.Core": "n/a"}}, []),
        ({"topic": "sts", "args": ["authenticated"]}, [SessionStatus(None, None)]),
        ({"topic": "sts", "args": {"authenticated": "true", "competing": [1]}}, [SessionStatus(True, None)]),
        ({"topic": "act", "args": {"accounts": "DU1234567"}}, [AccountList(None, None)]),
        ({"topic": "ssd+DU1", "result": [{"key": "NetLiquidation", "monetaryValue": "n/a"}, 7]},
         [AccountSummary("DU1", (AccountValue("NetLiquidation", None, None, None),))]),
        ({"topic": "system"}, []),
        ({"topic": "smd+265598", "_updated": 1}, [QuoteTick("265598", None, None, None, None, None, None, None)]),
        ({"topic": "smd", "_updated": 1}, []),  # an empty update without a conid (IBKR sends them)
    ],
    ids=["sor args not a list", "str args null", "spl args a list", "spl row not an object", "sts args a list",
         "sts loose flags", "act accounts not a list", "ssd unreadable amount", "system neither", "smd metadata",
         "smd without conid"],
)
def test_odd_shapes_read_as_absent_or_empty_never_as_an_error(message: dict[str, Any], expected: list[Any]) -> None:
    assert topics.parse_frame(message, TS) == expected


@pytest.mark.parametrize(
    "message",
    [{"topic": "ntf", "args": {"id": "INDICATIVE_DATA_SUGGESTION", "text": "..."}}, {"topic": "smh+265598"},
     {"topic": "blt", "args": {"id": "1", "message": "..."}}, {"message": "Unsubscribed 12"},
     {"result": "unsubscribed from summary"}],
    ids=["ntf", "smh", "blt", "notice", "result"],
)
def test_topics_the_adapter_does_not_read_yield_nothing(message: dict[str, Any]) -> None:
    assert topics.parse_frame(message, TS) == []


def test_a_row_the_wire_model_refuses_is_reported_in_place_and_the_others_kept() -> None:
    frame = fixture("ws_sor_status")
    frame["args"][1]["status"] = {"not": "text"}
    messages = topics.parse_frame(frame, TS)
    assert [type(m).__name__ for m in messages] == ["OrderUpdate", "RowRefused", "OrderUpdate"]
    refused = messages[1]
    assert isinstance(refused, topics.RowRefused)
    assert refused.kind == "ValidationError at sor row"
