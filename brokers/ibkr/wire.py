"""Pydantic models of the Client Portal Web API payloads the adapter reads.

Names from the wire live here as aliases (``orderId``, ``conid``, ``avgPrice``); attribute names are
snake_case. Every model ignores unknown keys and tolerates the type drift between gateway builds:
conids and ids arrive as int or string, prices as number or string (``"457.00"``), sizes with
thousands separators (``"1,300"``). Partial websocket updates (``sor`` sends only changed fields) are
the same model with most fields ``None``.
"""

from __future__ import annotations

import math
from decimal import Decimal
from decimal import InvalidOperation
from typing import Annotated
from typing import Any

from pydantic import AliasChoices
from pydantic import BaseModel
from pydantic import BeforeValidator
from pydantic import ConfigDict
from pydantic import Field
from pydantic import PlainValidator


def _loose_decimal(value: Any) -> Decimal | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, float):
        return Decimal(repr(value))
    text = str(value).replace(",", "").strip()
    try:
        result = Decimal(text)
    except InvalidOperation:
        return None
    return result if result.is_finite() else None


def _reported_decimal(value: Any) -> Decimal | None:
    # an execution's numbers are passed on as sent, a non-finite one included: the engine refuses it
    # naming the field, where dropping it here would lose the report without a trace
    if isinstance(value, float) and not math.isfinite(value):
        return Decimal(str(value))
    if isinstance(value, str) and value.strip().lower() in _NON_FINITE:
        return Decimal(value.strip())
    return _loose_decimal(value)


_NON_FINITE = frozenset({"nan", "inf", "-inf", "infinity", "-infinity"})


