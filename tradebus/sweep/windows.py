"""Walk-forward windows: where each train window and its test window start and end.

Lengths (``--train``, ``--test``, ``--step``) are a whole number and a unit:

* ``250bars`` (or ``250`` from Python): bar times, counted on the data's timeline (every distinct
  bar start over all symbols);
* ``30m``, ``8h``, ``90d``, ``12w``: a fixed span of time (minutes, hours, days, weeks);
* ``6mo``, ``1y``: calendar months and years (a month from 31 January is 28 or 29 February).

The **test windows** come first: the first starts one train length after the data's first bar, each
lasts ``test``, and the next starts ``step`` after it (default ``step = test``: consecutive, never
overlapping; a step shorter than the test, or in another unit, is refused). Each test window's
**train window** ends exactly where its test starts (no bar in both) and, **rolling**, lasts
``train``; **anchored**, it starts at the data's first bar and grows. Windows by time sit on a
fixed calendar grid (from the first bar's start), so a weekend or holiday gap shifts no later
window; a test window that holds no bar (a gap in the data) is skipped, and one whose train window
holds none is skipped with a warning (its bars go untested). The last test window may
be cut short by the end of the data: it is kept when ``partial`` (the default) and dropped otherwise.
"""

from __future__ import annotations

import calendar
import logging
import re
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Literal

from framework.errors import ConfigError
from framework.history import BarData

log = logging.getLogger(__name__)

Unit = Literal["bars", "seconds", "months"]

