"""Contract JSON in the gateway's shapes (spec section 4).

Note the deliberate type drift IBKR has: ``conid`` is a *string* in secdef search results and an
integer everywhere else.
"""

from __future__ import annotations

from typing import Any

from simulators.ibkr.instruments import Instrument

VALID_EXCHANGES = "SMART,AMEX,NYSE,CBOE,PHLX,ISE,CHX,ARCA,ISLAND,DRCTEDGE,BEX,BATS,EDGEA,IEX"


def search_result(inst: Instrument, by_name: bool) -> dict[str, Any]:
    """Return one ``/iserver/secdef/search`` element."""
    if by_name:
        return {"conid": str(inst.conid), "companyName": inst.name,
                "companyHeader": f"{inst.name} - {inst.exchange}", "symbol": inst.symbol}
    return {
        "conid": str(inst.conid), "companyHeader": f"{inst.name} - {inst.exchange}", "companyName": inst.name,
        "symbol": inst.symbol, "description": inst.exchange, "restricted": None, "fop": None,
        "opt": "20240119;20240216;20240315", "war": None,
        "sections": [
            {"secType": "STK"},
            {"secType": "OPT", "months": "JAN24;FEB24;MAR24", "exchange": "SMART;AMEX;BATS;BOX;CBOE;ISE;MIAX;PHLX"},
            {"secType": "CFD", "exchange": "SMART"},
            {"secType": "BAG"},
        ],
    }


def contract_info(inst: Instrument) -> dict[str, Any]:
    """Return the ``/iserver/contract/{conid}/info`` body."""
    return {
        "con_id": inst.conid, "symbol": inst.symbol, "local_symbol": inst.symbol, "company_name": inst.name,
        "instrument_type": "STK", "exchange": inst.exchange, "valid_exchanges": VALID_EXCHANGES,
        "currency": "USD", "trading_class": "NMS" if inst.exchange == "NASDAQ" else inst.symbol,
        "industry": inst.industry, "category": inst.industry, "r_t_h": True, "smart_available": True,
        "allow_sell_long": False, "is_zero_commission_security": False, "multiplier": None,
        "underlying_con_id": 0, "underlying_issuer": None, "contract_month": None, "expiry_full": None,
        "maturity_date": None, "cusip": None, "cfi_code": "", "text": None, "contract_clarification_type": None,
        "classifier": None,
    }


def stocks_entry(inst: Instrument) -> list[dict[str, Any]]:
    """Return the ``/trsrv/stocks`` value list for one symbol."""
    return [{"name": inst.name, "chineseName": None, "assetClass": "STK",
             "contracts": [{"conid": inst.conid, "exchange": inst.exchange, "isUS": True}]}]


def secdef(inst: Instrument) -> dict[str, Any]:
    """Return one ``/trsrv/secdef`` element."""
    return {
        "conid": inst.conid, "currency": "USD", "crossCurrency": False, "time": 21, "chineseName": None,
        "allExchanges": VALID_EXCHANGES, "listingExchange": inst.exchange, "countryCode": "US",
        "name": inst.name, "assetClass": "STK", "expiry": None, "lastTradingDay": None, "group": inst.industry,
        "putOrCall": None, "sector": inst.industry, "sectorGroup": inst.industry, "strike": "0",
        "ticker": inst.symbol, "undConid": 0, "multiplier": 0.0, "type": inst.kind, "hasOptions": True,
        "fullName": inst.symbol, "isUS": True, "incrementRules": [{"lowerEdge": 0.0, "increment": 0.01}],
        "displayRule": {"magnification": 0, "displayRuleStep": [{"decimalDigits": 2, "lowerEdge": 0.0,
                                                                  "wholeDigits": 4}]},
        "isEventContract": False, "pageSize": 100,
    }
