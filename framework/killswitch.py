"""The kill switch: stop trading now, and stay stopped across restarts until cleared.

The halted state *is* a flag file, so it survives a crash or restart and can be set from outside the
process (``tradebus halt``, or simply creating the file). While halted:

* every new order is denied (``OrderDenied``: "trading halted: <reason>");
* every open order is cancelled (at the halt, and any that appear later, e.g. reconciled after a
  restart, at the next poll);
* the engine keeps running, so fills and cancels of orders already working are still booked.

An attached switch polls the file once per ``poll_every`` of engine-clock time, so a halt written by
another process takes effect within that interval (and at once when set through :meth:`engage`).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from framework.events import TimerFired
from framework.models import OrderRequest

if TYPE_CHECKING:
    from framework.engine import Engine

log = logging.getLogger(__name__)

OWNER = "kill-switch"


def halt(flag_file: Path, reason: str, when: datetime) -> None:
    """Write the flag file (atomically) so every engine watching it halts."""
    flag_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = flag_file.with_suffix(flag_file.suffix + ".tmp")
    tmp.write_text(json.dumps({"reason": reason, "since": when.isoformat()}), encoding="utf-8")
    tmp.replace(flag_file)


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
    """Denies orders while halted and cancels open orders when a halt begins.

    Args:
        flag_file: Where the halted state lives.
        poll_every: How often an attached switch re-reads the flag file (engine-clock time).
    """

    def __init__(self, flag_file: Path, poll_every: timedelta = timedelta(seconds=1)) -> None:
        self.flag_file = flag_file
        self.poll_every = poll_every
        self._engine: Engine | None = None
        self._reason = halt_reason(flag_file)

    @property
    def halted(self) -> bool:
        """Whether trading is halted (as of the last read of the flag file)."""
        return self._reason is not None

    @property
    def reason(self) -> str | None:
        """Why trading is halted, if it is."""
        return self._reason

    def attach(self, engine: Engine) -> None:
        """Add the check to ``engine`` and poll the flag file on its clock."""
        self._engine = engine
        engine.checks.insert(0, self)
        engine.bus.subscribe(TimerFired, self._on_timer, sender=OWNER)
        engine.schedule_timer(OWNER, "poll", engine.clock.now() + self.poll_every, self.poll_every)

    def __call__(self, request: OrderRequest, engine: Engine) -> str | None:
        """Deny every new order while halted."""
        if self._reason is not None:
            return f"trading halted: {self._reason}"
        return None

    def engage(self, reason: str) -> None:
        """Halt now: write the flag file and cancel every open order."""
        engine = self._require_engine()
        halt(self.flag_file, reason, engine.clock.now())
        self._enter_halt(reason)

    def release(self) -> None:
        """Clear the halt (remove the flag file); new orders are allowed again."""
        clear(self.flag_file)
        if self._reason is not None:
            log.warning("kill switch cleared")
        self._reason = None

    def _on_timer(self, event: TimerFired) -> None:
        reason = halt_reason(self.flag_file)
        if reason is None:
            if self._reason is not None:
                log.warning("kill switch cleared (flag file removed)")
            self._reason = None
            return
        if self._reason is None:
            self._enter_halt(reason)
        else:
            self._cancel_open()  # orders that appeared since (e.g. reconciled after a restart)

    def _enter_halt(self, reason: str) -> None:
        self._reason = reason
        log.error("KILL SWITCH: trading halted (%s); cancelling open orders", reason)
        self._cancel_open()

    def _cancel_open(self) -> None:
        engine = self._require_engine()
        for order in engine.orders.open():
            engine.cancel_order(order.client_order_id)  # idempotent: one request per order

    def _require_engine(self) -> Engine:
        if self._engine is None:
            msg = "attach the kill switch to an engine first"
            raise RuntimeError(msg)
        return self._engine
