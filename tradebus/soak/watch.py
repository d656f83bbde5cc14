"""Checks while the soak runs: the journal against the ledger every so often, and a progress line.

A thread of its own reads the gateway's ledger and the journal (SQLite, safe from any thread) every
``interval`` seconds, but only when nothing has been wrong for a while (it waits for such a moment):
during a fault executions may legitimately be waiting for reconciliation. It also prints one progress
line per interval.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from framework.clock import Clock
from tradebus.soak.books import RunningCheck
from tradebus.soak.gateway import SoakGateway

log = logging.getLogger(__name__)

POLL = 1.0  # seconds between two looks at the clock and the quiet


class Watcher:
    """Runs :class:`~tradebus.soak.books.RunningCheck` and prints progress on a thread of its own.

    Args:
        clock: The wall clock.
        gateway: The gateway (its ledger).
        journal: The journal file.
        check: The running execution check.
        interval: Seconds between looks.
        quiet_for: Seconds since the last fault recovered.
        quiet_min: How quiet it must be for a look at the books.
        progress: Returns the progress line; None prints nothing.
        out: Where progress lines go.
        exclusive: Held during a look (its journal and ledger reads open descriptors the resource
            sampler must not count).
    """

    def __init__(self, clock: Clock, gateway: SoakGateway, journal: Path, check: RunningCheck, *, interval: float,
                 quiet_for: Callable[[], float], quiet_min: float, progress: Callable[[], str] | None,
                 out: TextIO | None, exclusive: threading.Lock) -> None:
        self._clock = clock
        self._gateway = gateway
        self._journal = journal
        self.check = check
        self._interval = interval
        self._quiet_for = quiet_for
        self._quiet_min = quiet_min
        self._progress = progress
        self._out = out
        self._exclusive = exclusive
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-watch", daemon=True)
        self.skipped = 0  # looks skipped: not quiet, or the gateway did not answer

    def start(self) -> None:
        """Start watching."""
        self._thread.start()

    def stop(self) -> None:
        """Stop watching and wait for the thread."""
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        started = self._clock.monotonic()
        looked = printed = started
        while not self._stop.wait(POLL):
            now = self._clock.monotonic()
            if now - looked >= self._interval and self._quiet_for() >= self._quiet_min:
                looked = now  # looks wait for quiet ground; one per interval at most
                self.look()
            if now - printed >= self._interval:
                printed = now
                if now - looked >= self._interval:
                    self.skipped += 1  # a whole interval without quiet ground
                if self._progress is not None and self._out is not None:
                    print(self._progress(), file=self._out, flush=True)

    def look(self) -> None:
        """Compare the executions of the gateway's ledger with the journal."""
        try:
            with self._exclusive:
                self.check.look(self._journal, self._gateway.ledger, self._clock.now())
        except OSError as e:
            self.skipped += 1
            log.warning("running check skipped: the gateway did not answer (%s)", e)
