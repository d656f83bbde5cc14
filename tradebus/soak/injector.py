"""When things go wrong: a thread that injects seeded random faults one at a time and times the recoveries.

The schedule is drawn from the soak's seed: a kind chosen uniformly from the enabled ones, then an
exponentially distributed quiet gap (mean ``fault_gap`` simulated seconds). Each fault is injected,
healed when its time is up, and then the injector waits until the broker is connected again; the
time from healing to connected is the fault's recovery time. A fault the broker does not recover
from within the bound is recorded as unrecovered (an invariant failure). No fault starts after the
end of the fault window, one still active then is healed at once, and
:func:`~tradebus.soak.faults.restore` ends whatever is left (the penalty box included).

:meth:`FaultInjector.quiet_for` tells the other watchers how long nothing has been wrong, so they
judge memory, descriptors and unresolved orders only on quiet ground.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass

from framework.clock import Clock
from tradebus.soak.faults import Fault
from tradebus.soak.faults import FaultContext
from tradebus.soak.faults import FaultKind
from tradebus.soak.faults import restore

log = logging.getLogger(__name__)

POLL = 0.05  # seconds between two looks at the broker's state while waiting for a recovery


@dataclass
class FaultRecord:
    """One injected fault and how it went.

    Attributes:
        kind: The fault kind's name.
        rid: The reliability item.
        detail: What was done.
        injected: Monotonic wall time of the injection.
        healed: When it was healed (or ended by itself).
        recovered: When the broker was connected again (None: it was not, within the bound).
        error: Why the injection failed, if it did (the gateway did not answer the control call).
        interrupted: The soak ended while the broker was still recovering.
        fired: Whether an armed one-shot rule fired before it was healed (None: the fault arms none).
    """

    kind: str
    rid: str
    detail: str = ""
    injected: float = 0.0
    healed: float | None = None
    recovered: float | None = None
    error: str | None = None
    interrupted: bool = False
    fired: bool | None = None

    @property
    def recovery_seconds(self) -> float | None:
        """Wall seconds from healing to connected."""
        if self.recovered is None or self.healed is None:
            return None
        return max(0.0, self.recovered - self.healed)


class FaultInjector:
    """Injects faults on a seeded schedule until :meth:`stop` or the end of the fault window.

    Args:
        ctx: What faults work with.
        kinds: The enabled fault kinds.
        clock: The wall clock (monotonic time).
        connected: Whether the broker is connected now (read from this thread).
        until: Monotonic time after which no fault starts.
        recovery_bound: Wall seconds a recovery may take before it counts as failed.
    """

    def __init__(self, ctx: FaultContext, kinds: list[FaultKind], *, clock: Clock, connected: Callable[[], bool],
                 until: float, recovery_bound: float) -> None:
        self._ctx = ctx
        self._kinds = kinds
        self._clock = clock
        self._connected = connected
        self._until = until
        self._bound = recovery_bound
        self._rng = random.Random(f"faults-{ctx.config.seed}")
        self._stop = ctx.stop
        self._thread = threading.Thread(target=self._run, name="soak-faults", daemon=True)
        self._lock = threading.Lock()
        self._quiet_since: float | None = clock.monotonic()
        self.records: list[FaultRecord] = []
        self.restore_error: str | None = None

    def start(self) -> None:
        """Start the injecting thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop injecting, heal what is active, and wait for the thread."""
        self._stop.set()
        self._thread.join()

    def quiet_for(self) -> float:
        """Seconds since the last fault recovered (0 while one is active or the broker is not connected)."""
        with self._lock:
            since = self._quiet_since
        if since is None or not self._connected():
            return 0.0
        return self._clock.monotonic() - since

    def _set_quiet(self, quiet: bool) -> None:
        with self._lock:
            self._quiet_since = self._clock.monotonic() if quiet else None

    def _gap(self) -> float:
        return self._ctx.config.sim(self._rng.expovariate(1.0 / self._ctx.config.fault_gap), 0.5)

    def _run(self) -> None:
        try:
            while True:
                gap = self._gap()
                left = self._until - self._clock.monotonic()
                if left <= gap or self._stop.wait(gap):
                    break
                self._one(self._rng.choice(self._kinds))
        finally:
            try:
                restore(self._ctx)
            except OSError as e:  # the gateway is gone: the end-of-run checks will say what that broke
                self.restore_error = str(e)
                log.error("could not restore the gateway after the faults: %s", e)
            self._set_quiet(True)

    def _one(self, kind: FaultKind) -> None:
        record = FaultRecord(kind.name, kind.rid, injected=self._clock.monotonic())
        self.records.append(record)
        self._set_quiet(False)
        fault = Fault()
        try:
            fault = kind.inject(self._ctx, self._rng)
            record.detail = fault.detail
            log.info("fault %d: %s (%s) %s", len(self.records), kind.name, kind.rid, fault.detail)
            # a fault ends by the end of the fault window at the latest: the wind-down has none
            self._stop.wait(max(0.0, min(fault.lasts, self._until - self._clock.monotonic())))
            if fault.armed:
                record.fired = sum(self._ctx.gateway.control("state")["armed"].values()) == 0
            if fault.heal is not None:
                fault.heal()
        except OSError as e:
            record.error = str(e)
            log.error("fault %s could not be injected or healed: %s", kind.name, e)
        record.healed = self._clock.monotonic()
        deadline = record.healed + self._bound
        while not self._connected():
            if self._stop.wait(POLL):
                record.interrupted = True
                return
            if self._clock.monotonic() > deadline:
                log.error("no recovery from %s within %.0fs", kind.name, self._bound)
                return  # stays noisy: nothing after this counts as quiet until a later fault recovers
        record.recovered = self._clock.monotonic()
        self._set_quiet(True)
