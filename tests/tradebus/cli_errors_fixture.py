"""Helpers shared by the CLI error tests: a clean environment, one-line stderr, small files, a dead port."""

from __future__ import annotations

import csv
import os
import socket
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import pytest

SMA = "strategies.sma_cross:SmaCross"


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No TRADEBUS_* variables, and every default path (runs/, backtest-results/) inside ``tmp_path``."""
    for key in [k for k in os.environ if k.startswith("TRADEBUS_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def one_line_error(capsys: pytest.CaptureFixture[str], command: str) -> str:
    """The single stderr line of a failed command (asserting there is exactly one, and no traceback)."""
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith(f"tradebus {command}: error: "), lines[0]
    return lines[0]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def small_bars(path: Path, symbols: tuple[str, ...] = ("AAPL", "MSFT"), count: int = 30) -> Path:
    """A valid bar file of ``count`` one-minute bars per symbol."""
    start = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "symbol", "open", "high", "low", "close", "volume"])
        for i in range(count):
            ts = (start + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
            for symbol in symbols:
                price = 100 + i % 7
                writer.writerow([ts, symbol, price, price + 1, price - 1, price + 0.5, 1000])
    return path


def dead_port() -> int:
    """A loopback port nothing listens on: bound, then closed."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
