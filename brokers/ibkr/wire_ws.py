"""Pydantic models of the gateway's websocket frames: one per topic the adapter reads (spec section 7).

As tolerant as the REST models in :mod:`brokers.ibkr.wire`: unknown keys are ignored, wire names are
aliases, and values drift between gateway builds (numbers as strings, ids as int or string). A value
of the wrong type reads as absent where the frame is still useful without it (a market-data field, a
status flag); a container of the wrong type (``args`` that is not a list or an object) reads as empty,
as the adapter always treated it. Order (``sor``) and execution (``str``) rows stay unvalidated here:
the topic table validates them one by one, so one unreadable row never costs the others.

Shapes (spec 7.2-7.12), ``...`` standing for more keys the adapter ignores::

    smd+{conid}  {"topic": "smd+265598", "conid": 265598, "31": "189.60", "84": "189.56", ...}
    sor          {"topic": "sor", "args": [{"acct": "DU1234", "orderId": 352055828, "status": ...}, ...]}
    str          {"topic": "str", "args": [{"execution_id": "...", "side": "B", "size": 1, ...}, ...]}
    spl          {"topic": "spl", "args": {"DU1234.Core": {"rowType": 1, "dpl": -57520.0, "upl": ...}}}
    sts          {"topic": "sts", "args": {"authenticated": true}}    (or competing, message, fail ...)
    act          {"topic": "act", "args": {"accounts": ["DU1234567"], "selectedAccount": ..., ...}}
    ssd+{acct}   {"topic": "ssd+DU1234567", "result": [{"key": "NetLiquidation", "monetaryValue": ...}]}
    sld+{acct}   {"topic": "sld+DU1234567", "result": [{"acctCode": ..., "cashbalance": ..., ...}]}
    system       {"topic": "system", "success": "user1234"}  /  {"topic": "system", "hb": 1594677336001}
    tic          {"topic": "tic", "lastAccessed": 1594677336001, ...}
    (no topic)   {"message": "waiting for session"}  /  {"error": "..."}  (also {"topic": "error", ...})
"""

from __future__ import annotations

import math
from typing import Annotated
from typing import Any

from pydantic import AliasChoices
from pydantic import BeforeValidator
from pydantic import Field

from brokers.ibkr.fields import ASK_PRICE
from brokers.ibkr.fields import ASK_SIZE
from brokers.ibkr.fields import AVAILABILITY
from brokers.ibkr.fields import BID_PRICE
from brokers.ibkr.fields import BID_SIZE
from brokers.ibkr.fields import DAY_VOLUME
from brokers.ibkr.fields import LAST_PRICE
from brokers.ibkr.fields import LAST_SIZE
from brokers.ibkr.fields import MARK_PRICE
from brokers.ibkr.fields import parse_price
from brokers.ibkr.fields import parse_size
from brokers.ibkr.wire import LooseBool
from brokers.ibkr.wire import LooseDecimal
from brokers.ibkr.wire import WireModel

FROZEN_SOURCES = frozenset("ZY")
"""First letters of field 6509 for frozen data: the last values of a closed market (``Y``: frozen delayed)."""
_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})


