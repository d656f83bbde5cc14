"""The fast path: CSV and Parquet through pyarrow into checked columns (no Python object per row).

pyarrow's multi-threaded CSV reader parses the file into typed columns; timestamps are converted by
Arrow's compute functions (offsets, dates, local times with ``tz``), the checks run on whole numpy
columns (:mod:`tradebus.data.vectors`) and each symbol's columns are copied into typed arrays as
bytes. Anything this path cannot read or finds invalid returns None: the caller then reads the file
on the pure-Python path, which gives the same result or names the bad line.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from tradebus.data.columns import Columns
from tradebus.data.layout import PRICE_FIELDS
from tradebus.data.layout import Layout
from tradebus.data.vectors import Vector
from tradebus.data.vectors import adjust
from tradebus.data.vectors import columns_from_arrays

_SECONDS = pa.timestamp("s", tz="UTC")
_WITH_OFFSET = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(Z|[+-]\d\d:?\d\d)")


def read_csv(
    path: Path, layout: Layout, tz: str | None, symbol: str | None, first: str, *, header_rows: int = 1
) -> dict[str, Columns] | None:
    """Read and check a CSV file; None if this path cannot (the pure path will say why).

    ``first`` is the first row's timestamp: when it has an offset, the CSV reader parses the column as
    timestamps itself (on all cores), otherwise it is read as text and converted afterwards. A header
    of several rows (``header_rows``) is skipped and ``layout.header`` names the columns.
    """
    names = layout.names
    types: dict[str, Any] = {names[f]: pa.float64() for f in (*PRICE_FIELDS, "adjusted") if f in names}
    types[names["timestamp"]] = _SECONDS if _WITH_OFFSET.fullmatch(first.strip()) else pa.string()
    if "symbol" in names:
        types[names["symbol"]] = pa.dictionary(pa.int32(), pa.string())
    options = pa_csv.ConvertOptions(column_types=types, include_columns=list(dict.fromkeys(names.values())))
    try:
        reading = pa_csv.ReadOptions(skip_rows=header_rows, column_names=list(layout.header)) if header_rows > 1 \
            else None
        table = pa_csv.read_csv(path, read_options=reading, convert_options=options)
    except pa.ArrowException:
        return None
    return table_columns(table, layout, tz, symbol)


def table_columns(table: pa.Table, layout: Layout, tz: str | None, symbol: str | None) -> dict[str, Columns] | None:
    """Check an Arrow table laid out as ``layout``; None if any value is missing or invalid."""
    names = layout.names
    try:
        starts = epoch_seconds(table.column(names["timestamp"]), tz)
        prices = [_floats(table.column(names[f])) for f in PRICE_FIELDS]
        adjusted = _floats(table.column(names["adjusted"])) if "adjusted" in names else None
        symbols = _symbols(table.column(names["symbol"])) if "symbol" in names else symbol
    except pa.ArrowException:
        return None
    if starts is None or symbols is None or any(p is None for p in prices) or (adjusted is None) != (
        "adjusted" not in names
    ):
        return None
    if adjusted is not None:
        prices = adjust(prices, adjusted)
    return columns_from_arrays(starts, symbols, prices)


def epoch_seconds(column: pa.ChunkedArray, tz: str | None) -> Vector | None:
    """Whole epoch seconds of timestamp cells (text, timestamp, date or integer); None if not possible.

    Raises:
        pyarrow.ArrowException: If a value cannot be converted (e.g. a fraction of a second).
    """
    values = column.combine_chunks()
    if values.null_count:
        return None
    kind = values.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        values = _parse_text(values, tz)
        if values is None:
            return None
    elif pa.types.is_date(kind):
        values = _local(values.cast(pa.timestamp("s")), tz or "UTC")
    elif pa.types.is_timestamp(kind) and kind.tz is None:
        if tz is None:
            return None
        values = _local(values, tz)
    elif pa.types.is_integer(kind):
        return values.cast(pa.int64()).to_numpy()
    elif not pa.types.is_timestamp(kind):
        return None
    return values.cast(_SECONDS).cast(pa.int64()).to_numpy()


def _parse_text(values: pa.Array, tz: str | None) -> pa.Array | None:
    try:
        return values.cast(_SECONDS)  # with an offset
    except pa.ArrowInvalid:
        pass
    try:
        return _local(values.cast(pa.date32()).cast(pa.timestamp("s")), tz or "UTC")  # dates
    except pa.ArrowInvalid:
        pass
    return None if tz is None else _local(values.cast(pa.timestamp("s")), tz)


def _local(values: pa.Array, tz: str) -> pa.Array:
    # the pure path's rules: a repeated local time is the first one, a skipped one is an error
    return pc.assume_timezone(values, tz, ambiguous="earliest", nonexistent="raise")


def _floats(column: pa.ChunkedArray) -> Vector | None:
    values = column.combine_chunks()
    if values.null_count or (not pa.types.is_floating(values.type) and not pa.types.is_integer(values.type)):
        return None
    return np.asarray(values.cast(pa.float64()).to_numpy())


def _symbols(column: pa.ChunkedArray) -> tuple[Vector, list[str]] | None:
    values = column.combine_chunks()
    if not pa.types.is_dictionary(values.type):
        values = values.cast(pa.string()).dictionary_encode()
    if values.null_count:
        return None
    names = [str(s).strip() for s in values.dictionary.to_pylist()]
    if "" in names or len(set(names)) != len(names):
        return None  # empty or space-padded symbols: the pure path reads them
    return values.indices.cast(pa.int64()).to_numpy(), names
