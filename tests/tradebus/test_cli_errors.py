"""A mistake on the command line ends with one line naming the file, key or option and the fix, never a traceback.

Each case drives the real ``tradebus`` command line (``tradebus.cli.main``) in-process and checks
the exit code (2: usage errors: arguments, settings, parameters, files the user named), that stderr
is one line without a traceback, and that the line names what is wrong. Gateways, pipes and the
example script are in ``test_cli_run_errors.py``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.tradebus.cli_errors_fixture import SMA
from tests.tradebus.cli_errors_fixture import isolated
from tests.tradebus.cli_errors_fixture import one_line_error
from tests.tradebus.cli_errors_fixture import small_bars
from tests.tradebus.cli_errors_fixture import write
from tradebus import cli

pytestmark = pytest.mark.usefixtures(isolated.__name__)

BUY_ONCE = '''
from datetime import timedelta
from decimal import Decimal

from framework.config import StrategyConfig
from framework.strategy import Strategy


class BuyOnceConfig(StrategyConfig):
    symbol: str = "AAPL"
    quantity: Decimal = Decimal(1)
    fast: int = 1


class BuyOnce(Strategy[BuyOnceConfig]):
    config_type = BuyOnceConfig

    def on_start(self) -> None:
        self.subscribe_bars(self.config.symbol, timedelta(minutes=1))

    def on_bar(self, bar) -> None:
        if not self.context.orders.all():
            self.buy(self.config.symbol, self.config.quantity)
'''


# ----------------------------------------------------------------- --config and --param, the same in every mode


def test_backtest_applies_the_strategy_section_of_the_config_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    strategy = write(tmp_path / "buy_once.py", BUY_ONCE)
    section = f'[strategy]\nspec = "{strategy}"\nparams = {{ symbol = "MSFT", quantity = 7 }}\n'
    config = write(tmp_path / "tradebus.toml", section)
    out = tmp_path / "out"
    args = ["backtest", "--config", str(config), "--data", str(small_bars(tmp_path / "bars.csv")),
            "--out", str(out), "--no-progress"]
    assert cli.main(args) == 0, capsys.readouterr().err
    with (out / "orders.csv").open(encoding="utf-8") as handle:
        orders = list(csv.DictReader(handle))
    assert [(o["symbol"], o["quantity"]) for o in orders] == [("MSFT", "7")]  # the file's params, not the defaults

    assert cli.main([*args, "--param", "quantity=3"]) == 0  # --param overrides the file, key by key
    with (out / "orders.csv").open(encoding="utf-8") as handle:
        assert [(o["symbol"], o["quantity"]) for o in csv.DictReader(handle)] == [("MSFT", "3")]


@pytest.mark.parametrize("mode", ["backtest", "paper", "live"])
def test_a_bad_value_in_the_config_file_names_the_file_and_key_in_every_mode(
    mode: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path / "tradebus.toml", f'[strategy]\nspec = "{SMA}"\nparams = {{ fast = "abc" }}\n')
    assert cli.main([mode, SMA, "--config", str(config)]) == 2
    line = one_line_error(capsys, mode)
    assert "strategy.params.fast" in line
    assert str(config) in line
    assert "'abc'" in line


@pytest.mark.parametrize("mode", ["backtest", "paper", "live"])
def test_a_bad_param_is_blamed_on_the_param_not_the_config_file(
    mode: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path / "tradebus.toml", f'[strategy]\nspec = "{SMA}"\nparams = {{ fast = 5 }}\n')
    assert cli.main([mode, SMA, "--config", str(config), "--param", "fast=x"]) == 2
    line = one_line_error(capsys, mode)
    assert "--param fast" in line
    assert str(config) not in line


def test_a_param_file_value_set_by_an_environment_variable_names_the_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(tmp_path / "tradebus.toml", f'[strategy]\nspec = "{SMA}"\n')
    monkeypatch.setenv("TRADEBUS_STRATEGY__PARAMS__SLOW", "zz")
    assert cli.main(["backtest", "--config", str(config), "--no-progress"]) == 2
    line = one_line_error(capsys, "backtest")
    assert "strategy.params.slow" in line
    assert "TRADEBUS_STRATEGY__PARAMS__SLOW" in line


def test_an_unknown_param_lists_the_strategys_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["backtest", SMA, "--param", "fsat=3", "--no-progress"]) == 2
    line = one_line_error(capsys, "backtest")
    assert "--param fsat: unknown parameter" in line
    assert "fast" in line
    assert "slow" in line


def test_a_param_without_equals_sign_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["paper", SMA, "--param", "fast"]) == 2
    assert "must look like key=value" in one_line_error(capsys, "paper")


def test_no_strategy_at_all_says_how_to_give_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["backtest", "--no-progress"]) == 2
    assert "pass STRATEGY or set [strategy] spec" in one_line_error(capsys, "backtest")


def test_a_param_symbol_not_in_the_data_names_the_symbol_and_the_data(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["backtest", SMA, "--param", "symbol=TSLA", "--no-progress"]) == 2
    line = one_line_error(capsys, "backtest")
    assert "TSLA" in line
    assert "AAPL" in line  # what the data has instead


# ----------------------------------------------------------------- files the user named


def test_a_missing_data_file_names_the_option_and_the_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["backtest", SMA, "--data", "nope.csv", "--no-progress"]) == 2
    line = one_line_error(capsys, "backtest")
    assert "--data" in line
    assert "nope.csv does not exist" in line


def test_a_header_only_csv_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = write(tmp_path / "empty.csv", "timestamp,symbol,open,high,low,close,volume\n")
    assert cli.main(["backtest", SMA, "--data", str(empty), "--no-progress"]) == 2
    line = one_line_error(capsys, "backtest")
    assert str(empty) in line
    assert "no bars" in line


def test_a_missing_config_file_names_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["paper", SMA, "--config", "missing.toml"]) == 2
    assert "missing.toml" in one_line_error(capsys, "paper")


@pytest.mark.parametrize("option", ["--journal", "--out"])
def test_an_unusable_output_path_names_the_path(
    option: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = write(tmp_path / "a-file", "")  # nothing can be created below a plain file, not even by root
    target = blocker / "x"
    args = ["backtest", SMA, "--data", str(small_bars(tmp_path / "bars.csv")), "--no-progress", option, str(target)]
    assert cli.main(args) == 2
    assert str(target) in one_line_error(capsys, "backtest")


def test_an_unwritable_journal_in_the_settings_names_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = write(tmp_path / "a-file", "") / "journal.sqlite"
    config = write(tmp_path / "tradebus.toml", f'journal = "{target}"\n')
    assert cli.main(["paper", SMA, "--config", str(config), "--quiet"]) == 2  # refused before any connection
    line = one_line_error(capsys, "paper")
    assert f"cannot open {target} as the order journal" in line
    assert "writable folder" in line


def test_a_missing_journal_for_tradebus_journal_names_the_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["journal", "--path", "none.sqlite"]) == 2
    assert "--path: no journal at none.sqlite" in one_line_error(capsys, "journal")


def test_an_unwritable_log_file_names_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = write(tmp_path / "a-file", "") / "tradebus.log"
    assert cli.main(["--log-file", str(target), "brokers"]) == 2
    assert str(target) in one_line_error(capsys, "brokers")


def test_an_unknown_run_for_tradebus_journal_lists_the_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    journal = tmp_path / "journal.sqlite"
    args = ["backtest", SMA, "--data", str(small_bars(tmp_path / "bars.csv")), "--journal", str(journal),
            "--out", str(tmp_path / "out"), "--no-progress"]
    assert cli.main(args) == 0
    capsys.readouterr()
    assert cli.main(["journal", "--path", str(journal), "--run", "NOPE"]) == 2
    assert "--run: no run 'NOPE'" in one_line_error(capsys, "journal")


def test_an_unwritable_halt_flag_names_the_flag_file_not_its_temporary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flag = write(tmp_path / "a-file", "") / "HALT"
    assert cli.main(["halt", "--flag-file", str(flag)]) == 2
    line = one_line_error(capsys, "halt")
    assert f"cannot write the flag file {flag} (" in line
    assert ".tmp" not in line


@pytest.mark.parametrize(
    ("text", "key", "listed"),
    [
        ('jornal = "x"\n', "jornal: unknown key", "journal"),
        ("[engine]\nstale_data_afte = 3\n", "engine.stale_data_afte: unknown key", "stale_data_after"),
        ("[risk]\nmax_order_qty = 5\n", "risk.max_order_qty: unknown key", "max_order_quantity"),
        ('[brokers.ibkr]\nbase_ur = "x"\n', "brokers.ibkr.base_ur: unknown key", "base_url"),
    ],
)
def test_a_typo_in_a_settings_key_lists_the_keys_of_its_section(
    text: str, key: str, listed: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path / "tradebus.toml", text)
    assert cli.main(["paper", SMA, "--config", str(config), "--quiet"]) == 2
    line = one_line_error(capsys, "paper")
    assert key in line
    assert listed in line
    assert str(config) in line


def test_a_secret_with_a_bad_type_is_not_quoted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write(tmp_path / "tradebus.toml", "[brokers.ibkr]\naccount_id = 123456789\n")
    assert cli.main(["paper", SMA, "--config", str(config), "--quiet"]) == 2
    line = one_line_error(capsys, "paper")
    assert "brokers.ibkr.account_id" in line
    assert "123456789" not in line


# ----------------------------------------------------------------- --venue


def test_a_typo_in_venue_json_names_the_key_and_lists_the_valid_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["backtest", SMA, "--venue", '{"latncy": 1}', "--no-progress"]) == 2
    line = one_line_error(capsys, "backtest")
    assert "--venue: latncy: unknown key" in line
    assert "latency" in line


def test_invalid_venue_json_says_where_and_shows_the_form(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["backtest", SMA, "--venue", "{latency: 1", "--no-progress"]) == 2
    line = one_line_error(capsys, "backtest")
    assert "--venue: not valid JSON" in line
    assert "column 2" in line
    assert '{"latency": 1}' in line


def test_a_bad_venue_value_names_the_key_and_value(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["backtest", SMA, "--venue", '{"latency": "soon"}', "--no-progress"]) == 2
    line = one_line_error(capsys, "backtest")
    assert "--venue: latency" in line
    assert "'soon'" in line


# ----------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    ("argv", "command", "text"),
    [
        (["frobnicate"], "tradebus", "invalid choice: 'frobnicate'"),
        (["backtest", SMA, "--bar-size", "7q"], "tradebus backtest", "argument --bar-size"),
        (["paper", SMA, "--duration", "soon"], "tradebus paper", "argument --duration"),
    ],
)
def test_a_bad_argument_is_one_line_pointing_at_help(
    argv: list[str], command: str, text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"{command}: error: ")
    assert text in lines[0]
    assert lines[0].endswith(f"(see {command} --help)")


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        ("nope.py", "strategy file nope.py does not exist"),
        ("strategies.sma_cross", "is a module: name its class, e.g. strategies.sma_cross:SmaCross"),
        ("strategies.sma_cross:Nope", "Nope is not defined in strategies.sma_cross (its strategies: SmaCross)"),
    ],
)
def test_a_strategy_that_cannot_be_found_says_what_to_write(
    spec: str, text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["backtest", spec, "--no-progress"]) == 2
    assert text in one_line_error(capsys, "backtest")