def _loose_str(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def _loose_bool(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"true", "1", "yes"}


LooseDecimal = Annotated[Decimal | None, BeforeValidator(_loose_decimal)]
"""A number sent as int, float or string (commas allowed); None when absent or unreadable."""
ReportedDecimal = Annotated[Decimal | None, PlainValidator(_reported_decimal)]
"""An execution's number as sent (non-finite kept, for the engine to refuse); None when absent."""
IdStr = Annotated[str | None, BeforeValidator(_loose_str)]
"""An id sent as int or string (conids, order ids), normalised to a string."""
RequiredId = Annotated[str, BeforeValidator(_loose_str)]
"""A required id sent as string or number (reply ids: a UUID as documented, other forms seen), as a string."""
LooseBool = Annotated[bool | None, BeforeValidator(_loose_bool)]
"""A boolean sent as bool or string (``isPaper`` in some builds)."""


class WireModel(BaseModel):
    """Base of wire models: unknown keys ignored, aliases and field names both accepted."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class AuthStatus(WireModel):
    """``/iserver/auth/status`` (also inside ``/tickle`` and websocket ``sts``)."""

    authenticated: bool = False
    competing: bool = False
    connected: bool = False
    message: str = ""
    fail: str = ""

    @property
    def healthy(self) -> bool:
        """Brokerage session usable: authenticated, connected and not competing."""
        return self.authenticated and self.connected and not self.competing


class IserverStatus(WireModel):
    """The ``iserver`` part of a ``/tickle`` answer."""

    auth_status: AuthStatus | None = Field(default=None, alias="authStatus")


class Tickle(WireModel):
    """``/tickle``: the session id for the websocket plus an auth snapshot."""

    session: str | None = None
    sso_expires: int | None = Field(default=None, alias="ssoExpires")
    iserver: IserverStatus | None = None
    error: str | None = None


class BrokerageAccounts(WireModel):
    """``/iserver/accounts`` (the priming call) and the websocket ``act`` topic."""

    accounts: list[str] = []
    selected_account: str | None = Field(default=None, alias="selectedAccount")
    is_paper: LooseBool = Field(default=None, alias="isPaper")


class PortfolioAccount(WireModel):
    """One element of ``/portfolio/accounts``."""

    id: str | None = None
    account_id: str | None = Field(default=None, alias="accountId")
    currency: str | None = None
    type: str | None = None


class SecdefSection(WireModel):
    """A security type offered for a search result."""

    sec_type: str | None = Field(default=None, alias="secType")


class SecdefResult(WireModel):
    """One element of ``/iserver/secdef/search`` (conid is a string there)."""

    conid: IdStr = None
    symbol: str | None = None
    company_name: str | None = Field(default=None, alias="companyName")
    description: str | None = None
    sections: list[SecdefSection] = []


class OrderQuestion(WireModel):
    """An order reply message that must be confirmed through ``/iserver/reply/{id}``."""

    id: RequiredId
    message: list[str] = []
    message_ids: list[str] = Field(default=[], alias="messageIds")


class OrderAck(WireModel):
    """An accepted placement, modify or reply answer."""

    order_id: IdStr = None
    order_status: str | None = None
    local_order_id: str | None = None
    parent_order_id: IdStr = None


class CancelAck(WireModel):
    """``DELETE /iserver/account/{acct}/order/{id}``: the request was received (not yet cancelled)."""

    msg: str | None = None
    order_id: IdStr = None
    conid: IdStr = None


class LiveOrder(WireModel):
    """A live-orders row or a websocket ``sor`` element (partial updates carry few fields)."""

    account: str | None = Field(default=None, alias="acct")
    order_id: IdStr = Field(default=None, alias="orderId")
    conid: IdStr = None
    ticker: str | None = None
    status: str | None = None
    side: str | None = None
    order_type: str | None = Field(default=None, alias="orderType")
    total_size: LooseDecimal = Field(default=None, alias="totalSize")
    filled_quantity: LooseDecimal = Field(default=None, alias="filledQuantity")
    remaining_quantity: LooseDecimal = Field(default=None, alias="remainingQuantity")
    avg_price: LooseDecimal = Field(default=None, alias="avgPrice")
    price: LooseDecimal = None
    aux_price: LooseDecimal = Field(default=None, alias="auxPrice")
    order_ref: str | None = None
    last_execution_ms: int | None = Field(default=None, alias="lastExecutionTime_r")
    outside_rth: LooseBool = Field(default=None, validation_alias=AliasChoices("outsideRTH", "outside_rth"))
    time_in_force: str | None = Field(default=None, alias="timeInForce")


class LiveOrders(WireModel):
    """``/iserver/account/orders``."""

    orders: list[LiveOrder] = []
    snapshot: bool | None = None


class OrderStatusReply(WireModel):
    """``/iserver/account/order/status/{id}``."""

    order_id: IdStr = None
    order_status: str | None = None
    order_status_description: str | None = None
    conid: IdStr = None
    side: str | None = None
    total_size: LooseDecimal = None
    cum_fill: LooseDecimal = None
    average_price: LooseDecimal = None
    outside_rth: LooseBool = None
    limit_price: LooseDecimal = None
    stop_price: LooseDecimal = None


class Trade(WireModel):
    """One execution from ``/iserver/account/trades`` or the websocket ``str`` topic."""

    execution_id: str
    symbol: str | None = None
    side: str | None = None
    size: ReportedDecimal = None
    price: ReportedDecimal = None
    commission: ReportedDecimal = None
    order_ref: str | None = None
    order_id: IdStr = None
    conid: IdStr = None
    account: str | None = None
    trade_time: str | None = None
    trade_time_ms: int | None = Field(default=None, alias="trade_time_r")


class HistoryBar(WireModel):
    """One bar of ``/iserver/marketdata/history`` (``t`` = bar start, epoch ms)."""

    t: int
    o: float
    h: float
    l: float  # noqa: E741 - the wire name
    c: float
    v: float | None = None


class History(WireModel):
    """``/iserver/marketdata/history``."""

    symbol: str | None = None
    bar_length: int | None = Field(default=None, alias="barLength")
    data: list[HistoryBar] = []


class SummaryValue(WireModel):
    """One metric of ``/portfolio/{acct}/summary``."""

    amount: LooseDecimal = None
    currency: str | None = None
    is_null: bool = Field(default=False, alias="isNull")
    value: str | None = None


class PortfolioPosition(WireModel):
    """One element of ``/portfolio/{acct}/positions/{page}``."""

    conid: IdStr = None
    ticker: str | None = None
    contract_desc: str | None = Field(default=None, alias="contractDesc")
    position: LooseDecimal = None
    avg_price: LooseDecimal = Field(default=None, alias="avgPrice")
    mkt_price: LooseDecimal = Field(default=None, alias="mktPrice")
    realized_pnl: LooseDecimal = Field(default=None, alias="realizedPnl")
    unrealized_pnl: LooseDecimal = Field(default=None, alias="unrealizedPnl")
