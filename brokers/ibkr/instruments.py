"""Instrument lookups: symbol -> IBKR contract (conid), searched once and cached.

Thread-safe: the dispatcher asks during start-up (strategies subscribe in ``on_start``), the command
worker asks when a ticket names an instrument not looked up yet.
"""

from __future__ import annotations

import threading

from brokers.ibkr import parsing
from brokers.ibkr.rest import IbkrRestClient
from framework.models import Instrument
from framework.models import SecurityType


class InstrumentCache:
    """Resolves symbols through ``/iserver/secdef/search`` once each.

    Args:
        rest: REST client.
    """

    def __init__(self, rest: IbkrRestClient) -> None:
        self._rest = rest
        self._lock = threading.Lock()
        self._instruments: dict[tuple[str, SecurityType], Instrument] = {}

    def resolve(self, symbol: str, security_type: SecurityType = SecurityType.STOCK) -> Instrument:
        """The instrument for ``symbol`` with its conid.

        Raises:
            LookupError: IBKR knows no such contract.
        """
        key = (symbol.upper(), security_type)
        with self._lock:
            found = self._instruments.get(key)
        if found is None:
            wire_type = parsing.SECURITY_TYPE_TO_WIRE[security_type]
            results = self._rest.search_contracts(symbol.upper(), wire_type)
            found = parsing.instrument_from_search(results, symbol, security_type)
            with self._lock:
                self._instruments[key] = found
        return found

    def search(self, text: str) -> list[Instrument]:
        """Instruments matching ``text``, best first."""
        return parsing.instruments_from_search(self._rest.search_contracts(text, "STK"))

    def conid(self, instrument: Instrument) -> str:
        """The instrument's conid (looked up when the instrument carries none).

        Raises:
            LookupError: IBKR knows no such contract.
        """
        if instrument.broker_id:
            return instrument.broker_id
        return self.resolve(instrument.symbol, instrument.security_type).broker_id or ""
