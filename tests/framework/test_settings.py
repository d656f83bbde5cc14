"""Settings from TOML with environment overrides; errors name the key and the file."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from framework.errors import ConfigError
from framework.settings import load_settings

GOOD = """
broker = "ibkr"
journal = "runs/j.sqlite"

[engine]
stale_data_after = "PT30S"

[brokers.ibkr]
base_url = "https://localhost:5000/v1/api"
account_id = "DU1234567"

[strategy]
spec = "strategies.sma_cross:SmaCross"
params = { fast = 5 }
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tradebus.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_every_section(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, GOOD), {})
    assert settings.broker == "ibkr"
    assert settings.journal == Path("runs/j.sqlite")
    assert settings.engine.stale_data_after == timedelta(seconds=30)
    assert settings.broker_settings("ibkr")["account_id"] == "DU1234567"
    assert settings.broker_settings("paper") == {}
    assert settings.strategy is not None
    assert settings.strategy.params == {"fast": 5}


def test_environment_overrides_the_file_and_ignores_other_variables(tmp_path: Path) -> None:
    env = {
        "TRADEBUS_BROKERS__IBKR__BASE_URL": "https://127.0.0.1:5001/v1/api",
        "TRADEBUS_JOURNAL": "/tmp/other.sqlite",
        "HOME": "/root",
    }
    settings = load_settings(write(tmp_path, GOOD), env)
    assert settings.broker_settings("ibkr")["base_url"] == "https://127.0.0.1:5001/v1/api"
    assert settings.broker_settings("ibkr")["account_id"] == "DU1234567"
    assert settings.journal == Path("/tmp/other.sqlite")


def test_defaults_without_a_file() -> None:
    settings = load_settings(None, {})
    assert settings.broker is None
    assert settings.source is None


def test_unknown_key_is_named_with_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, 'brokr = "ibkr"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(path, {})
    assert info.value.key == "brokr"
    assert str(path) in str(info.value)


def test_bad_nested_value_names_the_dotted_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, '[engine]\nstale_data_after = "soon"\n'), {})
    assert info.value.key == "engine.stale_data_after"


def test_invalid_toml_reports_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="line 2"):
        load_settings(write(tmp_path, 'broker = "ibkr"\nbroken = \n'), {})


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "nope.toml", {})


def test_env_cannot_nest_below_a_plain_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="TRADEBUS_BROKER__X"):
        load_settings(write(tmp_path, GOOD), {"TRADEBUS_BROKER__X": "1"})
