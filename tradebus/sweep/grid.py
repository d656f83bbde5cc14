"""The parameter sets a sweep runs: a grid from ``name=...`` specs, all of it or a seeded random sample.

Grid syntax (``--grid``, or a string value in :func:`tradebus.sweep.run_sweep`'s ``grid``):

* ``fast=5:30:5``: an inclusive range from 5 to 30 in steps of 5 (whole numbers or decimals,
  ``quantity=0.5:2:0.5``); a step that does not land on the end stops below it;
* ``slow=20,40,60``: a list of values;
* ``symbol=MSFT``: a single value.

Values stay as written (whole numbers as ``int``, decimals as ``Decimal``, anything else as text);
the strategy's config model converts and checks them. Sets come out in a fixed order: the first
parameter varies slowest, each parameter's values in the order given, duplicates removed.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from decimal import Decimal
from decimal import InvalidOperation
from typing import Any

from framework.errors import ConfigError

Params = dict[str, Any]
"""One parameter set: names and values."""

MAX_RANGE = 100_000
"""The most values one range may expand to (a typo such as ``1:1000000:1`` is an error, not a hang)."""


def parse_value(text: str) -> int | Decimal | str:
    """``"5"`` -> 5, ``"0.5"`` -> Decimal("0.5"), anything else the text itself (stripped)."""
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = Decimal(text)
    except InvalidOperation:
        return text
    return number if number.is_finite() else text


def parse_grid_spec(spec: str, key: str = "--grid") -> tuple[str, list[Any]]:
    """Parse one ``name=a:b:step``, ``name=v1,v2`` or ``name=value`` into the name and its values.

    Raises:
        ConfigError: If the spec has no name or ``=``, an empty value, or a bad range (naming ``key`` and the spec).
    """
    name, sep, values = spec.partition("=")
    name = name.strip()
    if not sep or not name or not values.strip():
        msg = f"{spec!r} must look like name=a:b:step, name=v1,v2,... or name=value"
        raise ConfigError(msg, key=key)
    if ":" in values:
        return name, expand_range(values, f"{key} {name}")
    items = [v.strip() for v in values.split(",")]
    if not all(items):
        msg = f"{spec!r} has an empty value; write name=v1,v2,..."
        raise ConfigError(msg, key=key)
    return name, [parse_value(v) for v in items]


def expand_range(text: str, key: str) -> list[int | Decimal]:
    """``"5:30:5"`` -> ``[5, 10, ..., 30]``: inclusive, whole numbers or decimals.

    Raises:
        ConfigError: If it is not three numbers, the step is not positive, the start is past the end, or it
            would give more than :data:`MAX_RANGE` values.
    """
    parts = [parse_value(p) for p in text.split(":")]
    if len(parts) != 3 or not all(isinstance(p, int | Decimal) for p in parts):
        msg = f"range {text!r} must be start:end:step with numbers, e.g. 5:30:5"
        raise ConfigError(msg, key=key)
    start, end, step = (Decimal(p) for p in parts)
    if step <= 0 or start > end:
        msg = f"range {text!r} needs a positive step and start <= end"
        raise ConfigError(msg, key=key)
    count = int((end - start) / step) + 1
    if count > MAX_RANGE:
        msg = f"range {text!r} gives {count:,} values, more than {MAX_RANGE:,}; use a larger step"
        raise ConfigError(msg, key=key)
    whole = all(isinstance(p, int) for p in parts)
    return [int(start + i * step) if whole else start + i * step for i in range(count)]


def parse_grid(specs: Iterable[str], key: str = "--grid") -> dict[str, list[Any]]:
    """Parse several specs into ``{name: values}`` in the order given.

    Raises:
        ConfigError: If a spec is malformed or a name is given twice.
    """
    grid: dict[str, list[Any]] = {}
    for spec in specs:
        name, values = parse_grid_spec(spec, key)
        if name in grid:
            msg = f"parameter {name!r} is given twice; put all its values in one {key}"
            raise ConfigError(msg, key=key)
        grid[name] = values
    return grid


def normalize_grid(grid: Mapping[str, Any]) -> dict[str, list[Any]]:
    """A Python grid: each value a spec string (``"5:30:5"``, ``"20,40"``), a sequence, or one value.

    Raises:
        ConfigError: If a spec string is malformed or a sequence is empty (naming ``grid.<name>``).
    """
    out: dict[str, list[Any]] = {}
    for name, value in grid.items():
        if isinstance(value, str):
            out[name] = parse_grid_spec(f"{name}={value}", key=f"grid.{name}")[1]
        elif isinstance(value, Sequence | range | set | frozenset):
            out[name] = list(value)
            if not out[name]:
                raise ConfigError("no values", key=f"grid.{name}")
        else:
            out[name] = [value]
    return out


def _unique(values: Iterable[Any]) -> list[Any]:
    seen: list[Any] = []
    for value in values:
        if value not in seen:  # a list, not a set: values may be unhashable
            seen.append(value)
    return seen


def expand(grid: Mapping[str, Sequence[Any]], keep: Callable[[Params], bool] | None = None) -> list[Params]:
    """Every combination of the grid's values (first parameter slowest), duplicates removed, ``keep`` applied."""
    names = list(grid)
    columns = [_unique(grid[n]) for n in names]
    sets = (dict(zip(names, combo, strict=True)) for combo in itertools.product(*columns))
    return [s for s in sets if keep is None or keep(s)]


