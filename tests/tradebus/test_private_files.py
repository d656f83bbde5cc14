"""What a run writes is its owner's alone: files 0600, the folders it creates 0700, whatever the umask.

The journal (with its ``-wal`` and ``-shm``), the halt flag, the exports and the report, and the log
file; checked with ``os.stat`` after real runs of the commands that write them.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from pathlib import Path

import pytest

from framework.killswitch import halt
from tradebus import cli
from tradebus.journal import SqliteJournal

FILE = 0o600
FOLDER = 0o700


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(params=[0o000, 0o022], ids=["umask-000", "umask-022"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """Run with a permissive umask: the modes must not come from it."""
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = root.level, list(root.handlers)
    levels = {name: logging.getLogger(name).level for name in cli.QUIET_LOGGERS}
    yield
    for handler in root.handlers:
        if handler not in saved[1]:
            handler.close()
    root.handlers[:] = saved[1]
    root.setLevel(saved[0])
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.usefixtures("umask")
def test_the_journal_its_wal_and_shm_and_new_folders_are_private(tmp_path: Path) -> None:
    path = tmp_path / "runs" / "nested" / "journal.sqlite"
    journal = SqliteJournal(path)
    try:
        sidecars = [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")]
        assert all(p.exists() for p in sidecars)  # WAL mode: both exist while the journal is open
        assert [mode(p) for p in (path, *sidecars)] == [FILE, FILE, FILE]
        assert [mode(d) for d in (path.parent, path.parent.parent)] == [FOLDER, FOLDER]
    finally:
        journal.close()


@pytest.mark.usefixtures("umask")
def test_a_journal_left_readable_by_an_earlier_version_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    SqliteJournal(path).close()
    for p in (path, path.with_name(path.name + "-wal")):
        p.touch()
        os.chmod(p, 0o644)
    journal = SqliteJournal(path)
    try:
        assert mode(path) == FILE
        assert mode(path.with_name(path.name + "-wal")) == FILE
    finally:
        journal.close()


@pytest.mark.usefixtures("umask")
def test_the_halt_flag_is_private(tmp_path: Path) -> None:
    flag = tmp_path / "runs" / "HALT"
    halt(flag, "test", datetime(2024, 1, 2, tzinfo=UTC))
    assert mode(flag) == FILE
    assert mode(flag.parent) == FOLDER
    assert not flag.with_suffix(".tmp").exists()


@pytest.mark.usefixtures("umask")
def test_tradebus_halt_writes_a_private_flag(tmp_path: Path) -> None:
    flag = tmp_path / "ops" / "HALT"
    assert cli.main(["halt", "--flag-file", str(flag), "--reason", "checking modes"]) == 0
    assert (mode(flag), mode(flag.parent)) == (FILE, FOLDER)


def test_a_backtest_writes_private_exports_report_and_journal(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        out = tmp_path / "results" / "sma"
        journal = tmp_path / "journals" / "bt.sqlite"
        args = ["backtest", "strategies.sma_cross:SmaCross", "--out", str(out), "--journal", str(journal),
                "--no-progress"]
        assert cli.main(args) == 0
    finally:
        os.umask(old)
    written = sorted(p.name for p in out.iterdir())
    assert {"orders.csv", "fills.csv", "trades.csv", "equity.csv", "result.json"} <= set(written)
    assert "report.html" in written  # plotly (the report extra) is a dev dependency
    assert {name: mode(out / name) for name in written} == dict.fromkeys(written, FILE)
    assert (mode(out), mode(out.parent)) == (FOLDER, FOLDER)
    assert (mode(journal), mode(journal.parent)) == (FILE, FOLDER)


@pytest.mark.usefixtures("umask")
def test_exports_written_over_readable_files_become_private(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "orders.csv").write_text("old\n", encoding="utf-8")
    os.chmod(out / "orders.csv", 0o644)
    assert cli.main(["backtest", "strategies.sma_cross:SmaCross", "--out", str(out), "--no-progress"]) == 0
    assert mode(out / "orders.csv") == FILE
    assert (out / "orders.csv").read_text(encoding="utf-8") != "old\n"


@pytest.mark.usefixtures("umask", "restore_logging")
def test_the_log_file_and_its_new_folder_are_private(tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "tradebus.log"
    cli.configure_logging(1, log_file=log_file)
    logging.getLogger("tradebus.test").warning("hello")
    for handler in logging.getLogger().handlers:
        handler.flush()
    assert "hello" in log_file.read_text(encoding="utf-8")
    assert (mode(log_file), mode(log_file.parent)) == (FILE, FOLDER)


@pytest.mark.usefixtures("restore_logging")
def test_log_file_is_a_command_line_option(tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "tradebus.log"
    assert cli.main(["-v", "halt", "--flag-file", str(tmp_path / "HALT"), "--status", "--log-file", str(log_file)]) == 0
    assert log_file.exists()
    assert mode(log_file) == FILE
