"""How the ``tradebus`` command line ends on an error it can explain: one line on stderr and an exit code.

This is the one place where the CLI turns exceptions into words (:func:`tradebus.cli.main` asks it);
commands raise the project's typed errors and never catch them to print. A mistake the user can fix
gets one line naming the file, key, line or port and the fix, never a traceback:

===== ==========================================================================================
code  meaning
===== ==========================================================================================
1     the run could not go on: the broker or gateway is unreachable or refused the session
2     usage: a bad argument, setting, parameter, strategy path, or a file the user named
141   stdout was closed early (``tradebus journal | head``): nothing more is printed, no traceback
===== ==========================================================================================

An exception this module does not know (a bug) is left alone, so its traceback still shows.
"""

from __future__ import annotations

import errno
import os
import sys
from dataclasses import dataclass
from typing import IO

from framework.errors import BrokerError
from framework.errors import ConfigError
from framework.errors import DataError
from framework.errors import FrameworkError
from framework.errors import StrategyLoadError
from framework.redaction import redact
from tradebus.interrupts import EXIT_FAILED

EXIT_USAGE = 2
"""Bad arguments, settings, parameters or files: fix the command line or the file and run again."""

EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a tool whose reader went away
"""The reader of stdout went away (``| head``); what a shell reports for a process SIGPIPE ended."""


@dataclass(frozen=True)
class Failure:
    """What the command line prints and returns for an error.

    Attributes:
        line: The one line for stderr (secrets redacted).
        code: The process exit code.
    """

    line: str
    code: int


def failure_of(error: BaseException) -> Failure | None:
    """The line and exit code for ``error``, or None when it is not a user's mistake (a bug keeps its traceback).

    Usage errors (:class:`~framework.errors.ConfigError`, :class:`~framework.errors.DataError`,
    :class:`~framework.errors.StrategyLoadError`, an ``OSError`` naming a file, a port in use) exit 2; a broker
    that cannot be reached or used (:class:`~framework.errors.BrokerError`) exits 1.
    """
    if isinstance(error, ConfigError | DataError | StrategyLoadError):  # before BrokerError: a refusal may be both
        return Failure(_one_line(str(error)), EXIT_USAGE)
    if isinstance(error, BrokerError):
        return Failure(_one_line(str(error)), EXIT_FAILED)
    if isinstance(error, FrameworkError):
        return Failure(_one_line(str(error)), EXIT_USAGE)
    if isinstance(error, OSError) and error.errno == errno.EADDRINUSE:  # tradebus gateway-sim --port N
        return Failure(_one_line(f"{error.strerror or error}; pick another --port, or 0 for a free one"), EXIT_USAGE)
    if isinstance(error, OSError) and error.filename is not None:  # a file the user named: missing, a folder ...
        reason = error.strerror or type(error).__name__
        return Failure(_one_line(f"cannot use {error.filename}: {reason}"), EXIT_USAGE)
    return None


def output_closed(stream: IO[str]) -> None:
    """After ``stream`` raised ``BrokenPipeError``: if it is stdout, let every later write go nowhere, quietly.

    For output a run keeps producing after its reader left (the live view, the closing summary): the
    run, its journal and its exports carry on as if the lines had been read.
    """
    if stream is sys.stdout:
        silence_stdout()


def silence_stdout() -> None:
    """Point stdout at the null device after its reader went away, so the exit flush raises nothing.

    Python's own recipe for ``BrokenPipeError``: without it, the interpreter's final flush of the
    buffered output fails again and prints ``Exception ignored ... BrokenPipeError``.
    """
    try:
        fileno = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # replaced by a test's capture: nothing to redirect
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fileno)
    finally:
        os.close(devnull)


def _one_line(text: str) -> str:
    # messages quote brokers and libraries, whose text may span lines
    return " ".join(redact(text).split())
