"""Account and portfolio JSON in the gateway's shapes (spec section 3 and 7.7-7.8).

Numbers here are floats on the wire because IBKR sends them as JSON numbers; the books behind them
are Decimal. Marks (``conid -> price``) come from the live market.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from simulators.ibkr.account import Ledger
from simulators.ibkr.account import Position
from simulators.ibkr.config import SimulatorConfig
from simulators.ibkr.instruments import Instrument
from simulators.ibkr.session import SERVER_INFO

ACCOUNT_OPENED_MS = 1678852800000
MAINTENANCE_MARGIN = Decimal("0.25")
INITIAL_MARGIN = Decimal("0.25")
ACCT_PROPS = {
    "hasChildAccounts": False, "supportsCashQty": True, "noFXConv": False, "isProp": False,
    "supportsFractions": True, "allowCustomerTime": False,
}


def iserver_accounts(config: SimulatorConfig, session_marker: str) -> dict[str, Any]:
    """Return the ``/iserver/accounts`` body (also the websocket ``act`` args)."""
    acct = config.account_id
    return {
        "accounts": [acct], "acctProps": {acct: dict(ACCT_PROPS)}, "aliases": {acct: acct},
        "allowFeatures": {
            "showGFIS": True, "showEUCostReport": False, "allowEventContract": True, "allowFXConv": True,
            "allowFinancialLens": False, "allowMTA": True, "allowTypeAhead": True, "allowEventTrading": True,
            "snapshotRefreshTimeout": 30, "liteUser": False, "showWebNews": True, "research": True,
            "debugPnl": True, "showTaxOpt": True, "showImpactDashboard": True, "allowDynAccount": False,
            "allowCrypto": False, "allowedAssetTypes": "STK,CFD,OPT,FOP,WAR,FUT,BAG,PDC,CASH,IND,BOND,BILL,FUND",
        },
        "chartPeriods": {"STK": ["*"], "OPT": ["2h", "1d", "2d", "1w", "1m"], "CASH": ["*"]},
        "groups": [], "profiles": [], "selectedAccount": acct, "serverInfo": dict(SERVER_INFO),
        "sessionId": session_marker, "isFT": False, "isPaper": config.paper,
    }


def portfolio_account(config: SimulatorConfig) -> dict[str, Any]:
    """Return one ``/portfolio/accounts`` element."""
    acct = config.account_id
    title = "Paper Trader" if config.paper else "Simulated Trader"
    return {
        "id": acct, "accountId": acct, "accountVan": acct, "accountTitle": title, "displayName": title,
        "accountAlias": None, "accountStatus": ACCOUNT_OPENED_MS, "currency": "USD",
        "type": "DEMO" if config.paper else "INDIVIDUAL", "tradingType": "STKNOPT", "businessType": "INDEPENDENT",
        "ibEntity": "IBLLC-US", "faclient": False, "clearingStatus": "O", "covestor": False,
        "noClientTrading": False, "trackVirtualFXPortfolio": False, "brokerageAccess": True,
        "PrepaidCrypto-Z": False, "PrepaidCrypto-P": False,
        "parent": {"mmc": [], "accountId": "", "isMParent": False, "isMChild": False, "isMultiplex": False},
        "desc": acct,
    }


class Totals:
    """Derived account figures at the current marks.

    Args:
        ledger: The account's books.
        marks: Current price per conid.
    """

    def __init__(self, ledger: Ledger, marks: dict[int, Decimal]) -> None:
        self.cash = ledger.cash
        self.market_value = ledger.market_value(marks)
        self.gross = ledger.gross_value(marks)
        self.unrealized = ledger.unrealized(marks)
        self.realized = ledger.realized
        self.net_liquidation = self.cash + self.market_value
        self.maintenance = self.gross * MAINTENANCE_MARGIN
        self.initial = self.gross * INITIAL_MARGIN
        self.excess = self.net_liquidation - self.maintenance
        self.available = self.net_liquidation - self.initial


def _amount(value: Decimal | float, ts: int, currency: str | None = "USD") -> dict[str, Any]:
    return {"amount": float(value), "currency": currency, "isNull": False, "timestamp": ts, "value": None,
            "severity": 0}


def _text(value: str, ts: int) -> dict[str, Any]:
    return {"amount": 0.0, "currency": None, "isNull": False, "timestamp": ts, "value": value, "severity": 0}


def summary(config: SimulatorConfig, totals: Totals, ts_ms: int) -> dict[str, Any]:
    """Return the ``/portfolio/{acct}/summary`` body."""
    money = {
        "netliquidation": totals.net_liquidation, "totalcashvalue": totals.cash,
        "buyingpower": totals.available * 4, "availablefunds": totals.available,
        "excessliquidity": totals.excess, "grosspositionvalue": totals.gross,
        "initmarginreq": totals.initial, "maintmarginreq": totals.maintenance,
        "equitywithloanvalue": totals.net_liquidation, "sma": totals.net_liquidation,
    }
    body: dict[str, Any] = {
        "accountcode": _text(config.account_id, ts_ms),
        "accounttype": _text("DEMO" if config.paper else "INDIVIDUAL", ts_ms),
        "accountready": _text("true", ts_ms),
    }
    for key, value in money.items():
        body[key] = _amount(value, ts_ms)
        if key != "buyingpower":
            body[f"{key}-s"] = _amount(value, ts_ms)
    cushion = totals.excess / totals.net_liquidation if totals.net_liquidation else Decimal(0)
    body["cushion"] = _amount(cushion, ts_ms, None)
    body["daytradesremaining"] = _amount(-1.0, ts_ms, None)
    return body


def ledger(config: SimulatorConfig, totals: Totals, ts_s: int) -> dict[str, Any]:
    """Return the ``/portfolio/{acct}/ledger`` body (``timestamp`` in epoch seconds)."""
    def entry(currency: str) -> dict[str, Any]:
        row: dict[str, Any] = {
            "acctcode": config.account_id, "currency": currency, "secondkey": currency, "key": "LedgerList",
            "cashbalance": float(totals.cash), "settledcash": float(totals.cash), "cashbalancefxsegment": 0.0,
            "netliquidationvalue": float(totals.net_liquidation), "stockmarketvalue": float(totals.market_value),
            "stockoptionmarketvalue": 0.0, "futuremarketvalue": 0.0, "futureoptionmarketvalue": 0.0,
            "futuresonlypnl": 0.0, "commoditymarketvalue": 0.0, "corporatebondsmarketvalue": 0.0,
            "tbondsmarketvalue": 0.0, "tbillsmarketvalue": 0.0, "warrantsmarketvalue": 0.0,
            "issueroptionsmarketvalue": 0.0, "moneyfunds": 0.0, "funds": 0.0, "cryptocurrencyvalue": 0.0,
            "interest": 0.0, "dividends": 0.0, "realizedpnl": float(totals.realized),
            "unrealizedpnl": float(totals.unrealized), "exchangerate": 1, "sessionid": 1, "severity": 0,
            "timestamp": ts_s,
        }
        if currency != "BASE":
            row["endofbundle"] = 1
        return row

    return {"BASE": entry("BASE"), "USD": entry("USD")}


def position_row(config: SimulatorConfig, position: Position, inst: Instrument, mark: Decimal) -> dict[str, Any]:
    """Return one ``/portfolio/{acct}/positions/{page}`` element."""
    return {
        "acctId": config.account_id, "conid": inst.conid, "contractDesc": inst.symbol,
        "position": float(position.quantity), "mktPrice": float(mark), "mktValue": float(position.quantity * mark),
        "currency": "USD", "avgCost": float(position.avg_cost), "avgPrice": float(position.avg_cost),
        "realizedPnl": float(position.realized), "unrealizedPnl": float((mark - position.avg_cost) * position.quantity),
        "exchs": None, "expiry": None, "putOrCall": None, "multiplier": 0.0, "strike": "0", "exerciseStyle": None,
        "conExchMap": [], "assetClass": "STK", "undConid": 0, "model": "",
        "incrementRules": [{"lowerEdge": 0.0, "increment": 0.01}],
        "displayRule": {"magnification": 0, "displayRuleStep": [{"decimalDigits": 2, "lowerEdge": 0.0,
                                                                  "wholeDigits": 4}]},
        "time": 30, "chineseName": None, "allExchanges": "SMART,AMEX,NYSE,CBOE,ARCA,ISLAND,NASDAQ",
        "listingExchange": inst.exchange, "countryCode": "US", "name": inst.name, "lastTradingDay": None,
        "group": inst.industry, "sector": inst.industry, "sectorGroup": inst.industry, "ticker": inst.symbol,
        "type": inst.kind, "hasOptions": True, "fullName": inst.symbol, "isUS": True, "isEventContract": False,
        "pageSize": 100,
    }


def pnl(config: SimulatorConfig, totals: Totals, daily: Decimal) -> dict[str, Any]:
    """Return the P&L partition ``{"<acct>.Core": {...}}`` used by REST and ``spl``."""
    return {f"{config.account_id}.Core": {
        "rowType": 1, "dpl": float(daily), "nl": float(totals.net_liquidation), "upl": float(totals.unrealized),
        "el": float(totals.excess), "mv": float(totals.market_value),
    }}


def summary_stream(account: str, totals: Totals, ts: int) -> dict[str, Any]:
    """Return one websocket ``ssd`` message (``ts`` in epoch seconds); sent on subscribe and after fills."""
    return {"topic": f"ssd+{account}", "result": [
        {"key": "AccountCode", "value": account, "timestamp": ts},
        {"key": "NetLiquidation", "monetaryValue": float(totals.net_liquidation), "currency": "USD", "severity": 0,
         "timestamp": ts},
        {"key": "ExcessLiquidity-S", "monetaryValue": float(totals.excess), "currency": "USD", "severity": 0,
         "timestamp": ts},
    ]}


def ledger_stream(account: str, totals: Totals, ts: int) -> dict[str, Any]:
    """Return one websocket ``sld`` message (``ts`` in epoch seconds); sent on subscribe and after fills."""
    return {"topic": f"sld+{account}", "result": [
        {"acctCode": account, "key": "LedgerListBASE", "currency": "BASE", "cashbalance": float(totals.cash),
         "netLiquidationValue": float(totals.net_liquidation), "unrealizedPnl": float(totals.unrealized),
         "timestamp": ts},
    ]}
