"""Ctrl-C during a run, and the exit codes of the commands that run strategies.

While a run goes, the first Ctrl-C (SIGINT) does not raise ``KeyboardInterrupt`` in the middle of
whatever the dispatcher is doing (half an order event applied, a journal write cut short): it asks
the engine to stop after the current event (:meth:`~framework.engine.Engine.interrupt`), and the
run ends the usual way, with its summary and exports, marked interrupted. A second Ctrl-C raises
``KeyboardInterrupt`` as usual, for a stop that hangs; the CLI then prints one line and exits 130.

Exit codes of ``tradebus backtest``, ``paper``, ``live`` and ``demo``:

===== ==========================================================================================
code  meaning
===== ==========================================================================================
0     the run ended as planned (errors tolerated under the ``continue`` policy do not count)
1     a strategy failed and was stopped (or, in a backtest, the run stopped on an error), or the
      broker could not be used (one line on stderr says why; see :mod:`tradebus.failures`)
2     bad input: settings, arguments, parameters, strategy path, files (one line on stderr names it)
130   interrupted by Ctrl-C (also when a strategy had failed: the summary says so)
===== ==========================================================================================
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from framework.supervision import RunOutcome

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a process Ctrl-C ended


def exit_code(outcome: RunOutcome) -> int:
    """The process exit code for a run that ended with ``outcome`` (see the table above)."""
    if outcome.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAILED if outcome.failed else EXIT_OK


@contextmanager
def interrupt_stops(stop: Callable[[], None]) -> Iterator[None]:
    """Inside the block, the first SIGINT calls ``stop`` instead of raising ``KeyboardInterrupt``.

    ``stop`` runs in a signal handler on the main thread: it must only set flags and wake threads
    (:meth:`~framework.engine.Engine.interrupt` does). The second SIGINT raises as usual. Nothing
    is installed off the main thread, or when someone else already handles SIGINT.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is not signal.default_int_handler:
        yield
        return

    def first_interrupt(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGINT, previous)  # the next Ctrl-C raises KeyboardInterrupt
        stop()

    signal.signal(signal.SIGINT, first_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
