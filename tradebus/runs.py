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
    """Create and return the folder a run of ``mode`` writes to (:func:`next_run_folder`, then :func:`open_run_folder`).

    Args:
        mode: ``backtest``, ``paper``, ``live`` or ``demo``.
        out: The folder the user chose (``--out``); created if missing, and ``latest`` is not moved.
        root: The folder of all runs.
        now: The run's start (default: now), for its id.
    """
    return open_run_folder(next_run_folder(mode, out, root=root, now=now), latest=out is None)


def next_run_folder(mode: str, out: Path | None = None, *, root: Path = RUNS_ROOT,
                    now: datetime | None = None) -> Path:
    """The folder a run of ``mode`` will write to, without creating it: ``out``, else a new ``root/mode/<run id>``.

    A run names its folder when it starts and creates it when it has something to write, so a run
    that fails before that leaves no empty folder (and ``latest`` keeps naming a run that wrote).
    """
    if out is not None:
        return out
    folder = root / mode / new_run_id(now)
    while folder.exists():  # the same second and the same suffix: draw again
        folder = root / mode / new_run_id(now)
    return folder


def open_run_folder(folder: Path, *, latest: bool) -> Path:
    """Create ``folder`` (mode 0700) and, with ``latest``, make its mode's ``latest`` name it."""
    private_dir(folder)
    if latest:
        point_latest(folder.parent, folder.name)
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

