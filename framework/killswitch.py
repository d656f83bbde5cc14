"""The kill switch: stop trading now, whatever the dispatcher or a broker is doing, and stay stopped.

The halted state *is* a flag file, so it survives a crash or restart and can be set from outside the
process (``tradebus halt``, or simply creating the file). Engaging it, through :meth:`KillSwitch.engage`
or by the flag file appearing, halts the engine's order gateway
(:meth:`~framework.order_gateway.OrderGateway.halt`) on the thread that noticed:

* every new order is denied from that instant (``OrderDenied``: "trading halted: <reason>");
* placements the broker queued but had not sent are dropped and reported ``OrderDenied``
  ("never sent"), so the journal records them as never sent;
* the broker is told to cancel every open order of the account, known to this run or not;
* the engine keeps running, so fills and cancels of orders already working are still booked, and
  every open order that appears later (an answer that was in flight, an order recovered after a
  restart) is cancelled at the next poll.

A broker adapter's ``HaltRequested`` (say, the gateway's session lists an account that is not this
run's) engages the switch as well: the flag file records the broker's reason.

Two watchers read the flag file. :meth:`KillSwitch.start` runs a thread that polls it every
``watch_every`` wall-clock seconds, so a halt written by another process takes effect within that
interval even while the dispatcher is busy (live and paper runs). A timer on the engine clock polls
it every ``poll_every`` too, and re-cancels open orders while halted; it is what a backtest or a test
(which has no watcher thread) relies on.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import datetime
from datetime import timedelta
from pathlib import Path

from framework.bus import EventBus
from framework.clock import Clock
from framework.errors import ConfigError
from framework.events import HaltRequested
from framework.events import TimerFired
from framework.order_gateway import OrderGateway
from framework.orders import OrderView
from framework.private_files import write_private_text
from framework.timers import Timers

log = logging.getLogger(__name__)

OWNER = "kill-switch"


def halt(flag_file: Path, reason: str, when: datetime) -> None:
    """Write the flag file (atomically) so every engine watching it halts.

    Raises:
        ConfigError: If the flag file cannot be written there (key ``halt_file``; names the file).
    """
    tmp = flag_file.with_suffix(flag_file.suffix + ".tmp")
    try:
        write_private_text(tmp, json.dumps({"reason": reason, "since": when.isoformat()}))  # its folder too
        tmp.replace(flag_file)
    except OSError as e:
        msg = f"cannot write the flag file {flag_file} ({e.strerror or e}); choose a writable place"
        raise ConfigError(msg, key="halt_file") from e


def clear(flag_file: Path) -> bool:
    """Remove the flag file; return whether it existed."""
    try:
        flag_file.unlink()
    except FileNotFoundError:
        return False
    return True


def halt_reason(flag_file: Path) -> str | None:
    """The reason recorded in the flag file, or None when not halted."""
    try:
        text = flag_file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return str(json.loads(text).get("reason") or "halted")
    except (ValueError, AttributeError):
        return text.strip() or "halted"  # a hand-made flag file may hold plain text or nothing


class KillSwitch:
    """Halts an engine's order gateway when the flag file says so.

    Args:
        flag_file: Where the halted state lives.
        poll_every: How often the engine-clock timer re-reads the flag file.
        watch_every: How often the watcher thread (:meth:`start`) re-reads it, in wall seconds.
    """

    def __init__(self, flag_file: Path, poll_every: timedelta = timedelta(seconds=1),
                 watch_every: float = 0.1) -> None:
        self.flag_file = flag_file
        self.poll_every = poll_every
        self.watch_every = watch_every
        self._gateway: OrderGateway | None = None
        self._orders: OrderView | None = None
        self._clock: Clock | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.engaged = threading.Event()  # set while halted, for whoever must wait for it
        if halt_reason(flag_file) is not None:
            self.engaged.set()  # halted from the start: the first read of the flag file says so

    @property
    def halted(self) -> bool:
        """Whether trading is halted (as this switch last saw the flag file)."""
        return self.engaged.is_set()

    @property
    def reason(self) -> str | None:
        """Why trading is halted, if it is."""
        return self._gateway.halt_reason if self._gateway is not None else halt_reason(self.flag_file)

    def bind(self, gateway: OrderGateway, orders: OrderView, timers: Timers, bus: EventBus, clock: Clock) -> None:
        """Take the parts the switch needs; halt at once if the flag file is already there."""
        self._gateway, self._orders, self._clock = gateway, orders, clock
        bus.subscribe(TimerFired, self._on_timer, sender=OWNER)
        bus.subscribe(HaltRequested, self._on_halt_requested)
        timers.schedule(OWNER, "poll", clock.now() + self.poll_every, self.poll_every)
        self.check()

    def start(self) -> None:
        """Watch the flag file on a thread of its own (live and paper runs)."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, name="tradebus-kill-switch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the watcher thread; idempotent."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def engage(self, reason: str) -> None:
        """Halt now: write the flag file and halt the gateway (any thread)."""
        halt(self.flag_file, reason, self._require_clock().now())
        self._enter(reason)

    def release(self) -> None:
        """Clear the halt (remove the flag file); new orders are allowed again."""
        clear(self.flag_file)
        self._leave()

    def check(self) -> None:
        """Read the flag file once and follow it (halt or resume); any thread."""
        reason = halt_reason(self.flag_file)
        if reason is None:
            self._leave()
        else:
            self._enter(reason)

    def _watch(self) -> None:
        while not self._stop.wait(self.watch_every):
            try:
                self.check()
            except OSError as e:  # an unreadable flag file must not end the watcher
                log.error("kill switch: cannot read %s: %s", self.flag_file, e)

    def _on_halt_requested(self, event: HaltRequested) -> None:
        if not self.halted:
            self.engage(f"{event.source}: {event.reason}")

    def _on_timer(self, event: TimerFired) -> None:
        was_halted = self.halted
        self.check()  # a halt that begins here cancels everything itself
        if was_halted and self.halted:
            self._cancel_open()  # orders that appeared since (an answer in flight, a recovered order)

    def _enter(self, reason: str) -> None:
        with self._lock:
            self.engaged.set()
            self._require_gateway().halt(reason)

    def _leave(self) -> None:
        with self._lock:
            if self.engaged.is_set():
                self.engaged.clear()
                self._require_gateway().resume()

    def _cancel_open(self) -> None:
        gateway = self._require_gateway()
        assert self._orders is not None
        for order in self._orders.open():
            gateway.cancel(order.client_order_id)

    def _require_gateway(self) -> OrderGateway:
        if self._gateway is None:
            msg = "attach the kill switch to an engine first (Engine.add_kill_switch)"
            raise RuntimeError(msg)
        return self._gateway

    def _require_clock(self) -> Clock:
        if self._clock is None:
            msg = "attach the kill switch to an engine first (Engine.add_kill_switch)"
            raise RuntimeError(msg)
        return self._clock