_LENGTH = re.compile(r"^\s*(\d+)\s*(bars?|m|h|d|w|mo|y)\s*$")
_SECONDS = {"m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}
_FORMS = "a whole number and a unit: 250bars, 30m, 8h, 90d, 12w, 6mo or 1y"


@dataclass(frozen=True)
class Length:
    """A window length.

    Attributes:
        amount: How many ``unit``.
        unit: ``bars`` (bar times on the timeline), ``seconds`` (a fixed span) or ``months`` (calendar months).
        text: As the user wrote it, for messages.
    """

    amount: int
    unit: Unit
    text: str

    def after(self, moment: datetime, sign: int = 1) -> datetime:
        """``moment`` plus (``sign`` -1: minus) this length of time (not for bars)."""
        if self.unit == "months":
            return add_months(moment, sign * self.amount)
        return moment + sign * timedelta(seconds=self.amount)


def parse_length(value: int | timedelta | str, key: str) -> Length:
    """A length from an int (bars), a ``timedelta``, or text such as ``250bars``, ``90d`` or ``6mo``.

    Raises:
        ConfigError: If it is not such a length, or not positive (naming ``key``).
    """
    if isinstance(value, bool):
        raise ConfigError(f"{value!r} is not a length; give {_FORMS}", key=key)
    if isinstance(value, int):
        length = Length(value, "bars", f"{value} bars")
    elif isinstance(value, timedelta):
        if value % timedelta(seconds=1):
            raise ConfigError(f"{value} is not a whole number of seconds", key=key)
        length = Length(int(value.total_seconds()), "seconds", str(value))
    else:
        found = _LENGTH.match(str(value))
        if found is None:
            raise ConfigError(f"{value!r} is not a length; give {_FORMS}", key=key)
        amount, unit = int(found.group(1)), found.group(2)
        text = str(value).strip()
        if unit.startswith("bar"):
            length = Length(amount, "bars", text)
        elif unit in ("mo", "y"):
            length = Length(amount * (12 if unit == "y" else 1), "months", text)
        else:
            length = Length(amount * _SECONDS[unit], "seconds", text)
    if length.amount <= 0:
        raise ConfigError(f"{length.text} must be positive; give {_FORMS}", key=key)
    return length


def add_months(moment: datetime, months: int) -> datetime:
    """``moment`` moved by ``months`` calendar months, the day clamped to the month's last (31 Jan + 1 = 28/29 Feb)."""
    year, month = divmod(moment.month - 1 + months, 12)
    year += moment.year
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


@dataclass(frozen=True)
class Window:
    """One walk-forward window, as indexes into the timeline (each range half-open: ``[start, end)``).

    Attributes:
        number: 1 for the first window.
        train_start: First train bar time.
        train_end: One past the last train bar time (= ``test_start``).
        test_start: First test bar time.
        test_end: One past the last test bar time.
        partial: The data ended before the test window's full length.
    """

    number: int
    train_start: int
    train_end: int
    test_start: int
    test_end: int
    partial: bool = False


def timeline(data: BarData) -> list[int]:
    """Every distinct bar start (epoch seconds) over all symbols, ascending."""
    if len(data) == 1:
        return list(next(iter(data.values())).starts)
    return sorted({s for series in data.values() for s in series.starts})


def data_end(data: BarData) -> int:
    """The end (epoch seconds) of the data's last bar."""
    return max(series.starts[-1] + int(series.duration.total_seconds()) for series in data.values() if len(series))


def _moment(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _day(seconds: int) -> str:
    return f"{_moment(seconds):%Y-%m-%d %H:%M}".removesuffix(" 00:00")


def make_windows(
    times: Sequence[int], end: int, train: Length, test: Length, step: Length | None = None, *,
    anchored: bool = False, partial: bool = True,
) -> list[Window]:
    """The windows of a walk-forward over the bar times ``times`` (see the module docstring).

    Args:
        times: The timeline (:func:`timeline`): distinct bar starts, ascending, epoch seconds.
        end: The end of the last bar (:func:`data_end`).
        train: Train window length.
        test: Test window length.
        step: From one test window's start to the next (default: ``test``).
        anchored: Train windows start at the first bar (else they roll, ``train`` long).
        partial: Keep a last test window the data cuts short.

    Raises:
        ConfigError: A step shorter than the test or in another unit, or lengths that leave no window
            (naming the flag and the data's extent).
    """
    step = step or test
    if step.unit != test.unit or step.amount < test.amount:
        msg = (f"{step.text} must be at least --test ({test.text}) and in the same unit, so test windows "
               "do not overlap; leave it out for consecutive test windows")
        raise ConfigError(msg, key="--step")
    n = len(times)
    extent = f"the data has {n} bar times, {_day(times[0])} to {_day(end)}" if n else "the data has no bars"
    if not n:
        raise ConfigError(extent, key="--data")
    nominal = None if train.unit == "bars" else train.after(_moment(times[0]))
    start = train.amount if nominal is None else bisect_left(times, nominal.timestamp())
    if start >= n:
        raise ConfigError(f"{train.text} leaves no bar to test: {extent}; use a shorter --train", key="--train")
    windows: list[Window] = []
    while start < n:
        base = nominal or _moment(times[start])
        stop, full = _test_end(times, end, start, base, test)
        if not full and not partial:
            break
        first = 0 if anchored else _offset(times, start, base, train, -1)
        if stop > start > first:  # a test window with bars, after a train window with bars
            windows.append(Window(len(windows) + 1, first, start, start, stop, not full))
        elif stop > start:  # bars to test, but none to train on: said, as those bars go untested
            count = stop - start
            log.warning("walk-forward: the test window %s to %s (%d bar time%s) is not run: its train window "
                        "holds no bar (a gap in the data longer than --train %s); use a longer --train",
                        _day(times[start]), _day(times[stop - 1]), count, "" if count == 1 else "s", train.text)
        nominal = None if step.unit == "bars" else step.after(base)
        start = _offset(times, start, base, step)
    if not windows:
        msg = (f"{test.text}: no full test window fits after the first train window ({n - train_bars(train, times)} "
               f"bar times left; {extent}); use a shorter --test or --train, or keep partial windows")
        raise ConfigError(msg, key="--test")
    return windows


def _offset(times: Sequence[int], index: int, base: datetime, length: Length, sign: int = 1) -> int:
    # the timeline index ``length`` after (sign -1: before) bar time ``index``, which is at ``base``
    if length.unit == "bars":
        return max(0, index + sign * length.amount)
    return bisect_left(times, length.after(base, sign).timestamp())


def _test_end(times: Sequence[int], end: int, start: int, base: datetime, test: Length) -> tuple[int, bool]:
    # one past the test window's last bar time, and whether the data holds its whole length
    if test.unit == "bars":
        return min(start + test.amount, len(times)), start + test.amount <= len(times)
    limit = test.after(base).timestamp()
    return bisect_left(times, limit), limit <= end


def train_bars(train: Length, times: Sequence[int]) -> int:
    """How many bar times the first train window holds."""
    if train.unit == "bars":
        return min(train.amount, len(times))
    return bisect_left(times, train.after(_moment(times[0])).timestamp())
