"""Rows of a bar file into validated per-symbol columns, and columns into :class:`BarData`.

The pure-Python path: :class:`RowCollector` parses and checks one row at a time (the checks of
:func:`~framework.history.check_bar`, with its messages) and appends it to its symbol's typed
arrays, so memory is ~48 bytes a bar, not a Python object per row.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from collections.abc import Sequence
from datetime import timedelta
from math import inf
from operator import itemgetter

from framework.errors import ConfigError
from framework.errors import DataError
from framework.history import BarData
from framework.history import BarSeries
from framework.history import check_bar
from tradebus.data.inference import infer_bar_duration
from tradebus.data.layout import Layout
from tradebus.data.timestamps import TimeParser

Columns = tuple["array[int]", "array[float]", "array[float]", "array[float]", "array[float]", "array[float]"]
"""One symbol's bars: starts (epoch seconds), opens, highs, lows, closes, volumes."""


def new_columns() -> Columns:
    """Empty columns."""
    return array("q"), array("d"), array("d"), array("d"), array("d"), array("d")


class RowCollector:
    """Parses, checks and stores rows of one file, in file order.

    Args:
        layout: Where the fields are in each row.
        times: The timestamp parser (carries the ``tz`` option).
        symbol: The symbol of every row when the file has no symbol column.
        source: The file, for errors.
    """

    def __init__(self, layout: Layout, times: TimeParser, symbol: str | None, source: str) -> None:
        self.series: dict[str, Columns] = {}
        self._last: dict[str, int] = {}
        self._time_at = layout.index("timestamp")
        self._prices = itemgetter(*(layout.index(f) for f in ("open", "high", "low", "close", "volume")))
        self._symbol_at = layout.index("symbol")
        self._adjusted_at = layout.index("adjusted")
        self._times, self._symbol, self._source = times, symbol, source

    def add_all(self, rows: Iterable[tuple[int, Sequence[object]]]) -> dict[str, Columns]:
        """Add ``(line, cells)`` rows and return the columns of every symbol.

        Raises:
            DataError: At the first bad row, naming the file, line and reason.
        """
        add = self.add
        for line, row in rows:
            add(line, row)
        return self.series

    def add(self, line: int, row: Sequence[object]) -> None:
        """Parse, check and store one row.

        Raises:
            DataError: If the row cannot be parsed or fails a check.
        """
        start, o, h, low, c, v = self._parse(line, row)
        symbol = self._symbol if self._symbol_at is None else str(row[self._symbol_at]).strip()
        if not symbol:
            raise DataError("symbol is empty", source=self._source, line=line)
        previous = self._last.get(symbol)
        if not (  # every check_bar condition at once; check_bar names the failure
            (previous is None or start > previous)
            and 0 < low <= o <= h and low <= c <= h and h < inf and 0 <= v < inf
        ):
            reason = check_bar((start, o, h, low, c, v), previous)
            if reason is not None:
                raise DataError(f"{symbol}: {reason}", source=self._source, line=line)
        columns = self.series.get(symbol)
        if columns is None:
            columns = self.series[symbol] = new_columns()
        self._last[symbol] = start
        starts, opens, highs, lows, closes, volumes = columns
        starts.append(start)
        opens.append(o)
        highs.append(h)
        lows.append(low)
        closes.append(c)
        volumes.append(v)

    def _parse(self, line: int, row: Sequence[object]) -> tuple[int, float, float, float, float, float]:
        try:
            start = self._times(row[self._time_at])  # type: ignore[index]
            o, h, low, c, v = map(float, self._prices(row))
            if self._adjusted_at is not None and c > 0:
                factor = float(row[self._adjusted_at]) / c  # type: ignore[arg-type]
                o, h, low, c = o * factor, h * factor, low * factor, c * factor
        except (ValueError, TypeError) as e:
            raise DataError(f"cannot parse row: {e}", source=self._source, line=line) from e
        return start, o, h, low, c, v


def bar_data(series: dict[str, Columns], duration: timedelta | None, source: str) -> BarData:
    """Validated columns into :class:`BarData`, inferring the bar length when ``duration`` is None.

    Raises:
        DataError: If there are no bars, or the length must be inferred from single bars.
        ConfigError: If ``duration`` is not a positive whole number of seconds.
    """
    if not series:
        raise DataError("no bars: the file has a header but no rows (expected a bar a line)", source=source)
    if duration is None:
        try:
            duration = infer_bar_duration(*(columns[0] for columns in series.values()))
        except ValueError as e:
            msg = f"{e} (every symbol has one bar), e.g. duration=timedelta(days=1) or --bar-seconds 86400"
            raise DataError(msg, source=source) from e
    if duration <= timedelta(0) or duration % timedelta(seconds=1):
        msg = f"must be a positive whole number of seconds, received {duration}"
        raise ConfigError(msg, key="duration")
    return BarData(BarSeries(symbol, duration, columns) for symbol, columns in series.items())
