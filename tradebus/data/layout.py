"""Which column of a bar file holds what: formats detected from the header, or a column mapping.

Formats (``format=``; detected from the header when not given):

* ``tradebus``: ``timestamp,symbol,open,high,low,close,volume`` (the ``symbol`` column is optional);
* ``yahoo``: Yahoo Finance exports, ``Date,Open,High,Low,Close,Adj Close,Volume`` (daily) or with a
  ``Datetime`` column (intraday); ``Close`` is used unless ``adjusted=True`` asks for ``Adj Close``;
  yfinance's three-row ``Price``/``Ticker``/``Date`` header is read too (:mod:`tradebus.data.files`);
* ``ibkr``: IBKR TWS / ib_insync exports, ``date,open,high,low,close,volume[,average,barCount]`` or
  ``Date/Time,...``;
* ``columns``: any header, with ``columns={"timestamp": "Date", "close": "Last", ...}`` naming the
  file's column for each field (fields not named are looked for under their own names).

Header names are matched without regard to case or surrounding spaces; other columns are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass

from framework.errors import DataError

PRICE_FIELDS = ("open", "high", "low", "close", "volume")
FORMATS = ("tradebus", "yahoo", "ibkr", "columns")
_TIME_NAMES = {
    "tradebus": ("timestamp",),
    "yahoo": ("datetime", "date"),
    "ibkr": ("date", "date/time", "datetime"),
    "columns": ("timestamp", "datetime", "date", "date/time", "time"),
}
_EXPECTED = {
    "tradebus": "timestamp,symbol,open,high,low,close,volume",
    "yahoo": "Date,Open,High,Low,Close,Adj Close,Volume",
    "ibkr": "date,open,high,low,close,volume",
}
EXPECTED_ANY = (
    f"{_EXPECTED['tradebus']} (tradebus), {_EXPECTED['yahoo']} (Yahoo Finance), {_EXPECTED['ibkr']} (IBKR)"
    ", or a columns= mapping"
)


@dataclass(frozen=True)
class Layout:
    """Where the fields are in a file.

    Attributes:
        format: The format's name (one of :data:`FORMATS`).
        names: Field (``timestamp``, ``open``, ... ``volume``, and ``symbol`` / ``adjusted`` when the
            file has them) to the file's column name, as written in the header.
        header: The header as read.
    """

    format: str
    names: Mapping[str, str]
    header: Sequence[str]

    def index(self, field: str) -> int | None:
        """Position of ``field``'s column in the header, or None if the file has none."""
        name = self.names.get(field)
        return None if name is None else list(self.header).index(name)


def detect_format(header: Sequence[str]) -> str | None:
    """The format whose columns ``header`` has, or None."""
    lowered = {h.strip().lower() for h in header}
    if "timestamp" in lowered:
        return "tradebus"
    if "adj close" in lowered or "datetime" in lowered:
        return "yahoo"
    if "date" in lowered or "date/time" in lowered:
        return "ibkr"
    return None


def resolve(
    header: Sequence[str],
    source: str,
    *,
    format: str | None = None,
    columns: Mapping[str, str] | None = None,
    adjusted: bool = False,
) -> Layout:
    """Find the columns of every field in ``header``.

    Raises:
        DataError: Naming the file's header line and the missing columns or the unknown format.
    """
    chosen = "columns" if columns else (format or detect_format(header))
    if chosen not in FORMATS:
        found = ",".join(header)[:200]
        raise DataError(f"cannot tell the format from the header {found!r}; expected {EXPECTED_ANY}", source=source,
                        line=1)
    by_name = {h.strip().lower(): h for h in header}
    names = {field: by_name[field] for field in (*PRICE_FIELDS, "symbol") if field in by_name}
    names.update(_mapped(columns or {}, by_name, source))
    if "timestamp" not in names:
        time_name = next((n for n in _TIME_NAMES[chosen] if n in by_name), None)
        if time_name is not None:
            names["timestamp"] = by_name[time_name]
    if adjusted:
        if "adj close" not in by_name:
            raise DataError("adjusted=True needs an 'Adj Close' column", source=source, line=1)
        names["adjusted"] = by_name["adj close"]
    missing = [f for f in ("timestamp", *PRICE_FIELDS) if f not in names]
    if missing:
        expected = _EXPECTED.get(chosen, "the columns named in columns=")
        raise DataError(f"missing column(s) {', '.join(missing)}; expected {expected}", source=source, line=1)
    return Layout(chosen, names, list(header))


def _mapped(columns: Mapping[str, str], by_name: Mapping[str, str], source: str) -> dict[str, str]:
    names = {}
    for field, column in columns.items():
        if field not in ("timestamp", "symbol", *PRICE_FIELDS):
            raise DataError(f"columns= names an unknown field {field!r} (fields: timestamp, symbol, "
                            f"{', '.join(PRICE_FIELDS)})", source=source)
        if column.strip().lower() not in by_name:
            raise DataError(f"column {column!r} (columns[{field!r}]) is not in the header", source=source, line=1)
        names[field] = by_name[column.strip().lower()]
    return names