def _conid(value: Any) -> str | None:
    # an int (not a bool) or a non-empty string; anything else falls back to the topic
    if (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, str) and value):
        return str(value)
    return None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _flag(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower() if isinstance(value, str | int) else ""
    return True if text in _TRUE else False if text in _FALSE else None


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None
    if isinstance(value, str) and value.strip().lstrip("-").isdecimal():
        return int(value)
    return None


def _object(value: Any) -> Any:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> Any:
    return value if isinstance(value, list) else []


def _objects(value: Any) -> Any:
    return [row for row in value if isinstance(row, dict)] if isinstance(value, list) else []


def _partitions(value: Any) -> Any:
    return {str(k): v for k, v in value.items() if isinstance(v, dict)} if isinstance(value, dict) else {}


def _strings(value: Any) -> list[str] | None:
    if not isinstance(value, list):
        return None
    return [str(v) for v in value if isinstance(v, str | int) and not isinstance(v, bool)]


Price = Annotated[float | None, BeforeValidator(parse_price)]
"""A market-data price (prefix and separators stripped); None when unreadable."""
Size = Annotated[float | None, BeforeValidator(parse_size)]
"""A market-data size or volume (separators, K/M/B suffixes); None when unreadable."""
Conid = Annotated[str | None, BeforeValidator(_conid)]
"""A conid sent as int or string; None when of another type."""
Text = Annotated[str | None, BeforeValidator(_text)]
"""Any scalar as text (``""`` stays ``""``)."""
Flag = Annotated[bool | None, BeforeValidator(_flag)]
"""A true/false flag (also ``"true"``/``"false"``, 1/0); None when absent or unreadable."""
Integer = Annotated[int | None, BeforeValidator(_integer)]
"""An integer such as epoch milliseconds, sent as number or digits; None when unreadable."""
Rows = Annotated[list[Any], BeforeValidator(_list)]
"""A list of rows validated later, one by one; empty when not a list."""


def topic_suffix(topic: str | None) -> str | None:
    """The id a topic embeds (``smd+265598@SMART`` -> ``265598``, ``ssd+DU1`` -> ``DU1``), or None."""
    if not topic or "+" not in topic:
        return None
    return topic.split("+", 1)[1].split("@", 1)[0] or None


class MarketData(WireModel):
    """A websocket ``smd+{conid}`` frame, or one ``/iserver/marketdata/snapshot`` row (same field codes).

    Only the fields that changed are sent; an absent or unreadable field is None.
    """

    topic: Text = None
    conid: Conid = None
    last: Price = Field(default=None, alias=LAST_PRICE)
    bid: Price = Field(default=None, alias=BID_PRICE)
    ask_size: Size = Field(default=None, alias=ASK_SIZE)
    ask: Price = Field(default=None, alias=ASK_PRICE)
    bid_size: Size = Field(default=None, alias=BID_SIZE)
    last_size: Size = Field(default=None, alias=LAST_SIZE)
    day_volume: Size = Field(default=None, alias=DAY_VOLUME)
    mark: Price = Field(default=None, alias=MARK_PRICE)
    availability: Text = Field(default=None, alias=AVAILABILITY)

    @property
    def frozen(self) -> bool | None:
        """Whether field 6509 says the data is frozen (``Z``, or ``Y`` frozen delayed); None when not sent."""
        if not self.availability:
            return None
        return self.availability[0] in FROZEN_SOURCES

    @property
    def instrument_id(self) -> str | None:
        """The conid, from ``conid`` or else from the topic (``smd+265598``); None if neither has one."""
        return self.conid if self.conid is not None else topic_suffix(self.topic)

    @property
    def warm(self) -> bool:
        """Whether a price field was sent (a snapshot pre-flight answer carries only identifiers)."""
        return not self.model_fields_set.isdisjoint(("last", "bid", "ask", "mark"))


class OrdersFrame(WireModel):
    """A ``sor`` frame: live-order rows (full or partial), each read as a :class:`~brokers.ibkr.wire.LiveOrder`."""

    topic: str
    args: Rows = []


class TradesFrame(WireModel):
    """A ``str`` frame: execution rows, each read as a :class:`~brokers.ibkr.wire.Trade`."""

    topic: str
    args: Rows = []


class PnlRow(WireModel):
    """One partition of a ``spl`` frame (same meanings as ``/iserver/account/pnl/partitioned``)."""

    row_type: Integer = Field(default=None, alias="rowType")
    daily: LooseDecimal = Field(default=None, alias="dpl")
    unrealized: LooseDecimal = Field(default=None, alias="upl")
    net_liquidation: LooseDecimal = Field(default=None, alias="nl")
    excess_liquidity: LooseDecimal = Field(default=None, alias="el")
    market_value: LooseDecimal = Field(default=None, alias="mv")


class PnlFrame(WireModel):
    """A ``spl`` frame: P&L keyed by partition, ``<account>.Core`` (FA accounts may add model partitions)."""

    topic: str
    args: Annotated[dict[str, PnlRow], BeforeValidator(_partitions)] = {}


class StatusArgs(WireModel):
    """The ``args`` of a ``sts`` push; each push carries some of these (``{"competing": false}``)."""

    authenticated: Flag = None
    competing: Flag = None
    message: Text = None
    fail: Text = None
    server_name: Text = Field(default=None, alias="serverName")
    username: Text = None


class StatusFrame(WireModel):
    """A ``sts`` frame: the brokerage session's status, on connect and whenever it changes."""

    topic: str
    args: Annotated[StatusArgs, BeforeValidator(_object)] = StatusArgs()


class AccountsArgs(WireModel):
    """The ``args`` of an ``act`` push (``accounts`` None when not sent)."""

    accounts: Annotated[list[str] | None, BeforeValidator(_strings)] = None
    selected_account: Text = Field(default=None, alias="selectedAccount")
    is_paper: LooseBool = Field(default=None, alias="isPaper")


class AccountsFrame(WireModel):
    """An ``act`` frame: the session's accounts, on connect and on change."""

    topic: str
    args: Annotated[AccountsArgs, BeforeValidator(_object)] = AccountsArgs()


class SummaryEntry(WireModel):
    """One entry of an ``ssd`` frame (``value`` for text, ``monetaryValue`` for amounts)."""

    key: Text = None
    value: Text = None
    monetary_value: LooseDecimal = Field(default=None, alias="monetaryValue")
    currency: Text = None
    timestamp: Integer = None


class SummaryFrame(WireModel):
    """An ``ssd+{acct}`` frame: account summary values."""

    topic: str
    result: Annotated[list[SummaryEntry], BeforeValidator(_objects)] = []


class LedgerEntry(WireModel):
    """One entry of an ``sld`` frame: a currency's ledger (``BASE`` for the account total)."""

    account: Text = Field(default=None, alias="acctCode")
    key: Text = None
    currency: Text = None
    cash_balance: LooseDecimal = Field(default=None, validation_alias=AliasChoices("cashbalance", "cashBalance"))
    net_liquidation: LooseDecimal = Field(default=None, alias="netLiquidationValue")
    unrealized_pnl: LooseDecimal = Field(default=None, alias="unrealizedPnl")
    timestamp: Integer = None


class LedgerFrame(WireModel):
    """An ``sld+{acct}`` frame: ledger entries."""

    topic: str
    result: Annotated[list[LedgerEntry], BeforeValidator(_objects)] = []


class SystemFrame(WireModel):
    """A ``system`` frame: ``success`` (the user name) once authenticated, then ``hb`` every ~10 s."""

    topic: str
    success: Text = None
    heartbeat_ms: Integer = Field(default=None, alias="hb")


class TicFrame(WireModel):
    """The answer to a ``tic`` keep-alive."""

    topic: str
    last_accessed_ms: Integer = Field(default=None, alias="lastAccessed")


class NoticeFrame(WireModel):
    """A frame without a topic carrying ``message``, e.g. ``{"message": "waiting for session"}``."""

    message: Text = None


class ErrorFrame(WireModel):
    """An error frame: ``{"error": ...}`` without a topic, or ``{"topic": "error", ...}``."""

    topic: Text = None
    error: Text = None
