"""The simulator's instrument universe and the bars CSV reader.

The built-in universe holds real US instruments with their real IBKR conids, so clients that
hard-code ``AAPL = 265598`` work unchanged. Symbols that appear only in a loaded bars CSV get a
stable synthetic conid in the ``900000000`` range.
"""

from __future__ import annotations

import csv
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from decimal import Decimal
from decimal import InvalidOperation
from pathlib import Path


@dataclass(frozen=True)
class Instrument:
    """One tradable contract.

    Attributes:
        conid: IBKR contract id.
        symbol: Ticker.
        name: Company name as IBKR spells it (upper case).
        exchange: Primary exchange as shown by secdef search (``NASDAQ``, ``NYSE``, ``ARCA``).
        listing_exchange: Listing exchange as shown in orders (``NASDAQ.NMS``).
        kind: Position ``type`` (``COMMON`` or ``ETF``).
        start_price: Price the random walk starts from.
        industry: Industry shown by contract info.
    """

    conid: int
    symbol: str
    name: str
    exchange: str
    listing_exchange: str
    kind: str
    start_price: Decimal
    industry: str = "Technology"


def _stock(row: tuple[int, str, str, str, str, str]) -> Instrument:
    conid, symbol, name, exchange, price, industry = row
    listing = {"NASDAQ": "NASDAQ.NMS", "NYSE": "NYSE", "ARCA": "ARCA"}[exchange]
    kind = "ETF" if exchange == "ARCA" or symbol == "QQQ" else "COMMON"
    return Instrument(conid, symbol, name, exchange, listing, kind, Decimal(price), industry)


_BUILTIN_ROWS: tuple[tuple[int, str, str, str, str, str], ...] = (
    (265598, "AAPL", "APPLE INC", "NASDAQ", "189.50", "Computers"),
    (272093, "MSFT", "MICROSOFT CORP", "NASDAQ", "415.20", "Software"),
    (3691937, "AMZN", "AMAZON.COM INC", "NASDAQ", "178.30", "Internet"),
    (208813720, "GOOGL", "ALPHABET INC-CL A", "NASDAQ", "152.40", "Internet"),
    (107113386, "META", "META PLATFORMS INC-CLASS A", "NASDAQ", "495.10", "Internet"),
    (4815747, "NVDA", "NVIDIA CORP", "NASDAQ", "875.60", "Semiconductors"),
    (76792991, "TSLA", "TESLA INC", "NASDAQ", "171.90", "Auto Manufacturers"),
    (756733, "SPY", "SPDR S&P 500 ETF TRUST", "ARCA", "512.30", "Equity Fund"),
    (320227571, "QQQ", "INVESCO QQQ TRUST SERIES 1", "NASDAQ", "440.80", "Equity Fund"),
    (8314, "IBM", "INTL BUSINESS MACHINES CORP", "NYSE", "185.40", "Computers"),
    (4391, "AMD", "ADVANCED MICRO DEVICES", "NASDAQ", "178.60", "Semiconductors"),
    (270639, "INTC", "INTEL CORP", "NASDAQ", "42.80", "Semiconductors"),
    (15124833, "NFLX", "NETFLIX INC", "NASDAQ", "612.40", "Internet"),
    (272800, "ORCL", "ORACLE CORP", "NYSE", "125.10", "Software"),
    (313130367, "AVGO", "BROADCOM INC", "NASDAQ", "1310.00", "Semiconductors"),
    (15547841, "TLT", "ISHARES 20+ YEAR TREASURY BD", "NASDAQ", "93.20", "Debt Fund"),
    (4215220, "XLF", "FINANCIAL SELECT SECTOR SPDR", "ARCA", "41.20", "Equity Fund"),
    (4215205, "XLV", "HEALTH CARE SELECT SECTOR", "ARCA", "146.90", "Equity Fund"),
    (39039301, "SLV", "ISHARES SILVER TRUST", "ARCA", "24.80", "Commodity Fund"),
    (504546674, "HOOD", "ROBINHOOD MARKETS INC - A", "NASDAQ", "17.30", "Finance"),
)
BUILTIN_INSTRUMENTS: tuple[Instrument, ...] = tuple(_stock(row) for row in _BUILTIN_ROWS)


