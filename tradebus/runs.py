"""Where a run writes: ``runs/<mode>/<run id>/``, with ``runs/<mode>/latest`` naming the newest.

Every mode (``backtest``, ``paper``, ``live``, ``demo``) gets a new folder per run, named by a run id
that sorts by time and reads as one: the UTC start time and a short random suffix
(``20261207T091530Z-3f9a``). ``runs/<mode>/latest`` is a relative symbolic link to the newest; where
the file system refuses symbolic links it is a text file holding the run id. ``--out DIR`` (or a
settings ``output``) wins: the run writes there, and ``latest`` is left alone.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from datetime import UTC
from datetime import datetime
from pathlib import Path

from framework.private_files import private_dir

RUNS_ROOT = Path("runs")
"""The folder, relative to the working directory, that holds every run."""

LATEST = "latest"
"""The name of the link (or text file) naming a mode's newest run."""


def new_run_id(now: datetime | None = None) -> str:
    """A run id: UTC time to the second and four random hex digits (``20261207T091530Z-3f9a``)."""
    stamp = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{stamp:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


def run_folder(mode: str, out: Path | None = None, *, root: Path = RUNS_ROOT, now: datetime | None = None) -> Path:
    """Create and return the folder a run of ``mode`` writes to.

    Args:
        mode: ``backtest``, ``paper``, ``live`` or ``demo``.
        out: The folder the user chose (``--out``); created if missing, and ``latest`` is not moved.
        root: The folder of all runs.
        now: The run's start (default: now), for its id.
    """
    if out is not None:
        return private_dir(out)
    mode_dir = root / mode
    folder = mode_dir / new_run_id(now)
    while folder.exists():  # the same second and the same suffix: draw again
        folder = mode_dir / new_run_id(now)
    private_dir(folder)
    point_latest(mode_dir, folder.name)
    return folder


def point_latest(mode_dir: Path, run_id: str) -> None:
    """Make ``mode_dir/latest`` name ``run_id``: a relative symbolic link, else a text file.

    The link is replaced atomically, so a reader never finds it missing.
    """
    latest = mode_dir / LATEST
    staged = mode_dir / f".{LATEST}-{secrets.token_hex(4)}"
    try:
        staged.symlink_to(run_id, target_is_directory=True)
    except OSError:  # no symbolic links here (some Windows set-ups, some mounted file systems)
        staged.write_text(run_id + "\n", encoding="utf-8")
    try:
        os.replace(staged, latest)
    except OSError:  # ``latest`` is a real folder (an old layout): leave it, and drop the staged name
        with contextlib.suppress(OSError):
            staged.unlink()


def latest_run(mode: str, *, root: Path = RUNS_ROOT) -> Path | None:
    """The newest run folder of ``mode``, as ``latest`` names it; None if there is none."""
    latest = root / mode / LATEST
    if latest.is_symlink():
        target = latest.parent / os.readlink(latest)
    elif latest.is_file():
        target = latest.parent / latest.read_text(encoding="utf-8").strip()
    else:
        return None
    return target if target.is_dir() else None


def discard_if_empty(folder: Path) -> None:
    """Remove a run folder that holds nothing (the run failed to start), and point ``latest`` back.

    ``latest`` then names the newest remaining run of the mode (run ids sort by time), or is removed.
    """
    try:
        folder.rmdir()  # only an empty folder
    except OSError:
        return
    mode_dir = folder.parent
    if latest_run(mode_dir.name, root=mode_dir.parent) is not None:
        return  # ``latest`` names another run (or is a folder of its own)
    runs = sorted(p.name for p in mode_dir.iterdir() if p.is_dir() and not p.is_symlink() and p.name != LATEST)
    if runs:
        point_latest(mode_dir, runs[-1])
    else:
        with contextlib.suppress(OSError):
            (mode_dir / LATEST).unlink()
