"""The topic table: one pure function per websocket topic, from a decoded frame to typed messages.

The stream decodes a frame to a JSON object and hands it to :func:`parse_frame`, which looks the
frame's topic up in :data:`TOPICS` (``smd+265598`` -> ``smd``), validates the frame into its wire
model (:mod:`brokers.ibkr.wire_ws`) and returns what it says as typed messages: adapter-internal
records (:class:`~brokers.ibkr.parsing.QuoteTick`, :class:`~brokers.ibkr.parsing.OrderUpdate`,
:class:`SessionStatus` ...) or framework events (:class:`~framework.events.PnlUpdated`). No dict
leaves this module. Frames without a topic (``waiting for session``, ``{"error": ...}``) and topics the
adapter does not read (``smh``, ``ntf``, ``blt`` ...) are handled here too; the latter yield nothing.

Pure: no I/O, no clock (``ts`` is a parameter), no logging, no state. A frame whose wire model refuses
it raises ``ValidationError`` (the stream counts and skips it); an order or execution row that cannot
be read becomes a :class:`RowRefused` in place, so one bad row never costs the others in its frame.

``sts`` is read here and nowhere else: the stream opens on ``SessionStatus(authenticated=True)`` and
the incoming router reports a session failure on ``authenticated=False`` or ``competing=True``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from typing import TypeAlias

from pydantic import ValidationError

from brokers.ibkr import parsing
from brokers.ibkr.parsing import Execution
from brokers.ibkr.parsing import OrderUpdate
from brokers.ibkr.parsing import QuoteTick
from brokers.ibkr.wire import LiveOrder
from brokers.ibkr.wire import Trade
from brokers.ibkr.wire_ws import AccountsFrame
from brokers.ibkr.wire_ws import ErrorFrame
from brokers.ibkr.wire_ws import LedgerFrame
from brokers.ibkr.wire_ws import MarketData
from brokers.ibkr.wire_ws import NoticeFrame
from brokers.ibkr.wire_ws import OrdersFrame
from brokers.ibkr.wire_ws import PnlFrame
from brokers.ibkr.wire_ws import PnlRow
from brokers.ibkr.wire_ws import StatusFrame
from brokers.ibkr.wire_ws import SummaryFrame
from brokers.ibkr.wire_ws import SystemFrame
from brokers.ibkr.wire_ws import TicFrame
from brokers.ibkr.wire_ws import TradesFrame
from brokers.ibkr.wire_ws import topic_suffix
from framework.events import PnlUpdated

WAITING_FOR_SESSION = "waiting for session"
CORE_PARTITION = "Core"  # spl key "<account>.Core": the account as a whole (FA adds model partitions)


@dataclass(frozen=True, slots=True)
class SessionStatus:
    """A ``sts`` push: the brokerage session's state; None means "not in this push"."""

    authenticated: bool | None
    competing: bool | None


@dataclass(frozen=True, slots=True)
class AccountList:
    """An ``act`` push: the session's accounts (None when the push did not list them)."""

    accounts: tuple[str, ...] | None
    selected: str | None


@dataclass(frozen=True, slots=True)
class AccountValue:
    """One value of an account summary: an amount (with its currency) or a text."""

    key: str
    amount: Decimal | None
    currency: str | None
    text: str | None


@dataclass(frozen=True, slots=True)
class AccountSummary:
    """An ``ssd`` push: account summary values (too partial for a framework ``Account``)."""

    account_id: str | None
    values: tuple[AccountValue, ...]


@dataclass(frozen=True, slots=True)
class LedgerUpdate:
    """One entry of an ``sld`` push: a currency's ledger (``BASE`` for the account total)."""

    account_id: str | None
    currency: str | None
    cash_balance: Decimal | None
    net_liquidation: Decimal | None
    unrealized_pnl: Decimal | None


@dataclass(frozen=True, slots=True)
class LoggedIn:
    """``system`` ``success``: the socket is authenticated for ``username``."""

    username: str


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """``system`` ``hb``: the gateway's heartbeat (epoch milliseconds)."""

    ms: int


@dataclass(frozen=True, slots=True)
class TicReply:
    """The answer to a ``tic`` keep-alive."""

    last_accessed_ms: int | None


@dataclass(frozen=True, slots=True)
class WaitingForSession:
    """The socket is open but not authorised: the client must send its session id."""


@dataclass(frozen=True, slots=True)
class StreamError:
    """An error frame."""

    text: str


@dataclass(frozen=True, slots=True)
class RowRefused:
    """An order or execution row that could not be read (the stream counts it as malformed).

    Attributes:
        kind: What failed and where (``"ValidationError at sor row"``), for the skip counters.
        detail: The first error message.
    """

    kind: str
    detail: str


Incoming: TypeAlias = (
    QuoteTick | OrderUpdate | Execution | PnlUpdated | SessionStatus | AccountList | AccountSummary | LedgerUpdate
    | LoggedIn | Heartbeat | TicReply | WaitingForSession | StreamError | RowRefused
)
"""Everything a websocket frame can say, typed."""

TopicParser = Callable[[dict[str, Any], datetime], list[Incoming]]
"""A topic's function: decoded frame and receive time -> typed messages."""


def parse_frame(message: dict[str, Any], ts: datetime) -> list[Incoming]:
    """Translate one decoded frame received at ``ts`` into typed messages (empty for unread topics).

    Raises:
        ValidationError: The frame does not fit its topic's wire model.
    """
    topic = message.get("topic")
    if not isinstance(topic, str):
        return parse_untopiced(message, ts)
    parser = TOPICS.get(topic.partition("+")[0])
    return parser(message, ts) if parser is not None else []