@dataclass(frozen=True)
class BarRow:
    """One row of a bars CSV (``timestamp,symbol,open,high,low,close,volume``)."""

    timestamp: datetime
    symbol: str
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


class BarsFileError(ValueError):
    """A bars CSV could not be read."""


def synthetic_conid(symbol: str) -> int:
    """Return a stable conid for a symbol that is not in the built-in universe."""
    return 900_000_000 + zlib.crc32(symbol.encode()) % 99_999_999


def parse_timestamp(text: str) -> datetime:
    """Parse an ISO-8601 UTC timestamp such as ``2024-01-02T14:30:00Z``.

    Raises:
        BarsFileError: If the text is not ISO-8601 or has no UTC offset.
    """
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as e:
        raise BarsFileError(f"timestamp {text!r} is not ISO-8601") from e
    if value.tzinfo is None:
        raise BarsFileError(f"timestamp {text!r} has no UTC offset")
    return value.astimezone(UTC)


def load_bars(path: Path) -> list[BarRow]:
    """Read a bars CSV, sorted by time.

    Raises:
        BarsFileError: If the header or a row is malformed.
    """
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        expected = ["timestamp", "symbol", "open", "high", "low", "close", "volume"]
        if reader.fieldnames is None or [f.strip() for f in reader.fieldnames] != expected:
            raise BarsFileError(f"{path}: header must be {','.join(expected)}")
        rows = [_row(line, number) for number, line in enumerate(reader, start=2)]
    return sorted(rows, key=lambda r: r.timestamp)


def _row(line: dict[str, str], number: int) -> BarRow:
    try:
        prices = [Decimal(line[k]) for k in ("open", "high", "low", "close", "volume")]
    except (InvalidOperation, TypeError) as e:
        raise BarsFileError(f"line {number}: bad number") from e
    return BarRow(parse_timestamp(line["timestamp"]), line["symbol"].strip().upper(), *prices)


class Universe:
    """Lookup of instruments by conid and symbol.

    Args:
        extra_symbols: Symbols from a bars file; unknown ones get synthetic conids.
        start_prices: Optional start price per symbol (the first bar's open when replaying).
    """

    def __init__(self, extra_symbols: Iterable[str] = (), start_prices: dict[str, Decimal] | None = None) -> None:
        prices = start_prices or {}
        self._by_conid: dict[int, Instrument] = {}
        for inst in BUILTIN_INSTRUMENTS:
            price = prices.get(inst.symbol, inst.start_price)
            self._add(Instrument(**{**inst.__dict__, "start_price": price}))
        for symbol in extra_symbols:
            if self.by_symbol(symbol) is None:
                price = prices.get(symbol, Decimal("100"))
                self._add(Instrument(synthetic_conid(symbol), symbol, symbol, "NYSE", "NYSE", "COMMON", price))
        self._by_symbol = {i.symbol: i for i in self._by_conid.values()}

    def _add(self, inst: Instrument) -> None:
        self._by_conid[inst.conid] = inst
        self._by_symbol = {i.symbol: i for i in self._by_conid.values()}

    def get(self, conid: int) -> Instrument | None:
        """Return the instrument with this conid, if any."""
        return self._by_conid.get(conid)

    def by_symbol(self, symbol: str) -> Instrument | None:
        """Return the instrument with this ticker (case-insensitive), if any."""
        return self._by_symbol.get(symbol.upper())

    def search(self, text: str, by_name: bool = False) -> list[Instrument]:
        """Return instruments matching a ticker, or a company-name fragment when ``by_name``."""
        needle = text.strip().upper()
        if not needle:
            return []
        if by_name:
            return [i for i in self._by_conid.values() if needle in i.name]
        exact = self.by_symbol(needle)
        return [exact] if exact is not None else []

    def all(self) -> list[Instrument]:
        """Return all instruments, built-ins first."""
        return list(self._by_conid.values())
