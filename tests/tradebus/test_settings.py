"""Settings from TOML with environment overrides; errors name the key and the file."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from brokers.ibkr.plugin import PLUGIN as IBKR
from brokers.paper.plugin import PLUGIN as PAPER
from framework.config import EngineConfig
from framework.config import validate_section
from framework.errors import ConfigError
from framework.redaction import redact
from framework.testing import FakeClock
from framework.testing import ScriptedBroker
from tradebus.settings import load_settings

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


def test_paper_and_live_runs_keep_separate_journals_unless_one_is_set(tmp_path: Path) -> None:
    defaults = load_settings(None, {})
    assert defaults.journal is None
    assert defaults.journal_path("paper") == Path("runs/paper/journal.sqlite")  # tradebus paper
    assert defaults.journal_path("ibkr") == Path("runs/ibkr/journal.sqlite")  # tradebus live --broker ibkr
    chosen = load_settings(write(tmp_path, GOOD), {})
    assert chosen.journal_path("paper") == chosen.journal_path("ibkr") == Path("runs/j.sqlite")


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


def test_bad_ibkr_key_names_the_section_key_and_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[brokers.ibkr]\nbase_ur = "https://localhost:5000/v1/api"\n')
    settings = load_settings(path, {})
    with pytest.raises(ConfigError) as info:
        IBKR.create(settings.broker_settings("ibkr"), clock=FakeClock())
    assert info.value.key == "brokers.ibkr.base_ur"
    assert info.value.source == str(path)
    assert str(info.value).startswith("brokers.ibkr.base_ur: ")
    assert str(path) in str(info.value)


def test_bad_paper_key_is_named_under_brokers_paper_with_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[brokers.paper]\nlatncy = 1\n")
    settings = load_settings(path, {})
    clock = FakeClock()
    with pytest.raises(ConfigError) as info:
        PAPER.create(settings.broker_settings("paper"), clock=clock, data=ScriptedBroker(clock))
    assert info.value.key == "brokers.paper.latncy"
    assert str(path) in str(info.value)


def test_bad_section_value_set_by_the_environment_names_the_variable(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    settings = load_settings(path, {"TRADEBUS_BROKERS__IBKR__BASE_URL": "ftp://gateway"})
    with pytest.raises(ConfigError) as info:
        IBKR.create(settings.broker_settings("ibkr"), clock=FakeClock())
    assert info.value.key == "brokers.ibkr.base_url"
    assert info.value.source == "TRADEBUS_BROKERS__IBKR__BASE_URL"


def test_bad_value_from_the_environment_names_the_variable_not_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, GOOD), {"TRADEBUS_ENGINE__STALE_DATA_AFTER": "soon"})
    assert info.value.key == "engine.stale_data_after"
    assert info.value.source == "TRADEBUS_ENGINE__STALE_DATA_AFTER"


def test_section_added_to_by_the_caller_still_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[brokers.ibkr]\ninsecure_skip_tls_verify = true\n')
    section = load_settings(path, {}).broker_settings("ibkr")
    section["allow_live"] = True  # what `tradebus live --i-understand-live` does
    with pytest.raises(ConfigError) as info:
        IBKR.create(section, clock=FakeClock())
    assert info.value.key == "brokers.ibkr"  # a rule across keys names the section
    assert str(path) in str(info.value)


def test_validate_section_of_a_plain_mapping_names_the_key() -> None:
    with pytest.raises(ConfigError) as info:
        validate_section(EngineConfig, {"stale_data_after": "soon"}, section="engine")
    assert info.value.key == "engine.stale_data_after"
    assert info.value.source is None


def test_the_degraded_order_policy_is_read_from_the_engine_section(tmp_path: Path) -> None:
    text = '[engine.degraded]\nreducing = "deny"\nnew_exposure = "hold"\nhold_for = "PT30S"\n'
    policy = load_settings(write(tmp_path, text), {}).engine.degraded
    assert (policy.reducing, policy.cancels, policy.new_exposure) == ("deny", "hold", "hold")
    assert policy.hold_for == timedelta(seconds=30)
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, '[engine.degraded]\nreducing = "wait"\n'), {})
    assert info.value.key == "engine.degraded.reducing"


def test_secrets_the_settings_hold_are_registered_and_never_shown_in_their_reprs(tmp_path: Path) -> None:
    # R19: a password in the file and a token in a variable, both strategy parameters, and the account
    path = write(tmp_path, GOOD.replace('account_id = "DU1234567"', 'account_id = "QK77120XZ"').replace(
        "params = { fast = 5 }", 'params = { fast = 5, alert_password = "pw-canary-4471" }'))
    settings = load_settings(path, {"TRADEBUS_STRATEGY__PARAMS__ALERT_TOKEN": "tok-canary-9034"})
    section = settings.broker_settings("ibkr")
    assert section["account_id"] == "QK77120XZ"  # the values themselves are untouched
    for text in (repr(settings), str(settings), repr(section), str(section)):
        assert "QK77120XZ" not in text
        assert "canary" not in text
    assert "'alert_password': '***'" in repr(settings)
    assert "'account_id': 'QK****0XZ'" in repr(section)
    assert redact("login pw-canary-4471 tok-canary-9034 QK77120XZ failed") == "login *** *** QK****0XZ failed"
