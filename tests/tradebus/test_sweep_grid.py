"""Grid expansion, random sampling, constraints and up-front validation of ``tradebus.sweep``."""

from __future__ import annotations

from decimal import Decimal

import pytest

from framework.errors import ConfigError
from tests.tradebus.sweep_fixture import SPEC
from tradebus.sweep import plan
from tradebus.sweep.constraints import parse_constraint
from tradebus.sweep.grid import expand
from tradebus.sweep.grid import parse_grid
from tradebus.sweep.grid import parse_grid_spec
from tradebus.sweep.table import check_metric


def test_range_list_and_single_values() -> None:
    assert parse_grid_spec("fast=5:30:5") == ("fast", [5, 10, 15, 20, 25, 30])
    assert parse_grid_spec("q=0.5:1.6:0.5") == ("q", [Decimal("0.5"), Decimal("1.0"), Decimal("1.5")])
    assert parse_grid_spec("slow=20, 40,60") == ("slow", [20, 40, 60])
    assert parse_grid_spec("symbol=MSFT") == ("symbol", ["MSFT"])


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [("fast", "must look like"), ("=5", "must look like"), ("fast=5:x", "start:end:step"),
     ("fast=5:1:1", "start <= end"), ("fast=1:5:0", "positive step"), ("fast=1,,2", "empty value"),
     ("fast=1:10000000:1", "more than")],
)
def test_bad_grid_specs_name_the_problem(spec: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment) as e:
        parse_grid([spec])
    assert str(e.value).startswith("--grid")


def test_a_parameter_given_twice_is_an_error() -> None:
    with pytest.raises(ConfigError, match="given twice"):
        parse_grid(["fast=1", "fast=2"])


def test_expansion_order_is_first_slowest_and_duplicates_go() -> None:
    sets = expand({"a": [1, 2, 1], "b": ["x", "y"]})
    assert sets == [{"a": 1, "b": "x"}, {"a": 1, "b": "y"}, {"a": 2, "b": "x"}, {"a": 2, "b": "y"}]


def test_constraints_filter_sets() -> None:
    sets = plan(SPEC, {"fast": "5:30:5", "slow": [20, 40]}, where=["fast < slow", "slow != 40"])
    assert sets == [{"fast": f, "slow": 20} for f in (5, 10, 15)]
    callable_sets = plan(SPEC, {"fast": "5:30:5", "slow": [20, 40]}, where=[lambda p: p["fast"] * 2 == p["slow"]])
    assert callable_sets == [{"fast": 10, "slow": 20}, {"fast": 20, "slow": 40}]


@pytest.mark.parametrize("text", ["fast <", "fast < slow < 3", "__import__('os') < 1", "fast => slow", "1.2.3 < fast"])
def test_constraints_are_parsed_never_evaluated(text: str) -> None:
    with pytest.raises(ConfigError, match="--where"):
        parse_constraint(text)


def test_a_constraint_on_an_unknown_name_is_an_error() -> None:
    with pytest.raises(ConfigError, match="slw"):
        plan(SPEC, {"fast": [5], "slow": [20]}, where=["fast < slw"])


def test_random_search_is_seeded_and_capped() -> None:
    grid = {"fast": "1:19:1", "slow": "20:60:5"}
    first = plan(SPEC, grid, search="random", trials=10, seed=7)
    assert first == plan(SPEC, grid, search="random", trials=10, seed=7)
    assert first != plan(SPEC, grid, search="random", trials=10, seed=8)
    assert len(first) == 10
    assert len({tuple(p.values()) for p in first}) == 10  # no duplicates
    assert len(plan(SPEC, grid, search="random", trials=10_000, seed=1)) == 19 * 9  # capped at the grid


def test_every_set_is_validated_before_running() -> None:
    with pytest.raises(ConfigError, match=r"unknown parameter 'fsat'.*takes .*fast"):
        plan(SPEC, {"fsat": [5]})
    with pytest.raises(ConfigError, match=r"fast=0.*greater than or equal to 1"):
        plan(SPEC, {"fast": [0, 5], "slow": [20]})
    with pytest.raises(ConfigError, match=r"fast=30, slow=20.*--where"):
        plan(SPEC, {"fast": [5, 30], "slow": [20]})


def test_unknown_metric_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown metric 'sharp'; choose one of .*sharpe"):
        check_metric("sharp")
