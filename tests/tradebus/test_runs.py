"""The run layout: runs/<mode>/<run id>/ with runs/<mode>/latest naming the newest; --out wins."""

from __future__ import annotations

import os
import re
from datetime import UTC
from datetime import datetime
from pathlib import Path

import pytest

from tradebus.runs import LATEST
from tradebus.runs import latest_run
from tradebus.runs import new_run_id
from tradebus.runs import next_run_folder
from tradebus.runs import point_latest
from tradebus.runs import run_folder

T0 = datetime(2026, 12, 7, 9, 15, 30, tzinfo=UTC)
T1 = datetime(2026, 12, 7, 9, 15, 31, tzinfo=UTC)


def test_a_run_id_is_the_utc_second_and_a_short_suffix_and_sorts_by_time() -> None:
    first, second = new_run_id(T0), new_run_id(T1)
    assert re.fullmatch(r"20261207T091530Z-[0-9a-f]{4}", first)
    assert sorted([second, first]) == [first, second]


def test_each_run_gets_a_new_folder_and_latest_names_the_newest(tmp_path: Path) -> None:
    first = run_folder("paper", root=tmp_path, now=T0)
    second = run_folder("paper", root=tmp_path, now=T1)
    assert first.parent == second.parent == tmp_path / "paper"
    assert first != second
    assert first.is_dir()
    assert second.is_dir()
    latest = tmp_path / "paper" / LATEST
    assert latest.is_symlink()
    assert os.readlink(latest) == second.name  # relative: the runs folder can be moved
    assert latest_run("paper", root=tmp_path) == second
    assert latest_run("live", root=tmp_path) is None


def test_out_wins_and_leaves_latest_alone(tmp_path: Path) -> None:
    newest = run_folder("backtest", root=tmp_path / "runs", now=T0)
    chosen = run_folder("backtest", tmp_path / "mine", root=tmp_path / "runs")
    assert chosen == tmp_path / "mine"
    assert chosen.is_dir()
    assert latest_run("backtest", root=tmp_path / "runs") == newest


def test_latest_is_a_text_file_where_symbolic_links_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: Path, target: str, target_is_directory: bool = False) -> None:
        raise OSError("symbolic links are not supported here")

    monkeypatch.setattr(Path, "symlink_to", refuse)
    folder = run_folder("demo", root=tmp_path, now=T0)
    latest = tmp_path / "demo" / LATEST
    assert latest.is_file()
    assert not latest.is_symlink()
    assert latest.read_text(encoding="utf-8").strip() == folder.name
    assert latest_run("demo", root=tmp_path) == folder


def test_point_latest_replaces_the_link_and_leaves_no_staged_names(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    point_latest(tmp_path, "a")
    point_latest(tmp_path, "b")
    assert os.readlink(tmp_path / LATEST) == "b"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", LATEST]


def test_a_run_names_its_folder_first_and_creates_it_only_when_it_writes(tmp_path: Path) -> None:
    kept = run_folder("paper", root=tmp_path, now=T0)
    planned = next_run_folder("paper", root=tmp_path, now=T1)
    assert planned.parent == tmp_path / "paper"
    assert not planned.exists()  # a run that fails now leaves nothing behind
    assert latest_run("paper", root=tmp_path) == kept
    assert next_run_folder("paper", tmp_path / "mine", root=tmp_path) == tmp_path / "mine"
