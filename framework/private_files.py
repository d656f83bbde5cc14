"""Files and folders only their owner may read: the journal, the halt flag, exports, reports and logs.

They tell what an account holds and trades (reliability rule: logs and run data live in a 0700
folder), so files are written with mode 0600 and the folders created for them with 0700, whatever the
process umask: modes are set explicitly after creation, and a file written again is tightened to 0600
even if an earlier version left it readable. A folder that already exists is left as it is: it may
be the working directory or a home folder, which is not the run's to change.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO
from typing import Any

FILE_MODE = 0o600
"""Mode of every file the application writes."""

DIR_MODE = 0o700
"""Mode of every folder the application creates."""


def private_dir(path: Path) -> Path:
    """Create ``path`` and its missing parents with mode 0700 (existing folders are left alone)."""
    missing: list[Path] = []
    current = path
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:  # created meanwhile by someone else: not ours to change
            continue
        os.chmod(folder, DIR_MODE)  # mkdir's mode is filtered by the umask
    return path


def private_file(path: Path) -> Path:
    """Make sure ``path`` exists with mode 0600 (an empty file if missing), its folder created private.

    For files another library opens itself (SQLite): the library then keeps the mode.
    """
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return path


def tighten(path: Path) -> None:
    """Set an existing file's mode to 0600 (nothing if it does not exist)."""
    try:
        os.chmod(path, FILE_MODE)
    except FileNotFoundError:
        return


def open_private(path: Path, mode: str = "w", **kwargs: Any) -> IO[Any]:
    """Open ``path`` for writing (``"w"``, ``"a"``, with ``"b"`` for bytes) as a 0600 file.

    Args:
        path: The file; its missing folders are created 0700.
        mode: ``"w"`` truncates, ``"a"`` appends; add ``"b"`` for a binary file.
        **kwargs: Passed to :func:`open` (``encoding``, ``newline``).
    """
    if mode.replace("b", "") not in {"w", "a"}:
        msg = f"open_private writes only ('w' or 'a'), received mode {mode!r}"
        raise ValueError(msg)
    private_dir(path.parent)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if "a" in mode else os.O_TRUNC)
    fd = os.open(path, flags, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # the umask filtered os.open's mode; an existing file kept its own
        return open(fd, mode, **kwargs)  # the caller closes it
    except BaseException:
        os.close(fd)
        raise


def write_private_text(path: Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` as a 0600 file; returns ``path``."""
    with open_private(path, "w", encoding=encoding) as f:
        f.write(text)
    return path


def write_private_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` as a 0600 file; returns ``path``."""
    with open_private(path, "wb") as f:
        f.write(data)
    return path
