"""Errors of a run, not of its arguments: an unusable gateway, a closed pipe, the example script; one line each.

A gateway that cannot be reached or used exits 1 with one line naming the URL or port, the cause and
the fix; a missing CA file is a setting (2). The closed pipe and the example run in processes of
their own; a dead port is one bound on 127.0.0.1 and closed.
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from framework.engine import Engine
from framework.errors import BrokerConnectionError
from framework.errors import ConfigError
from framework.marketdata import Quote
from framework.testing import FakeClock
from framework.testing import ScriptedBroker
from simulators.ibkr import SimulatedGateway
from tests.tradebus.cli_errors_fixture import SMA
from tests.tradebus.cli_errors_fixture import dead_port
from tests.tradebus.cli_errors_fixture import isolated
from tests.tradebus.cli_errors_fixture import one_line_error
from tests.tradebus.cli_errors_fixture import small_bars
from tests.tradebus.cli_errors_fixture import write
from tradebus import cli
from tradebus.console import ConsoleView
from tradebus.failures import EXIT_BROKEN_PIPE
from tradebus.failures import failure_of

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.usefixtures(isolated.__name__)


def test_gateway_sim_on_a_taken_port_names_the_port(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli.main(["gateway-sim", "--port", str(port)]) == 2
    line = one_line_error(capsys, "gateway-sim")
    assert f"('127.0.0.1', {port})" in line
    assert "address already in use; pick another --port, or 0 for a free one" in line


# ----------------------------------------------------------------- the gateway


def gateway_settings(tmp_path: Path, base_url: str, extra: str = "") -> Path:
    return write(tmp_path / "tradebus.toml", f"""
journal = "{tmp_path / "journal.sqlite"}"
output = "{tmp_path / "out"}"

[brokers.ibkr]
base_url = "{base_url}"
{extra}
""")


@pytest.mark.parametrize("mode", ["paper", "live"])
def test_a_dead_gateway_port_names_the_url_the_cause_and_how_to_start_one(
    mode: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = dead_port()
    config = gateway_settings(tmp_path, f"https://127.0.0.1:{port}/v1/api")
    assert cli.main([mode, SMA, "--config", str(config), "--quiet"]) == 1
    line = one_line_error(capsys, mode)
    assert f"cannot reach the gateway at https://127.0.0.1:{port}/v1/api (connection refused)" in line
    assert "tradebus gateway-sim" in line
    assert "HTTPSConnectionPool" not in line


def test_backtest_history_from_a_dead_gateway_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = dead_port()
    config = gateway_settings(tmp_path, f"https://127.0.0.1:{port}/v1/api")
    assert cli.main(["backtest", SMA, "--config", str(config), "--data-from", "ibkr", "--no-progress"]) == 1
    assert f"127.0.0.1:{port}" in one_line_error(capsys, "backtest")


def test_a_missing_ca_file_names_the_setting_and_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = gateway_settings(tmp_path, "https://127.0.0.1:5000/v1/api", f'ca_file = "{tmp_path / "ca.pem"}"')
    assert cli.main(["paper", SMA, "--config", str(config), "--quiet"]) == 2
    line = one_line_error(capsys, "paper")
    assert "brokers.ibkr.ca_file: no CA certificate file at" in line
    assert str(config) in line


def test_a_ca_file_that_is_no_certificate_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    not_pem = write(tmp_path / "ca.pem", "hello\n")
    config = gateway_settings(tmp_path, "https://127.0.0.1:5000/v1/api", f'ca_file = "{not_pem}"')
    assert cli.main(["paper", SMA, "--config", str(config), "--quiet"]) == 2
    assert f"{not_pem} holds no PEM CA certificate" in one_line_error(capsys, "paper")


def test_tls_refused_by_a_local_gateway_says_to_set_ca_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with SimulatedGateway(port=0, seed=1) as gw:
        config = gateway_settings(tmp_path, gw.base_url)  # no ca_file: its own CA is not trusted
        assert cli.main(["paper", SMA, "--config", str(config), "--quiet"]) == 1
    line = one_line_error(capsys, "paper")
    assert "CERTIFICATE_VERIFY_FAILED" in line
    assert "set ca_file to the CA" in line


# ----------------------------------------------------------------- what the classification does


def test_a_bug_keeps_its_traceback_while_user_errors_are_classified() -> None:
    assert failure_of(RuntimeError("a bug")) is None
    assert failure_of(KeyError("x")) is None
    assert failure_of(ConfigError("bad", key="k")).code == 2  # type: ignore[union-attr]
    assert failure_of(BrokerConnectionError("down")).code == 1  # type: ignore[union-attr]
    multi = failure_of(ConfigError("first line\nsecond line"))
    assert multi is not None
    assert multi.line == "first line second line"


# ----------------------------------------------------------------- processes of their own


def test_journal_into_a_closed_pipe_exits_quietly(tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite"
    args = ["backtest", SMA, "--data", str(small_bars(tmp_path / "bars.csv")), "--journal", str(journal),
            "--out", str(tmp_path / "out"), "--no-progress"]
    assert cli.main(args) == 0
    reader, writer = os.pipe()
    os.close(reader)  # `tradebus journal | head` after head has gone: every write fails with EPIPE
    try:
        code = "import sys; from tradebus.cli import main; sys.exit(main())"
        result = subprocess.run([sys.executable, "-c", code, "journal", "--path", str(journal)], stdout=writer,
                                stderr=subprocess.PIPE, text=True, check=False, timeout=60)
    finally:
        os.close(writer)
    assert result.stderr == ""
    assert result.returncode == EXIT_BROKEN_PIPE


def test_the_ibkr_example_without_a_gateway_is_one_line_and_exit_1(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEBUS_")}
    env["TRADEBUS_BROKERS__IBKR__BASE_URL"] = f"https://127.0.0.1:{dead_port()}/v1/api"
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "ibkr_paper_trading.py"), "--minutes", "0.1"],
                            capture_output=True, text=True, check=False, timeout=60, env=env, cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "cannot reach the gateway at https://127.0.0.1:" in lines[0]
    assert "--simulator" in lines[0]


class ClosedPipe(io.StringIO):
    """A stream whose reader has gone: every write fails as a closed pipe does."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_live_view_whose_reader_left_goes_quiet_and_the_run_goes_on(
    engine: Engine, broker: ScriptedBroker, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    view = ConsoleView(engine, ClosedPipe())
    engine.start()  # BrokerConnected: the view's first line fails
    for _ in range(3):
        broker.push_quote(Quote("AAPL", clock.now(), bid=100.0, ask=100.1))
        clock.advance(timedelta(seconds=5))  # status lines due
        engine.run_pending()
    assert engine.running
    assert view.lines == 0
    closed = [r for r in caplog.records if "output was closed" in r.getMessage()]
    assert len(closed) == 1  # said once, not once per line
    view.close()
