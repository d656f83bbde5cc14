"""Event-driven waits for tests whose adapter runs real threads against a real server."""

from __future__ import annotations

import time
from collections.abc import Callable

from framework.engine import Engine

DEADLINE = 60.0  # seconds; bounds a stuck adapter, generous for a loaded 2-core machine; a healthy one needs ms


def pump(engine: Engine, until: Callable[[], bool]) -> None:
    """Drain the engine on this thread until ``until()`` holds; fail after :data:`DEADLINE`."""
    deadline = time.monotonic() + DEADLINE
    while not until():
        assert time.monotonic() < deadline, "condition not reached"
        engine.run_pending()
        time.sleep(0.005)  # yield to the adapter's threads between drains
