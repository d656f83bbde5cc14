"""Only ``--i-understand-live`` (or ``allow_live=True`` in code) may allow a live account.

A settings file or an environment variable that says ``allow_live`` is refused with one line naming
where it came from and the fix, for any broker plug-in's section, not only IBKR's.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from brokers.ibkr import IbkrConfig
from brokers.ibkr.plugin import PLUGIN as IBKR
from framework.broker import MarketData
from framework.clock import Clock
from framework.errors import ConfigError
from framework.testing import FakeClock
from framework.testing import ScriptedBroker
from simulators.ibkr import SimulatedGateway
from simulators.ibkr import SimulatorConfig
from tradebus import cli
from tradebus import commands
from tradebus.settings import load_settings

STRATEGY = f"{Path(__file__).resolve().parent.parent / 'e2e' / 'round_trip_strategy.py'}:RoundTrip"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tradebus.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("value", ["true", '"yes"', "1"])
def test_allow_live_in_a_broker_section_of_the_file_is_refused(tmp_path: Path, value: str) -> None:
    path = write(tmp_path, f'[brokers.ibkr]\naccount_id = "U1234567"\nallow_live = {value}\n')
    with pytest.raises(ConfigError) as info:
        load_settings(path, {})
    assert info.value.key == "brokers.ibkr.allow_live"
    assert info.value.source == str(path)
    message = str(info.value)
    assert "\n" not in message
    assert "--i-understand-live" in message
    assert message.startswith("brokers.ibkr.allow_live: ")


def test_allow_live_from_the_environment_is_refused_naming_the_variable(tmp_path: Path) -> None:
    path = write(tmp_path, '[brokers.ibkr]\naccount_id = "U1234567"\n')
    variable = "TRADEBUS_BROKERS__IBKR__ALLOW_LIVE"
    with pytest.raises(ConfigError) as info:
        load_settings(path, {variable: "1"})
    assert info.value.key == "brokers.ibkr.allow_live"
    assert info.value.source == variable
    assert "--i-understand-live" in str(info.value)


def test_any_plugin_section_gets_the_same_guard(tmp_path: Path) -> None:
    """A broker tradebus knows nothing about (a future Alpaca plug-in) is guarded the same way."""
    path = write(tmp_path, "[brokers.alpaca]\nallow_live = true\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path, {})
    assert info.value.key == "brokers.alpaca.allow_live"
    with pytest.raises(ConfigError) as info:
        load_settings(None, {"TRADEBUS_BROKERS__ALPACA__ALLOW_LIVE": "true"})
    assert info.value.source == "TRADEBUS_BROKERS__ALPACA__ALLOW_LIVE"


def test_a_top_level_allow_live_is_refused_with_the_same_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, "allow_live = true\n"), {})
    assert info.value.key == "allow_live"
    assert "--i-understand-live" in str(info.value)
    with pytest.raises(ConfigError) as info:
        load_settings(None, {"TRADEBUS_ALLOW_LIVE": "yes"})
    assert info.value.source == "TRADEBUS_ALLOW_LIVE"


def test_a_false_allow_live_says_nothing_and_is_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, '[brokers.ibkr]\nallow_live = false\n')
    settings = load_settings(path, {"TRADEBUS_BROKERS__PAPER__ALLOW_LIVE": "0"})
    config = IBKR.create(settings.broker_settings("ibkr"), clock=FakeClock()).config
    assert not config.allow_live


def test_ibkr_from_env_refuses_allow_live_naming_the_variable() -> None:
    with pytest.raises(ConfigError) as info:
        IbkrConfig.from_env({"TRADEBUS_BROKERS__IBKR__ALLOW_LIVE": "1"})
    assert info.value.source == "TRADEBUS_BROKERS__IBKR__ALLOW_LIVE"
    assert "allow_live=True" in str(info.value)


def test_code_may_still_allow_a_live_account_explicitly() -> None:
    assert IbkrConfig(allow_live=True).allow_live
    assert IbkrConfig.from_env({}, allow_live=True).allow_live
    assert IBKR.create({"allow_live": True}, clock=FakeClock()).config.allow_live


class CapturingPlugin:
    """A broker plug-in that records the settings the CLI handed it."""

    name = "capture"
    description = "records its settings"
    needs_data = False

    def __init__(self) -> None:
        self.settings: Mapping[str, Any] | None = None

    def create(self, settings: Mapping[str, Any], *, clock: Clock, data: MarketData | None = None) -> ScriptedBroker:
        self.settings = settings
        raise StopBuildingError


class StopBuildingError(Exception):
    pass


@pytest.fixture
def capture(monkeypatch: pytest.MonkeyPatch) -> CapturingPlugin:
    plugin = CapturingPlugin()
    monkeypatch.setattr(commands, "broker_plugin", lambda name: plugin)
    return plugin


def live_args(tmp_path: Path, *extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    commands.LIVE.configure(parser)
    return parser.parse_args([STRATEGY, "--broker", "capture", "--config", str(write(tmp_path, "")), *extra])


def test_only_the_cli_flag_allows_live_and_it_says_where_it_came_from(
    tmp_path: Path, capture: CapturingPlugin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRADEBUS_BROKERS__CAPTURE__ALLOW_LIVE", raising=False)
    with pytest.raises(StopBuildingError):
        commands.LIVE.run(live_args(tmp_path))
    assert capture.settings is not None
    assert "allow_live" not in capture.settings
    with pytest.raises(StopBuildingError):
        commands.LIVE.run(live_args(tmp_path, "--i-understand-live"))
    assert capture.settings["allow_live"] is True
    assert capture.settings.source_of("allow_live") == "--i-understand-live"  # type: ignore[attr-defined]


def test_the_cli_refuses_allow_live_from_the_environment_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRADEBUS_BROKERS__IBKR__ALLOW_LIVE", "1")
    code = cli.main(["live", STRATEGY, "--broker", "ibkr", "--config", str(write(tmp_path, "")), "--quiet"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "TRADEBUS_BROKERS__IBKR__ALLOW_LIVE" in err[0]
    assert "--i-understand-live" in err[0]


def live_settings(tmp_path: Path, gw: SimulatedGateway, extra: str = "") -> Path:
    return write(tmp_path, f"""
journal = "{tmp_path / "journal.sqlite"}"
halt_file = "{tmp_path / "HALT"}"
output = "{tmp_path / "out"}"

[brokers.ibkr]
base_url = "{gw.base_url}"
ws_url = "{gw.ws_url}"
ca_file = "{gw.ca_file}"
{extra}
""")


def test_a_live_account_on_the_gateway_needs_the_flag_not_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = SimulatorConfig(account_id="U1234567", paper=False, tick_interval=0.05)
    with SimulatedGateway(port=0, seed=3, config=config) as gw:
        base = ["live", STRATEGY, "--broker", "ibkr", "--duration", "1", "--quiet"]
        assert cli.main([*base, "--config", str(live_settings(tmp_path, gw, "allow_live = true"))]) == 2
        assert "--i-understand-live" in capsys.readouterr().err
        assert cli.main([*base, "--config", str(live_settings(tmp_path, gw))]) == 2
        gw.pacing_reset()  # the refused run's /tickle counts against the next one's
        refused = capsys.readouterr().err
        assert "not a paper account" in refused
        assert "U1234567" not in refused  # the account id is masked in the error line too
        assert cli.main([*base, "--config", str(live_settings(tmp_path, gw)), "--i-understand-live"]) == 0
