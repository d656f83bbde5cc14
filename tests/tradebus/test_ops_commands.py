"""``tradebus halt`` and ``tradebus journal`` through the real command line (``tradebus.cli.main``)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from framework.config import EngineConfig
from framework.engine import Engine
from framework.engine import PreTradeCheck
from framework.killswitch import KillSwitch
from framework.killswitch import halt_reason
from framework.marketdata import Quote
from framework.models import Instrument
from framework.models import OrderRequest
from framework.models import OrderType
from framework.models import Side
from framework.testing import FakeClock
from framework.testing import ScriptedBroker
from tradebus import cli
from tradebus.journal import SqliteJournal

AAPL = Instrument(symbol="AAPL")


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No TRADEBUS_* variables, and the root logger as it was (``main`` reconfigures logging)."""
    for key in [k for k in os.environ if k.startswith("TRADEBUS_")]:
        monkeypatch.delenv(key)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ----------------------------------------------------------------- tradebus halt


def test_halt_writes_the_reason_to_the_flag_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flag = tmp_path / "state" / "HALT"
    code, out, _ = run_cli(capsys, "halt", "--flag-file", str(flag), "--reason", "fat finger on MSFT")
    assert code == 0
    assert out == f"trading halted: fat finger on MSFT ({flag}); engines stop within a second\n"
    assert json.loads(flag.read_text(encoding="utf-8"))["reason"] == "fat finger on MSFT"
    assert KillSwitch(flag).reason == "fat finger on MSFT"  # what a running engine will read


def test_halt_without_a_reason_uses_the_default_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flag = tmp_path / "HALT"
    assert run_cli(capsys, "halt", "--flag-file", str(flag))[0] == 0
    assert halt_reason(flag) == "halted from the command line"


def test_halt_status_reports_both_states_without_changing_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flag = tmp_path / "HALT"
    assert run_cli(capsys, "halt", "--status", "--flag-file", str(flag)) == (0, f"not halted ({flag})\n", "")
    assert not flag.exists()
    run_cli(capsys, "halt", "--flag-file", str(flag), "--reason", "daily loss")
    assert run_cli(capsys, "halt", "--status", "--flag-file", str(flag)) == (0, f"halted: daily loss ({flag})\n", "")
    assert halt_reason(flag) == "daily loss"


def test_halt_clear_removes_the_flag_and_says_when_there_was_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flag = tmp_path / "HALT"
    run_cli(capsys, "halt", "--flag-file", str(flag))
    assert run_cli(capsys, "halt", "--clear", "--flag-file", str(flag)) == (0, f"halt cleared ({flag})\n", "")
    assert not flag.exists()
    assert run_cli(capsys, "halt", "--clear", "--flag-file", str(flag)) == (0, f"was not halted ({flag})\n", "")


def test_halt_finds_the_flag_file_in_the_settings_and_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    configured = tmp_path / "from-config" / "HALT"
    config = tmp_path / "tradebus.toml"
    config.write_text(f'halt_file = "{configured.as_posix()}"\n', encoding="utf-8")
    assert run_cli(capsys, "halt", "--config", str(config), "--reason", "config")[0] == 0
    assert halt_reason(configured) == "config"
    overridden = tmp_path / "from-env" / "HALT"
    monkeypatch.setenv("TRADEBUS_HALT_FILE", str(overridden))
    assert run_cli(capsys, "halt", "--config", str(config), "--reason", "env")[0] == 0
    assert halt_reason(overridden) == "env"
    assert halt_reason(configured) == "config"  # the environment wins over the file


def test_a_hand_made_flag_file_reads_as_halted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flag = tmp_path / "HALT"
    flag.write_text("", encoding="utf-8")  # e.g. `touch runs/HALT`
    assert run_cli(capsys, "halt", "--status", "--flag-file", str(flag))[1] == f"halted: halted ({flag})\n"


# ----------------------------------------------------------------- tradebus journal


def deny_above_100(request: OrderRequest, engine: Engine, /) -> str | None:
    return "quantity above 100" if request.quantity > 100 else None


