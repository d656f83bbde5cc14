"""Table-driven tests of the pure wire -> framework translation."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import TypeAdapter

from brokers.ibkr import fields
from brokers.ibkr import parsing
from brokers.ibkr.parsing import Phase
from brokers.ibkr.parsing import QuoteTick
from brokers.ibkr.wire import History
from brokers.ibkr.wire import LiveOrder
from brokers.ibkr.wire import LiveOrders
from brokers.ibkr.wire import OrderStatusReply
from brokers.ibkr.wire import SecdefResult
from brokers.ibkr.wire import SummaryValue
from brokers.ibkr.wire import Trade
from brokers.ibkr.wire_ws import MarketData
from framework.models import Instrument
from framework.models import OrderRequest
from framework.models import OrderType
from framework.models import SecurityType
from framework.models import Side
from framework.models import TimeInForce
from tests.brokers.ibkr.fakes import fixture

AAPL = Instrument(symbol="AAPL", broker_id="265598")
TS = datetime(2024, 4, 8, 17, 21, 51, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("168.42", 168.42),
        ("C168.42", 168.42),
        ("H168.42", 168.42),
        ("1,168.42", 1168.42),
        (372, 372.0),
        (189.6, 189.6),
        ("", None),
        ("n/a", None),
        ("0", None),
        ("-1", None),
        (None, None),
        (True, None),
    ],
)
def test_parse_price_reads_prefixes_and_rejects_junk(raw: Any, expected: float | None) -> None:
    assert fields.parse_price(raw) == expected


@pytest.mark.parametrize(("raw", "flag"), [("C168.42", "C"), ("H1", "H"), ("168.42", ""), (168.42, "")])
def test_price_flag_names_the_prefix(raw: Any, flag: str) -> None:
    assert fields.price_flag(raw) == flag


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1,300", 1300.0), ("600", 600.0), ("12.5M", 12_500_000.0), ("860K", 860_000.0), ("1.2B", 1.2e9),
     (200, 200.0), ("x", None), ("-5", None), (None, None)],
)
def test_parse_size_reads_separators_and_suffixes(raw: Any, expected: float | None) -> None:
    assert fields.parse_size(raw) == expected


@pytest.mark.parametrize(
    ("status", "phase"),
    [("PendingSubmit", Phase.PENDING), ("PreSubmitted", Phase.WORKING), ("Submitted", Phase.WORKING),
     ("WarnState", Phase.WORKING), ("PendingCancel", Phase.PENDING_CANCEL), ("Filled", Phase.FILLED),
     ("Cancelled", Phase.CANCELLED), ("Inactive", Phase.REJECTED)],
)
def test_every_documented_status_maps_to_a_phase(status: str, phase: Phase) -> None:
    assert parsing.ORDER_STATUS_FROM_WIRE[status] is phase


@pytest.mark.parametrize(
    ("wire", "side"),
    [("BUY", Side.BUY), ("B", Side.BUY), ("BOT", Side.BUY), ("SELL", Side.SELL), ("S", Side.SELL), ("SLD", Side.SELL)],
)
def test_side_spellings_map_to_sides(wire: str, side: Side) -> None:
    assert parsing.SIDE_FROM_WIRE[wire] is side


def _request(**ticket: Any) -> OrderRequest:
    return OrderRequest(client_order_id="c1", instrument=AAPL, side=Side.BUY, quantity=Decimal(100), **ticket)


@pytest.mark.parametrize(
    ("ticket", "expected"),
    [
        ({}, {"orderType": "MKT"}),
        ({"order_type": OrderType.LIMIT, "limit_price": Decimal("165.00")}, {"orderType": "LMT", "price": 165.0}),
        ({"order_type": OrderType.STOP, "stop_price": Decimal("160")}, {"orderType": "STP", "price": 160.0}),
        ({"order_type": OrderType.STOP_LIMIT, "limit_price": Decimal("161"), "stop_price": Decimal("160")},
         {"orderType": "STOP_LIMIT", "price": 161.0, "auxPrice": 160.0}),
        ({"order_type": OrderType.TRAILING_STOP, "trail_amount": Decimal("1.50")},
         {"orderType": "TRAIL", "trailingAmt": 1.5, "trailingType": "amt"}),
        ({"order_type": OrderType.TRAILING_STOP, "trail_percent": Decimal("2")},
         {"orderType": "TRAIL", "trailingAmt": 2.0, "trailingType": "%"}),
        ({"time_in_force": TimeInForce.GTC, "outside_rth": True}, {"tif": "GTC", "outsideRTH": True}),
        ({"oca_group": "g1"}, {"isSingleGroup": True}),
    ],
)
def test_order_ticket_uses_ibkr_fields_per_order_type(ticket: dict[str, Any], expected: dict[str, Any]) -> None:
    body = parsing.order_ticket(_request(**ticket), "DU1234567", "265598")
    assert body["acctId"] == "DU1234567"
    assert body["conid"] == 265598
    assert body["side"] == "BUY"
    assert body["quantity"] == 100.0
    assert {k: body[k] for k in expected} == expected


def test_order_ticket_refuses_an_unresolved_instrument() -> None:
    with pytest.raises(ValueError, match="conid"):
        parsing.order_ticket(_request(), "DU1", "")


def tick(message: dict[str, Any]) -> QuoteTick | None:
    return parsing.quote_tick(MarketData.model_validate(message))


def test_quote_tick_from_the_documented_smd_frame() -> None:
    assert tick(fixture("ws_smd")) == QuoteTick(instrument_id="265598", bid=189.56, ask=189.61, bid_size=200.0,
                                                ask_size=500.0, last=189.6, last_size=100.0, day_volume=None,
                                                frozen=False)  # 6509 "RpB": real-time


def test_merge_quote_keeps_fields_missing_from_a_delta() -> None:
    first_tick = tick(fixture("ws_smd"))
    delta = tick({"topic": "smd+265598", "conid": 265598, "84": "189.57"})
    assert first_tick is not None
    assert delta is not None
    first = parsing.merge_quote(None, "AAPL", TS, first_tick)
    second = parsing.merge_quote(first, "AAPL", TS + timedelta(seconds=1), delta)
    assert (second.bid, second.ask, second.last, second.ts) == (189.57, 189.61, 189.6, TS + timedelta(seconds=1))


@pytest.mark.parametrize(
    ("message", "conid"),
    [({"conid": 265598}, "265598"), ({"topic": "smd+8314"}, "8314"), ({"topic": "smd+8314@SMART"}, "8314"),
     ({"topic": "sor"}, None)],
)
def test_the_conid_comes_from_the_field_or_the_topic(message: dict[str, Any], conid: str | None) -> None:
    assert MarketData.model_validate(message).instrument_id == conid


def test_an_update_naming_no_instrument_gives_no_tick() -> None:
    assert tick({"topic": "smd", "_updated": 1712596911593}) is None


WRONG_TYPES = [[189.5], {"v": 189.5}, [], {}, True, False, float("nan"), float("inf"), 10**400]


@pytest.mark.parametrize("raw", WRONG_TYPES, ids=lambda v: repr(v)[:16])
def test_wrong_typed_market_data_values_read_as_absent(raw: Any) -> None:
    """A list, object, boolean, NaN or out-of-range number is unreadable, never an exception."""
    assert fields.parse_price(raw) is None
    assert fields.parse_size(raw) is None
    assert fields.price_flag(raw) == ""


def test_a_wrong_typed_field_is_skipped_and_the_others_kept() -> None:
    message = {"topic": "smd+265598", "conid": 265598, "31": [189.5], "84": "189.4", "85": {"n": 1}, "88": "1,300"}
    assert tick(message) == QuoteTick("265598", bid=189.4, ask=None, bid_size=1300.0, ask_size=None, last=None,
                                      last_size=None, day_volume=None)


@pytest.mark.parametrize("conid", [[265598], {"id": 1}, True, ""], ids=repr)
def test_a_wrong_typed_conid_falls_back_to_the_topic(conid: Any) -> None:
    assert MarketData.model_validate({"topic": "smd+265598", "conid": conid}).instrument_id == "265598"


@pytest.mark.parametrize(
    ("name", "warm"),
    [("http_get_iserver_marketdata_snapshot_preflight", False), ("http_get_iserver_marketdata_snapshot", True)],
)
def test_snapshot_rows_are_warm_only_with_prices(name: str, warm: bool) -> None:
    assert all(MarketData.model_validate(row).warm is warm for row in fixture(name))


def test_smd_command_is_the_documented_grammar() -> None:
    assert parsing.smd_command("265598", ("31", "84")) == 'smd+265598+{"fields":["31","84"]}'
    assert parsing.umd_command("265598") == "umd+265598+{}"


def test_instrument_from_search_picks_the_first_exact_stock_match() -> None:
    results = TypeAdapter(list[SecdefResult]).validate_python(fixture("http_get_iserver_secdef_search"))
    instrument = parsing.instrument_from_search(results, "aapl", SecurityType.STOCK)
    assert (instrument.symbol, instrument.broker_id, instrument.exchange) == ("AAPL", "265598", "NASDAQ")
    with pytest.raises(LookupError):
        parsing.instrument_from_search(results, "MSFT", SecurityType.STOCK)


def test_an_order_status_reply_becomes_a_full_update() -> None:
    reply = OrderStatusReply.model_validate(fixture("http_get_iserver_account_order_status"))
    assert parsing.order_update_from_status(reply) == parsing.OrderUpdate(
        broker_order_id="1210386759", client_order_id=None, phase=Phase.WORKING, status_text="PreSubmitted",
        filled_quantity=Decimal("0.0"), total_quantity=Decimal("1.0"), price=Decimal("457.00"),
    )


def test_live_orders_row_becomes_a_full_update() -> None:
    row = LiveOrders.model_validate(fixture("http_get_iserver_account_orders")).orders[0]
    update = parsing.order_update_from_live(row)
    assert update == parsing.OrderUpdate(
        broker_order_id="1210386759", client_order_id="240103-SPY-1-BUY-L@457-bxv8", phase=Phase.WORKING,
        status_text="PreSubmitted", filled_quantity=Decimal("0.0"), total_quantity=Decimal("1.0"),
        changed_at=datetime(2024, 1, 3, 20, 10, 41, tzinfo=UTC),  # lastExecutionTime_r
        price=Decimal("457.00"),
    )
    assert row.price == Decimal("457.00")


@pytest.mark.parametrize(("extra", "outside_rth"), [({}, False), ({"outsideRTH": True}, True),
                                                    ({"outsideRTH": "false"}, False)])
def test_a_live_orders_row_rebuilds_its_ticket_with_time_in_force_and_outside_rth(
    extra: dict[str, object], outside_rth: bool
) -> None:
    data = fixture("http_get_iserver_account_orders")
    row = LiveOrders.model_validate({"orders": [data["orders"][0] | extra]}).orders[0]
    request = parsing.request_from_live(row, "restored")
    assert request is not None
    assert (request.order_type, request.limit_price, request.time_in_force) == (
        OrderType.LIMIT, Decimal("457.00"), TimeInForce.GTC)
    assert request.outside_rth is outside_rth


@pytest.mark.parametrize(
    ("index", "phase", "filled", "total"),
    [(0, None, Decimal(100), Decimal(722)), (1, Phase.FILLED, Decimal(722), Decimal(722))],
)
def test_partial_sor_updates_carry_only_what_changed(
    index: int, phase: Phase | None, filled: Decimal, total: Decimal
) -> None:
    row = LiveOrder.model_validate(fixture("ws_sor_fills")["args"][index])
    update = parsing.order_update_from_live(row)
    assert (update.broker_order_id, update.client_order_id) == ("352055828", None)
    assert (update.phase, update.filled_quantity, update.total_quantity) == (phase, filled, total)


def test_execution_from_the_documented_trade() -> None:
    trade = Trade.model_validate(fixture("http_get_iserver_account_trades")[0])
    execution = parsing.execution_from_trade(trade)
    assert execution is not None
    assert execution.execution_id == "0000e0d5.60cf1bd1.01.01"
    assert (execution.side, execution.quantity, execution.price) == (Side.BUY, Decimal(1), Decimal("130.64"))
    assert execution.commission == Decimal("0.35")
    assert execution.client_order_id == "66807500"
    assert execution.instrument_id == "265598"
    assert execution.ts == datetime(2021, 4, 8, 22, 10, 1, tzinfo=UTC)


@pytest.mark.parametrize("drop", ["side", "size", "price"])
def test_execution_without_a_required_field_is_skipped(drop: str) -> None:
    row = fixture("http_get_iserver_account_trades")[0]
    del row[drop]
    assert parsing.execution_from_trade(Trade.model_validate(row)) is None


def test_execution_time_falls_back_to_the_text_form() -> None:
    row = fixture("http_get_iserver_account_trades")[0]
    del row["trade_time_r"]
    execution = parsing.execution_from_trade(Trade.model_validate(row))
    assert execution is not None
    assert execution.ts == datetime(2021, 4, 8, 22, 10, 1, tzinfo=UTC)


def test_history_bars_in_the_window() -> None:
    history = History.model_validate(fixture("http_get_iserver_marketdata_history"))
    start = datetime(2023, 11, 1, tzinfo=UTC)
    bars = parsing.bars_from_history(history, "AAPL", timedelta(days=1), start, start + timedelta(days=1))
    assert [(b.start, b.open, b.high, b.low, b.close) for b in bars] == [(start, 171.05, 192.93, 170.12, 189.37)]
    assert parsing.bars_from_history(history, "AAPL", timedelta(days=1), start + timedelta(days=1),
                                     start + timedelta(days=2)) == []


@pytest.mark.parametrize(
    ("duration", "span", "expected"),
    [(timedelta(minutes=1), timedelta(minutes=30), ("30min", "1min")),
     (timedelta(minutes=5), timedelta(hours=2), ("2h", "5min")),
     (timedelta(days=1), timedelta(days=10), ("10d", "1d"))],
)
def test_history_query_chooses_period_and_bar(duration: timedelta, span: timedelta, expected: tuple[str, str]) -> None:
    assert parsing.history_query(duration, TS, TS + span) == expected


def test_history_query_refuses_an_unsupported_bar() -> None:
    with pytest.raises(ValueError, match="no"):
        parsing.history_query(timedelta(seconds=7), TS, TS + timedelta(hours=1))


def test_account_from_the_documented_summary() -> None:
    summary = TypeAdapter(dict[str, SummaryValue]).validate_python(fixture("http_get_portfolio_summary"))
    account = parsing.account_from_summary("DU1234567", summary, TS)
    assert (account.cash, account.equity, account.buying_power) == (
        Decimal("985376.94"), Decimal("1034222.25"), Decimal("4137000.0"))
    assert account.currency == "USD"