def parse_market_data(message: dict[str, Any], ts: datetime) -> list[Incoming]:
    """``smd+{conid}``: the changed quote fields (nothing for an update without a conid)."""
    tick = parsing.quote_tick(MarketData.model_validate(message))
    return [] if tick is None else [tick]


def parse_orders(message: dict[str, Any], ts: datetime) -> list[Incoming]:
    """``sor``: one order update per row (partial rows give partial updates)."""
    return [_order_row(row) for row in OrdersFrame.model_validate(message).args]


def _order_row(row: Any) -> OrderUpdate | RowRefused:
    try:
        return parsing.order_update_from_live(LiveOrder.model_validate(row))
    except (ValueError, ArithmeticError) as e:  # ValidationError is a ValueError
        return _refused("sor", e)


def parse_trades(message: dict[str, Any], ts: datetime) -> list[Incoming]:
    """``str``: one execution per row (rows missing a required field are left out)."""
    executions: list[Incoming] = []
    for row in TradesFrame.model_validate(message).args:
        try:
            execution = parsing.execution_from_trade(Trade.model_validate(row))
        except (ValueError, ArithmeticError) as e:  # an out-of-range epoch time overflows
            executions.append(_refused("str", e))
            continue
        if execution is not None:
            executions.append(execution)
    return executions


def _refused(topic: str, error: Exception) -> RowRefused:
    detail = error.errors()[0]["msg"] if isinstance(error, ValidationError) else str(error)
    return RowRefused(f"{type(error).__name__} at {topic} row", detail)


def parse_pnl(message: dict[str, Any], ts: datetime) -> list[Incoming]:
    """``spl``: one ``PnlUpdated`` per account (``<account>.Core`` partition; model partitions left out)."""
    events: list[Incoming] = []
    for key, row in PnlFrame.model_validate(message).args.items():
        account, _, partition = key.partition(".")
        if account and partition in ("", CORE_PARTITION):
            events.append(_pnl_event(account, row, ts))
    return events


def _pnl_event(account: str, row: PnlRow, ts: datetime) -> PnlUpdated:
    return PnlUpdated(ts=ts, account_id=account, daily_pnl=row.daily, unrealized_pnl=row.unrealized,
                      net_liquidation=row.net_liquidation, excess_liquidity=row.excess_liquidity,
                      market_value=row.market_value)


def parse_status(message: dict[str, Any], ts: datetime) -> list[Incoming]:
    """``sts``: the session status flags the push carries."""
    args = StatusFrame.model_validate(message).args
    return [SessionStatus(authenticated=args.authenticated, competing=args.competing)]


def parse_accounts(message: dict[str, Any], ts: datetime) -> list[Incoming]:
    """``act``: the accounts of the session."""
    args = AccountsFrame.model_validate(message).args
    accounts = tuple(args.accounts) if args.accounts is not None else None
    return [AccountList(accounts=accounts, selected=args.selected_account)]


def parse_summary(message: dict[str, Any], ts: datetime) -> list[Incoming]:
    """``ssd+{acct}``: the summary values that have a key."""
    frame = SummaryFrame.model_validate(message)
    values = tuple(AccountValue(e.key, e.monetary_value, e.currency, e.value) for e in frame.result if e.key)
    return [AccountSummary(account_id=topic_suffix(frame.topic), values=values)]


def parse_ledger(message: dict[str, Any], ts: datetime) -> list[Incoming]:
    """``sld+{acct}``: one update per ledger entry."""
    frame = LedgerFrame.model_validate(message)
    account = topic_suffix(frame.topic)
    return [
        LedgerUpdate(account_id=e.account or account, currency=e.currency, cash_balance=e.cash_balance,
                     net_liquidation=e.net_liquidation, unrealized_pnl=e.unrealized_pnl)
        for e in frame.result
    ]


def parse_system(message: dict[str, Any], ts: datetime) -> list[Incoming]:
    """``system``: ``success`` (authenticated) and/or the heartbeat."""
    frame = SystemFrame.model_validate(message)
    messages: list[Incoming] = []
    if frame.success is not None:
        messages.append(LoggedIn(frame.success))
    if frame.heartbeat_ms is not None:
        messages.append(Heartbeat(frame.heartbeat_ms))
    return messages


def parse_tic(message: dict[str, Any], ts: datetime) -> list[Incoming]:
    """``tic``: the keep-alive's answer."""
    return [TicReply(TicFrame.model_validate(message).last_accessed_ms)]


def parse_error(message: dict[str, Any], ts: datetime) -> list[Incoming]:
    """``{"error": ...}`` (or ``{"topic": "error", ...}``): the error's text."""
    return [StreamError(ErrorFrame.model_validate(message).error or "")]


def parse_untopiced(message: dict[str, Any], ts: datetime) -> list[Incoming]:
    """A frame without a topic: an error, ``waiting for session``, or a notice the adapter ignores."""
    if "error" in message:
        return parse_error(message, ts)
    notice = NoticeFrame.model_validate(message)
    return [WaitingForSession()] if notice.message == WAITING_FOR_SESSION else []


TOPICS: dict[str, TopicParser] = {
    "smd": parse_market_data,
    "sor": parse_orders,
    "str": parse_trades,
    "spl": parse_pnl,
    "sts": parse_status,
    "act": parse_accounts,
    "ssd": parse_summary,
    "sld": parse_ledger,
    "system": parse_system,
    "tic": parse_tic,
    "error": parse_error,
}
"""Topic (the part before ``+``) -> its function."""
