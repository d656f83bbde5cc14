"""The ``tradebus`` command line.

Sub-commands are plug-ins found through the ``tradebus.commands`` entry-point group, so this module
(part of ``framework``) never imports a broker; installing a package that declares a command adds it.
An entry point names an object satisfying :class:`Command`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import NoReturn
from typing import Protocol

from framework.private_files import private_file
from framework.redaction import RedactingFormatter
from framework.redaction import RedactSecrets
from tradebus.failures import EXIT_BROKEN_PIPE
from tradebus.failures import EXIT_USAGE
from tradebus.failures import failure_of
from tradebus.failures import silence_stdout
from tradebus.interrupts import EXIT_INTERRUPTED

COMMAND_GROUP = "tradebus.commands"

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

QUIET_LOGGERS: dict[str, int] = {
    "matplotlib": 99,  # font-manager and backend chatter while the report is drawn: never useful
    "PIL": 99,
    "urllib3": 2,  # one line per HTTP request and connection: only with -vv
    "aiohttp.access": 2,  # the in-process simulated gateway's access log (tradebus demo)
    "asyncio": 2,
}
"""Third-party loggers held at WARNING below the given ``-v`` count (99: always)."""

LOG_FILE_HELP = "also append log lines to this file (created 0600; secrets redacted, account ids masked)"


class Command(Protocol):
    """A ``tradebus`` sub-command contributed by a package.

    Attributes:
        name: The word typed after ``tradebus``.
        help: One line shown in ``tradebus --help``.
    """

    name: str
    help: str

    def configure(self, parser: argparse.ArgumentParser) -> None:
        """Add this command's arguments to its sub-parser."""
        ...

    def run(self, args: argparse.Namespace) -> int:
        """Execute the command and return the process exit code."""
        ...


def discover_commands() -> dict[str, Command]:
    """Load every command registered under the ``tradebus.commands`` entry-point group.

    A plug-in that fails to import is reported on stderr and left out; the others still work.
    """
    found: dict[str, Command] = {}
    for ep in entry_points(group=COMMAND_GROUP):
        try:
            command: Command = ep.load()
        except ImportError as e:
            print(f"tradebus: command {ep.name!r} ({ep.value}) is unavailable: {e}", file=sys.stderr)  # noqa: T201
            continue
        found[command.name] = command
    return dict(sorted(found.items()))


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line naming the fix, with exit code 2."""

    def error(self, message: str) -> NoReturn:
        """Print ``<prog>: error: <message> (see <prog> --help)`` on stderr and exit 2."""
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser(commands: dict[str, Command]) -> argparse.ArgumentParser:
    """Build the top-level parser with one sub-parser per discovered command.

    ``-v`` is accepted before and after the command name (``tradebus -v backtest ...`` and
    ``tradebus backtest -v ...``); the counts add up. So is ``--log-file`` (after the command wins).
    """
    parser = OneLineParser(
        prog="tradebus",
        description="Event-driven trading: one strategy for backtest, paper and live trading.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    parser.add_argument("--log-file", type=Path, help=LOG_FILE_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, command in commands.items():
        # "resolve": a command that defines its own -v keeps it
        command_parser = sub.add_parser(name, help=command.help, description=command.help, conflict_handler="resolve")
        command_parser.add_argument(
            "-v", "--verbose", dest="command_verbose", action="count", default=0, help="more log output (-vv for debug)"
        )
        command_parser.add_argument("--log-file", dest="command_log_file", type=Path, help=LOG_FILE_HELP)
        command.configure(command_parser)
    return parser


def verbosity_of(args: argparse.Namespace) -> int:
    """The ``-v`` count given before and after the command name."""
    return int(args.verbose) + int(getattr(args, "command_verbose", 0))


def log_file_of(args: argparse.Namespace) -> Path | None:
    """The ``--log-file`` given after the command name, else the one given before it."""
    return getattr(args, "command_log_file", None) or getattr(args, "log_file", None)


def configure_logging(verbosity: int, log_file: Path | None = None) -> None:
    """Set up readable logging: warnings by default, info with ``-v``, debug with ``-vv``.

    Lines go to stderr and, with ``log_file``, are appended to that file too (created 0600, its
    missing folders 0700). Noisy third-party loggers stay at WARNING (see :data:`QUIET_LOGGERS`).
    Every handler cleans every record with :class:`~framework.redaction.RedactSecrets` (message,
    traceback and stack) and formats with :class:`~framework.redaction.RedactingFormatter`, so
    session cookies, tokens and passwords are never written and account ids appear masked.
    """
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_file is not None:
        handlers.append(logging.FileHandler(private_file(log_file), mode="a", encoding="utf-8"))
    for handler in handlers:
        handler.addFilter(RedactSecrets())
        handler.setFormatter(RedactingFormatter(LOG_FORMAT))
    logging.basicConfig(level=level, handlers=handlers, force=True)
    for name, shown_from in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(logging.WARNING if verbosity < shown_from else logging.NOTSET)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tradebus`` console script.

    An error the user can fix ends the command with one line on stderr and exit code 2 (usage) or 1
    (the broker could not be used); see :mod:`tradebus.failures`. Output cut short by its reader
    (``tradebus journal | head``) ends quietly with 141.
    """
    commands = discover_commands()
    parser = build_parser(commands)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        configure_logging(verbosity_of(args), log_file_of(args))
        code = commands[args.command].run(args)
        sys.stdout.flush()  # a reader that went away fails here, inside the handlers, not at exit
    except BrokenPipeError:
        silence_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:  # before a run took over Ctrl-C, or a second Ctrl-C while it stopped
        print(f"tradebus {args.command}: interrupted", file=sys.stderr)  # noqa: T201
        return EXIT_INTERRUPTED
    except Exception as e:
        failure = failure_of(e)
        if failure is None:
            raise  # a bug, not a mistake: its traceback is the report
        print(f"tradebus {args.command}: error: {failure.line}", file=sys.stderr)  # noqa: T201
        return failure.code
    return code


if __name__ == "__main__":
    sys.exit(main())
