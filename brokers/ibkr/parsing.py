"""Pure translation between Client Portal wire data and framework models.

Tables map IBKR vocabularies (order statuses, sides, order types) to the framework's; functions
convert one payload at a time. Nothing here does I/O or reads a clock: timestamps come in as
parameters. With :mod:`brokers.ibkr.topics` (the websocket topic table, which builds on these
functions), this is the only module that knows both vocabularies.

Market-data field codes and their lenient values are read by the wire layer
(:mod:`brokers.ibkr.fields`, :class:`~brokers.ibkr.wire_ws.MarketData`); here they become a
:class:`QuoteTick` and are merged into quotes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any
from typing import NamedTuple

from brokers.ibkr.wire import History
from brokers.ibkr.wire import LiveOrder
from brokers.ibkr.wire import OrderStatusReply
from brokers.ibkr.wire import PortfolioPosition
from brokers.ibkr.wire import SecdefResult
from brokers.ibkr.wire import SummaryValue
from brokers.ibkr.wire import Trade
from brokers.ibkr.wire_ws import MarketData
from framework.marketdata import Bar
from framework.marketdata import Quote
from framework.models import Account
from framework.models import ExecutionReport
from framework.models import Instrument
from framework.models import OrderRequest
from framework.models import OrderType
from framework.models import Position
from framework.models import SecurityType
from framework.models import Side
from framework.models import TimeInForce


class Phase(StrEnum):
    """Where an IBKR order status puts the order in the framework's lifecycle."""

    PENDING = "pending"  # sent, not yet acknowledged by the destination
    WORKING = "working"
    PENDING_CANCEL = "pending_cancel"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


ORDER_STATUS_FROM_WIRE: dict[str, Phase] = {
    "PendingSubmit": Phase.PENDING,
    "PreSubmitted": Phase.WORKING,
    "Submitted": Phase.WORKING,
    "WarnState": Phase.WORKING,
    "PendingCancel": Phase.PENDING_CANCEL,
    "Filled": Phase.FILLED,
    "Cancelled": Phase.CANCELLED,
    "Inactive": Phase.REJECTED,
}

OPEN_PHASES = frozenset({Phase.PENDING, Phase.WORKING, Phase.PENDING_CANCEL})
"""Phases of an order that may still fill (and can be cancelled)."""

SIDE_FROM_WIRE: dict[str, Side] = {
    "BUY": Side.BUY, "B": Side.BUY, "BOT": Side.BUY, "Buy": Side.BUY,
    "SELL": Side.SELL, "S": Side.SELL, "SLD": Side.SELL, "Sell": Side.SELL,
}
SIDE_TO_WIRE: dict[Side, str] = {Side.BUY: "BUY", Side.SELL: "SELL"}

ORDER_TYPE_TO_WIRE: dict[OrderType, str] = {
    OrderType.MARKET: "MKT",
    OrderType.LIMIT: "LMT",
    OrderType.STOP: "STP",
    OrderType.STOP_LIMIT: "STOP_LIMIT",
    OrderType.TRAILING_STOP: "TRAIL",
}
ORDER_TYPE_FROM_WIRE: dict[str, OrderType] = {
    "MKT": OrderType.MARKET, "Market": OrderType.MARKET, "MARKET": OrderType.MARKET,
    "LMT": OrderType.LIMIT, "Limit": OrderType.LIMIT, "LIMIT": OrderType.LIMIT,
    "STP": OrderType.STOP, "Stop": OrderType.STOP, "STOP": OrderType.STOP,
    "STOP_LIMIT": OrderType.STOP_LIMIT, "Stop Limit": OrderType.STOP_LIMIT, "STPLMT": OrderType.STOP_LIMIT,
    "TRAIL": OrderType.TRAILING_STOP, "Trail": OrderType.TRAILING_STOP,
    "TRAILING STOP": OrderType.TRAILING_STOP,
}
TIF_TO_WIRE: dict[TimeInForce, str] = {
    TimeInForce.DAY: "DAY", TimeInForce.GTC: "GTC", TimeInForce.IOC: "IOC", TimeInForce.OPG: "OPG",
}
TIF_FROM_WIRE: dict[str, TimeInForce] = {wire: tif for tif, wire in TIF_TO_WIRE.items()}
SECURITY_TYPE_TO_WIRE: dict[SecurityType, str] = {
    SecurityType.STOCK: "STK", SecurityType.ETF: "STK", SecurityType.FUTURE: "FUT",
    SecurityType.OPTION: "OPT", SecurityType.FOREX: "CASH", SecurityType.INDEX: "IND",
    SecurityType.CRYPTO: "CRYPTO",
}

