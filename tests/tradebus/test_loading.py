"""Strategy loading by dotted path or file path, typed parameters, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from framework.errors import ConfigError
from framework.errors import StrategyLoadError
from tradebus.loading import create_strategy
from tradebus.loading import load_strategy_class
from tradebus.loading import parse_params

STRATEGY_FILE = '''
from framework.config import StrategyConfig
from framework.strategy import Strategy


class Params(StrategyConfig):
    symbol: str = "AAPL"
    fast: int = 10


class FileStrategy(Strategy[Params]):
    config_type = Params
'''


@pytest.fixture
def strategy_file(tmp_path: Path) -> Path:
    path = tmp_path / "my_strategy.py"
    path.write_text(STRATEGY_FILE, encoding="utf-8")
    return path


def test_loads_by_dotted_path_with_colon_and_with_dot() -> None:
    a = load_strategy_class("framework.testing:Strategy")  # the base class itself is a Strategy
    b = load_strategy_class("framework.strategy.Strategy")
    assert a is b


def test_loads_the_only_strategy_in_a_file_and_builds_typed_params(strategy_file: Path) -> None:
    strategy = create_strategy(str(strategy_file), parse_params(["fast=12", "symbol=MSFT"]))
    assert type(strategy).__name__ == "FileStrategy"
    assert strategy.config.fast == 12
    assert strategy.config.symbol == "MSFT"
    assert load_strategy_class(f"{strategy_file}:FileStrategy") is type(strategy)


def test_bad_parameter_names_the_key_and_the_source(strategy_file: Path) -> None:
    with pytest.raises(ConfigError) as info:
        create_strategy(str(strategy_file), {"fast": "ten"}, source="run.toml")
    assert info.value.key == "fast"
    assert "run.toml" in str(info.value)
    with pytest.raises(ConfigError, match="slow"):
        create_strategy(str(strategy_file), {"slow": 3})


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        ("no_such_module_xyz:Thing", "cannot import"),
        ("framework.models:Instrument", "not a Strategy"),
        ("justaname", "expected"),
        ("missing_file.py", "does not exist"),
    ],
)
def test_bad_spec_explains_itself(spec: str, text: str) -> None:
    with pytest.raises(StrategyLoadError, match=text):
        load_strategy_class(spec)


def test_file_with_an_import_error_is_reported(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("import not_a_real_module_zz\n", encoding="utf-8")
    with pytest.raises(StrategyLoadError, match="failed to import"):
        load_strategy_class(str(broken))


def test_parse_params_refuses_items_without_equals() -> None:
    assert parse_params(["a=1", " b = x "]) == {"a": "1", "b": "x"}
    with pytest.raises(ConfigError, match="key=value"):
        parse_params(["oops"])
