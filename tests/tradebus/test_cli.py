"""The tradebus command line: help, plug-in discovery, broken plug-ins, the brokers listing."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import EntryPoint

import pytest

from tradebus import cli


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for command in ("live", "paper", "brokers"):
        assert command in out


def test_no_command_prints_usage_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    assert "usage: tradebus" in capsys.readouterr().err


def test_a_broken_plugin_is_reported_and_the_rest_still_work(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    good = EntryPoint("brokers", "tradebus.commands:BROKERS", cli.COMMAND_GROUP)
    bad = EntryPoint("broken", "no_such_module_qq:COMMAND", cli.COMMAND_GROUP)
    monkeypatch.setattr(cli, "entry_points", lambda group: [good, bad])
    commands = cli.discover_commands()
    assert list(commands) == ["brokers"]
    assert "command 'broken'" in capsys.readouterr().err


def test_console_script_runs_as_a_real_process() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tradebus.cli", "--help"], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0
    assert "tradebus" in result.stdout