MAX_SETS = 1_000_000
"""The most combinations a grid may have before it is sampled value by value (random search) or refused (grid)."""


def grid_size(grid: Mapping[str, Sequence[Any]]) -> int:
    """The number of combinations of the grid's distinct values."""
    size = 1
    for values in grid.values():
        size *= len(_unique(values))
    return size


def choose(
    grid: Mapping[str, Sequence[Any]], keep: Callable[[Params], bool] | None, trials: int | None, seed: int | None,
) -> list[Params]:
    """The sets a sweep runs: the whole grid (``trials`` None) or a random sample of ``trials`` sets.

    Raises:
        ConfigError: If the whole grid is asked for and has more than :data:`MAX_SETS` combinations.
    """
    size = grid_size(grid)
    if size <= MAX_SETS:
        sets = expand(grid, keep)
        return sets if trials is None else sample(sets, trials, seed)
    if trials is None:
        msg = f"the grid has {size:,} combinations, more than {MAX_SETS:,}; sample it with --random N (trials=N)"
        raise ConfigError(msg, key="grid")
    return draw(grid, keep, trials, seed)


def draw(grid: Mapping[str, Sequence[Any]], keep: Callable[[Params], bool] | None, trials: int,
         seed: int | None) -> list[Params]:
    """Up to ``trials`` distinct sets, each value drawn on its own with ``random.Random(seed)`` (for huge grids)."""
    rng = random.Random(seed)
    columns = {n: _unique(v) for n, v in grid.items()}
    found: list[Params] = []
    for _ in range(trials * 20):  # bounded: a constraint may reject most draws
        candidate = {n: rng.choice(v) for n, v in columns.items()}
        if candidate not in found and (keep is None or keep(candidate)):
            found.append(candidate)
            if len(found) == trials:
                break
    return found


def sample(sets: Sequence[Params], trials: int, seed: int | None) -> list[Params]:
    """Up to ``trials`` sets drawn without replacement with ``random.Random(seed)``, kept in grid order.

    The same sets, seed and trials give the same sample; a ``trials`` at or above the number of sets
    gives them all.

    Raises:
        ConfigError: If ``trials`` is not positive.
    """
    if trials < 1:
        msg = f"the number of random trials must be at least 1, got {trials}"
        raise ConfigError(msg, key="trials")
    if trials >= len(sets):
        return list(sets)
    chosen = sorted(random.Random(seed).sample(range(len(sets)), trials))
    return [sets[i] for i in chosen]
