"""Bar length from the data: the most common gap between consecutive bar starts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from itertools import islice
from operator import sub


def infer_bar_duration(*starts: Sequence[int]) -> timedelta:
    """Return the bar length of series whose bar starts are ``starts`` (epoch seconds, ascending).

    The length is the most common gap between consecutive starts of each series, pooled over all the
    series given (the symbols of one file). Sessions, weekends and holidays make some gaps longer, but
    the most common gap is the bar itself: 1-minute bars with overnight gaps give 1 minute, daily
    bars with weekends give 1 day. A tie goes to the shorter gap. The function is pure: it looks at
    nothing but the numbers.

    Args:
        starts: One sequence of bar starts per series, each strictly ascending.

    Raises:
        ValueError: If no series has two bars (there is no gap to measure; the caller must give the
            duration).
    """
    gaps: Counter[int] = Counter()
    for series in starts:
        gaps.update(map(sub, islice(series, 1, None), series))
    if not gaps:
        msg = "cannot infer the bar length from single bars; give the duration"
        raise ValueError(msg)
    top = max(gaps.values())
    return timedelta(seconds=min(gap for gap, count in gaps.items() if count == top))
