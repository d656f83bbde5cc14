"""Bars from a broker's history, and bars written back to our CSV format."""

from __future__ import annotations

import csv
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

from framework.broker import MarketData
from framework.history import BarData
from framework.history import BarSeries
from framework.history import series_from_bars
from framework.models import Instrument

CSV_COLUMNS = ("timestamp", "symbol", "open", "high", "low", "close", "volume")
"""The columns of the tradebus bar format, in this order for files we write."""


def bars_from_source(
    source: MarketData, instrument: Instrument, duration: timedelta, start: datetime, end: datetime
) -> BarSeries:
    """Fetch history through any market-data source (a broker adapter's history endpoint) and validate it.

    Raises:
        DataError: If the source returns invalid or unordered bars.
    """
    bars = source.historical_bars(instrument, duration, start, end)
    name = f"{getattr(source, 'name', type(source).__name__)} history {instrument.symbol}"
    return series_from_bars(bars, instrument.symbol, duration, name)


def write_csv(data: BarData, path: str | Path) -> None:
    """Write bars in the tradebus CSV format, ordered by time then symbol (round-trips with ``load_csv``)."""
    rows = sorted((s.starts[i], symbol, i) for symbol, s in data.items() for i in range(len(s)))
    with Path(path).open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for start, symbol, i in rows:
            s = data[symbol]
            ts = datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            volume = s.volumes[i]
            prices = (repr(col[i]) for col in (s.opens, s.highs, s.lows, s.closes))
            writer.writerow([ts, symbol, *prices, str(int(volume)) if volume.is_integer() else repr(volume)])