# Bar durations the history endpoint accepts, with their ``bar`` spelling.
BAR_SIZE_TO_WIRE: dict[timedelta, str] = (
    {timedelta(minutes=m): f"{m}min" for m in (1, 2, 3, 5, 10, 15, 30)}
    | {timedelta(hours=h): f"{h}h" for h in (1, 2, 3, 4, 8)}
    | {timedelta(days=1): "1d", timedelta(weeks=1): "1w"}
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """An order report (full or partial) in framework terms; None means "not in this update".

    ``price`` is IBKR's ``price`` field (the limit of a limit or stop-limit order) and ``aux_price``
    its ``auxPrice`` (the stop trigger of a stop or stop-limit order).
    """

    broker_order_id: str | None
    client_order_id: str | None
    phase: Phase | None
    status_text: str | None
    filled_quantity: Decimal | None
    total_quantity: Decimal | None
    changed_at: datetime | None = None  # IBKR's time of the change (``lastExecutionTime_r``), if sent
    price: Decimal | None = None
    aux_price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Execution:
    """One execution as IBKR reported it, before it is tied to a client order id (unchecked)."""

    execution_id: str
    client_order_id: str | None
    broker_order_id: str | None
    instrument_id: str | None
    symbol: str
    side: Side
    quantity: Decimal
    price: Decimal
    commission: Decimal | None
    ts: datetime
    account_id: str | None = None


# ----------------------------------------------------------------------------- numbers and times


def ts_from_ms(ms: int | float) -> datetime:
    """An aware UTC datetime from epoch milliseconds."""
    return _EPOCH + timedelta(milliseconds=ms)


def ts_from_trade_time(text: str) -> datetime | None:
    """Parse ``YYYYMMDD-hh:mm:ss`` (UTC) as used by executions; None if malformed."""
    try:
        return datetime.strptime(text, "%Y%m%d-%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None


# ----------------------------------------------------------------------------- market data


class QuoteTick(NamedTuple):
    """The quote fields one ``smd`` frame or snapshot row carried; None means "not in this update".

    A tuple, not a validated model: it sits on the market-data hot path, after the wire model has
    validated every value (prices positive and finite, sizes non-negative and finite).
    """

    instrument_id: str
    bid: float | None
    ask: float | None
    bid_size: float | None
    ask_size: float | None
    last: float | None
    last_size: float | None
    day_volume: float | None
    frozen: bool | None = None  # field 6509: the data is frozen (the market is closed)

    @property
    def has_quote(self) -> bool:
        """Whether a quote field (price, size or frozen state, not the day volume) is in the update."""
        return not (self.bid is None and self.ask is None and self.bid_size is None and self.ask_size is None
                    and self.last is None and self.last_size is None and self.frozen is None)


def quote_tick(data: MarketData) -> QuoteTick | None:
    """The quote fields of a market-data frame or snapshot row; None if it names no instrument."""
    instrument_id = data.instrument_id
    if instrument_id is None:
        return None  # IBKR sends empty updates without a conid now and then
    return QuoteTick(instrument_id, data.bid, data.ask, data.bid_size, data.ask_size, data.last, data.last_size,
                     data.day_volume, data.frozen)


def merge_quote(previous: Quote | None, symbol: str, ts: datetime, tick: QuoteTick) -> Quote:
    """Apply a partial ``tick`` onto the previous quote (fields missing from it keep their value)."""
    if previous is None:
        return Quote(symbol, ts, tick.bid, tick.ask, tick.bid_size, tick.ask_size, tick.last, tick.last_size,
                     tick.frozen is True)
    return Quote(
        symbol,
        ts,
        previous.bid if tick.bid is None else tick.bid,
        previous.ask if tick.ask is None else tick.ask,
        previous.bid_size if tick.bid_size is None else tick.bid_size,
        previous.ask_size if tick.ask_size is None else tick.ask_size,
        previous.last if tick.last is None else tick.last,
        previous.last_size if tick.last_size is None else tick.last_size,
        previous.frozen if tick.frozen is None else tick.frozen,
    )


def smd_command(conid: str, fields: tuple[str, ...]) -> str:
    """The websocket command subscribing market data for ``conid``."""
    quoted = ",".join(f'"{f}"' for f in fields)
    return f'smd+{conid}+{{"fields":[{quoted}]}}'


def umd_command(conid: str) -> str:
    """The websocket command stopping market data for ``conid``."""
    return f"umd+{conid}+{{}}"


# ----------------------------------------------------------------------------- instruments


def instrument_from_search(
    results: list[SecdefResult], symbol: str, security_type: SecurityType
) -> Instrument:
    """Pick the instrument for ``symbol``: first exact-symbol match offering the security type.

    Raises:
        LookupError: If no result matches.
    """
    wanted = SECURITY_TYPE_TO_WIRE[security_type]
    for result in results:
        offered = {s.sec_type for s in result.sections}
        same_symbol = (result.symbol or "").upper() == symbol.upper()
        if result.conid and same_symbol and (not offered or wanted in offered):
            return Instrument(
                symbol=symbol.upper(),
                broker_id=result.conid,
                security_type=security_type,
                exchange=result.description or "SMART",
            )
    msg = f"no {wanted} contract found for symbol {symbol!r}"
    raise LookupError(msg)


def instruments_from_search(results: list[SecdefResult]) -> list[Instrument]:
    """Every search result as an instrument, best first (results without a conid skipped)."""
    return [
        Instrument(symbol=r.symbol or r.conid, broker_id=r.conid, exchange=r.description or "SMART")
        for r in results
        if r.conid is not None and (r.symbol or r.conid)
    ]


# ----------------------------------------------------------------------------- orders


def order_ticket(request: OrderRequest, account_id: str, conid: str) -> dict[str, Any]:
    """The JSON ticket for placing or modifying ``request`` (``cOID`` set by the caller where allowed).

    Raises:
        ValueError: If the instrument has no conid.
    """
    if not conid:
        msg = f"instrument {request.symbol} has no broker id (conid); resolve it first"
        raise ValueError(msg)
    ticket: dict[str, Any] = {
        "acctId": account_id,
        "conid": int(conid),
        "orderType": ORDER_TYPE_TO_WIRE[request.order_type],
        "side": SIDE_TO_WIRE[request.side],
        "tif": TIF_TO_WIRE[request.time_in_force],
        "quantity": float(request.quantity),
        "outsideRTH": request.outside_rth,
        "ticker": request.symbol,
    }
    _add_prices(ticket, request)
    if request.oca_group is not None:
        ticket["isSingleGroup"] = True
    return ticket


def _add_prices(ticket: dict[str, Any], request: OrderRequest) -> None:
    kind = request.order_type
    if kind is OrderType.LIMIT and request.limit_price is not None:
        ticket["price"] = float(request.limit_price)
    elif kind is OrderType.STOP and request.stop_price is not None:
        ticket["price"] = float(request.stop_price)  # IBKR: the stop trigger goes in "price" for STP
    elif kind is OrderType.STOP_LIMIT and request.limit_price is not None and request.stop_price is not None:
        ticket["price"] = float(request.limit_price)
        ticket["auxPrice"] = float(request.stop_price)
    elif kind is OrderType.TRAILING_STOP:
        if request.trail_amount is not None:
            ticket["trailingAmt"], ticket["trailingType"] = float(request.trail_amount), "amt"
        elif request.trail_percent is not None:
            ticket["trailingAmt"], ticket["trailingType"] = float(request.trail_percent), "%"
        if request.stop_price is not None:
            ticket["price"] = float(request.stop_price)


def order_update_from_live(row: LiveOrder) -> OrderUpdate:
    """An order report from a live-orders row or ``sor`` element (partial rows give partial reports)."""
    phase = ORDER_STATUS_FROM_WIRE.get(row.status) if row.status else None
    total = row.total_size
    if total is None and row.filled_quantity is not None and row.remaining_quantity is not None:
        total = row.filled_quantity + row.remaining_quantity
    return OrderUpdate(
        broker_order_id=row.order_id,
        client_order_id=row.order_ref,
        phase=phase,
        status_text=row.status,
        filled_quantity=row.filled_quantity,
        total_quantity=total,
        changed_at=_changed_at(row.last_execution_ms),
        price=row.price,
        aux_price=row.aux_price,
    )


def _changed_at(ms: int | None) -> datetime | None:
    # an unreadable time costs only itself, never the status update it came with
    if ms is None:
        return None
    try:
        return ts_from_ms(ms)
    except (OverflowError, ValueError):
        return None


def order_update_from_status(reply: OrderStatusReply) -> OrderUpdate:
    """A full order report from ``/iserver/account/order/status/{id}``.

    Its ``limit_price`` and ``stop_price`` stand for the live-orders row's ``price`` and ``auxPrice``.
    """
    phase = ORDER_STATUS_FROM_WIRE.get(reply.order_status) if reply.order_status else None
    return OrderUpdate(
        broker_order_id=reply.order_id,
        client_order_id=None,
        phase=phase,
        status_text=reply.order_status,
        filled_quantity=reply.cum_fill,
        total_quantity=reply.total_size,
        price=reply.limit_price,
        aux_price=reply.stop_price,
    )


def execution_from_trade(trade: Trade) -> Execution | None:
    """An execution from a trades row or ``str`` element; None if a required field is missing.

    Values are passed on as IBKR sent them (a negative size or commission included): the engine
    checks them against the order and refuses, loudly, what contradicts it.
    """
    side = SIDE_FROM_WIRE.get(trade.side or "")
    if side is None or trade.size is None or trade.price is None:
        return None
    if trade.trade_time_ms is not None:
        ts = ts_from_ms(trade.trade_time_ms)
    else:
        parsed = ts_from_trade_time(trade.trade_time or "")
        if parsed is None:
            return None
        ts = parsed
    return Execution(
        execution_id=trade.execution_id,
        client_order_id=trade.order_ref,
        broker_order_id=trade.order_id,
        instrument_id=trade.conid,
        symbol=trade.symbol or "",
        side=side,
        quantity=trade.size,
        price=trade.price,
        commission=trade.commission,
        ts=ts,
        account_id=trade.account,
    )


def report_from_execution(
    execution: Execution, client_order_id: str, broker_order_id: str | None = None
) -> ExecutionReport:
    """The framework's report of an execution of a known order (``broker_order_id`` if the row lacks one)."""
    return ExecutionReport(
        execution_id=execution.execution_id,
        client_order_id=client_order_id,
        side=execution.side,
        quantity=execution.quantity,
        price=execution.price,
        ts=execution.ts,
        symbol=execution.symbol or None,
        instrument_id=execution.instrument_id,
        account_id=execution.account_id,
        commission=execution.commission,
        broker_order_id=execution.broker_order_id or broker_order_id,
    )


def request_from_live(row: LiveOrder, client_order_id: str) -> OrderRequest | None:
    """Rebuild a ticket for an order found at the broker but unknown locally; None if incomplete."""
    side = SIDE_FROM_WIRE.get(row.side or "")
    quantity = row.total_size
    if side is None or quantity is None or quantity <= 0:
        return None
    kind = ORDER_TYPE_FROM_WIRE.get(row.order_type or "", OrderType.MARKET)
    needs_price = kind in (OrderType.LIMIT, OrderType.STOP)
    if needs_price and row.price is None:
        return None
    instrument = Instrument(
        symbol=row.ticker or str(row.conid), broker_id=row.conid, tick_size=Decimal("0.0001")
    )
    return OrderRequest(
        client_order_id=client_order_id,
        instrument=instrument,
        side=side,
        quantity=quantity,
        order_type=kind if kind in (OrderType.MARKET, OrderType.LIMIT, OrderType.STOP) else OrderType.MARKET,
        limit_price=row.price if kind is OrderType.LIMIT else None,
        stop_price=row.price if kind is OrderType.STOP else None,
        time_in_force=TIF_FROM_WIRE.get((row.time_in_force or "").upper(), TimeInForce.DAY),
        outside_rth=row.outside_rth is True,
    )


# ----------------------------------------------------------------------------- history, account


def history_query(duration: timedelta, start: datetime, end: datetime) -> tuple[str, str]:
    """The ``(period, bar)`` query for bars of ``duration`` covering ``[start, end)``.

    Raises:
        ValueError: If the bar duration is not one IBKR offers.
    """
    bar = BAR_SIZE_TO_WIRE.get(duration)
    if bar is None:
        msg = f"IBKR has no {duration} bars; use one of {sorted(BAR_SIZE_TO_WIRE)}"
        raise ValueError(msg)
    seconds = max((end - start).total_seconds(), duration.total_seconds())
    if seconds <= 30 * 60:
        return f"{math.ceil(seconds / 60)}min", bar
    if seconds <= 8 * 3600:
        return f"{math.ceil(seconds / 3600)}h", bar
    return f"{min(1000, math.ceil(seconds / 86400))}d", bar


def bars_from_history(
    history: History, symbol: str, duration: timedelta, start: datetime, end: datetime
) -> list[Bar]:
    """Bars of ``history`` starting in ``[start, end)``, oldest first; unreadable rows skipped."""
    bars = []
    for row in sorted(history.data, key=lambda r: r.t):
        when = ts_from_ms(row.t)
        if not start <= when < end:
            continue
        try:
            bars.append(Bar(symbol, when, duration, row.o, row.h, row.l, row.c, row.v or 0.0))
        except ValueError:
            continue
    return bars


def account_from_summary(account_id: str, summary: dict[str, SummaryValue], ts: datetime) -> Account:
    """Account balances from ``/portfolio/{acct}/summary`` metrics (missing metrics read as zero)."""

    def amount(key: str) -> Decimal:
        value = summary.get(key)
        if value is None or value.amount is None or value.is_null:
            return Decimal(0)
        return value.amount

    currency = next((v.currency for v in summary.values() if v.currency), None) or "USD"
    return Account(
        account_id=account_id,
        currency=currency,
        cash=amount("totalcashvalue"),
        equity=amount("netliquidation"),
        buying_power=amount("buyingpower"),
        ts=ts,
    )


def position_from_portfolio(row: PortfolioPosition, symbol: str, ts: datetime) -> Position:
    """A framework position from a portfolio row."""
    return Position(
        symbol=symbol,
        quantity=row.position or Decimal(0),
        average_price=row.avg_price or Decimal(0),
        realized_pnl=row.realized_pnl or Decimal(0),
        unrealized_pnl=row.unrealized_pnl or Decimal(0),
        last_price=row.mkt_price,
        ts=ts,
    )