def journal_run(path: Path, prefix: str, tickets: list[dict[str, object]], broker: ScriptedBroker) -> None:
    """Run ``tickets`` through an engine journaling to ``path``; every order ends final."""
    clock = broker.clock
    journal = SqliteJournal(path, synchronous="normal")
    checks: list[PreTradeCheck] = [deny_above_100]
    engine = Engine(broker, clock=clock, config=EngineConfig(order_id_prefix=prefix), journal=journal, checks=checks)
    engine.start()
    broker.push_quote(Quote("AAPL", clock.now(), bid=100.0, ask=100.02))
    engine.run_pending()
    for ticket in tickets:
        order = engine.submit_order(
            OrderRequest.model_validate(
                {"client_order_id": engine.next_client_order_id(), "instrument": AAPL, **ticket}
            )
        )
        engine.run_pending()
        if order.request.order_type is OrderType.LIMIT:
            engine.cancel_order(order.client_order_id)
            engine.run_pending()
    engine.stop()
    journal.close()


@pytest.fixture
def journal_path(tmp_path: Path) -> Path:
    """A journal of two runs: A buys 5 (filled), rests a limit (cancelled), asks for 500 (denied); B sells 5."""
    path = tmp_path / "runs" / "journal.sqlite"
    broker = ScriptedBroker(FakeClock(), auto_cancel=True)  # one venue for both runs: execution ids stay unique
    journal_run(
        path,
        "A",
        [
            {"side": Side.BUY, "quantity": 5, "strategy_id": "sma"},
            {"side": Side.BUY, "quantity": 1, "order_type": OrderType.LIMIT, "limit_price": Decimal("90.5")},
            {"side": Side.BUY, "quantity": 500},
        ],
        broker,
    )
    journal_run(path, "B", [{"side": Side.SELL, "quantity": 5, "strategy_id": "sma"}], broker)
    return path


def test_journal_lists_every_run_and_order(journal_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "journal", "--path", str(journal_path))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"journal {journal_path}: 2 run(s): A, B"
    assert (
        lines[1] == "2024-01-02 14:30:00  A.1            sma          buy  5 AAPL market  filled  filled 5 avg 100.0200"
    )
    assert "A.2" in lines[2]
    assert "limit @ 90.5  cancelled  filled 0" in lines[2]
    assert "A.3" in lines[3]
    assert lines[3].endswith("denied  filled 0 (quantity above 100)")
    assert "B.1" in lines[4]
    assert "sell 5 AAPL market  filled  filled 5 avg 100.0000" in lines[4]
    assert len(lines) == 5
    assert "fill " not in out


def test_journal_run_filter_shows_one_run_and_fills_only_for_it(
    journal_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(capsys, "journal", "--path", str(journal_path), "--run", "B", "--fills")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"journal {journal_path}: 2 run(s): A, B"  # the header still names every run
    assert [line.split()[2] for line in lines[1:] if not line.startswith("fill ")] == ["B.1"]
    fills = [line for line in lines if line.startswith("fill ")]
    assert len(fills) == 1
    assert " B.1  sell 5 AAPL @ 100" in fills[0]
    assert fills[0].endswith("commission 0  2024-01-02 14:30:00")


def test_journal_fills_lists_each_fill_of_every_run(journal_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = run_cli(capsys, "journal", "--path", str(journal_path), "--fills")[1]
    fills = [line.split()[2] for line in out.splitlines() if line.startswith("fill ")]
    assert fills == ["A.1", "B.1"]


def test_journal_of_an_unknown_run_is_an_error_listing_the_runs(
    journal_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # was: exit 0 and an empty listing, which hid a typo in --run
    code, out, err = run_cli(capsys, "journal", "--path", str(journal_path), "--run", "nope", "--fills")
    assert (code, out) == (2, "")
    assert err == f"tradebus journal: error: --run: no run 'nope' in {journal_path}; its runs: A, B\n"


def test_journal_path_comes_from_the_settings(
    journal_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "tradebus.toml"
    config.write_text(f'journal = "{journal_path.as_posix()}"\n', encoding="utf-8")
    code, out, _ = run_cli(capsys, "journal", "--config", str(config))
    assert code == 0
    assert out.startswith(f"journal {journal_path}: 2 run(s)")


def test_a_missing_journal_is_an_error_and_is_not_created(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere" / "journal.sqlite"
    code, out, err = run_cli(capsys, "journal", "--path", str(missing))
    assert (code, out) == (2, "")  # a file the user named: a usage error, one line naming the option
    assert err.startswith(f"tradebus journal: error: --path: no journal at {missing}; ")
    assert len(err.splitlines()) == 1
    assert not missing.parent.exists()


def test_a_bad_settings_file_is_a_sentence_not_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "tradebus.toml"
    config.write_text("journal = [\n", encoding="utf-8")
    code, _, err = run_cli(capsys, "journal", "--config", str(config))
    assert code == 2
    assert err.startswith("tradebus journal: error: invalid TOML")
