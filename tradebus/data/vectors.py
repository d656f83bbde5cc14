"""Vectorised checks and per-symbol split of whole columns (numpy; the fast paths).

:func:`columns_from_arrays` applies every check of :func:`~framework.history.check_bar` to whole
columns at once. It does not explain failures: it returns None, and the caller re-reads the input
on the pure-Python path, which names the first bad row, its line and the reason, so both paths
report the same error.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import Any

import numpy as np

from tradebus.data.columns import Columns

Vector = Any  # a 1-D numpy array (numpy's own annotations are too loose to add anything here)


def packed(values: Vector, code: str) -> array[Any]:
    """Copy a numpy vector into an ``array(code)`` through its buffer (no Python object per value)."""
    out: array[Any] = array(code)
    out.frombytes(np.ascontiguousarray(values, dtype=np.int64 if code == "q" else np.float64).data.cast("B"))
    return out


def prices_valid(o: Vector, h: Vector, low: Vector, c: Vector, v: Vector) -> bool:
    """Whether every row passes the price and volume checks (finite, positive, high/low, volume)."""
    with np.errstate(invalid="ignore"):
        ok = (low > 0) & (low <= o) & (o <= h) & (low <= c) & (c <= h) & (h < np.inf) & (v >= 0) & (v < np.inf)
    return bool(ok.all())


def columns_from_arrays(
    starts: Vector, symbols: str | tuple[Vector, Sequence[str]], prices: Sequence[Vector]
) -> dict[str, Columns] | None:
    """Split whole columns by symbol and check them; None if any row is invalid.

    Args:
        starts: Bar starts, int64 epoch seconds, in file order.
        symbols: One symbol for every row, or ``(codes, names)``: each row's index into ``names``.
        prices: open, high, low, close, volume as float64 vectors.
    """
    if not prices_valid(*prices):
        return None
    if isinstance(symbols, str):
        groups: list[tuple[str, Vector | None]] = [(symbols, None)]
    else:
        codes, names = symbols
        order = np.argsort(codes, kind="stable")
        bounds = np.cumsum(np.bincount(codes, minlength=len(names)))
        groups = [(name, order[end - count:end]) for name, end, count in
                  zip(names, bounds, np.diff(bounds, prepend=0), strict=True) if count]
    series: dict[str, Columns] = {}
    for name, rows in groups:
        mine = starts if rows is None else starts[rows]
        if len(mine) > 1 and not bool((mine[1:] > mine[:-1]).all()):
            return None
        picked = [p if rows is None else p[rows] for p in prices]
        series[name] = (packed(mine, "q"), *(packed(p, "d") for p in picked))  # type: ignore[assignment]
    return series


def adjust(prices: list[Vector], adjusted_close: Vector) -> list[Vector]:
    """Scale open, high, low, close by ``adjusted_close / close`` (as the pure path does, row by row)."""
    o, h, low, c, v = prices
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(c > 0, adjusted_close / np.where(c > 0, c, 1.0), 1.0)
    return [o * factor, h * factor, low * factor, c * factor, v]
