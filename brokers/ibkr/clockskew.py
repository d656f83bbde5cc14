"""Clock skew between the gateway and this machine, read from the websocket heartbeats.

The gateway stamps its ``system`` heartbeat (every ~10 s) with its time in epoch milliseconds
(``{"topic": "system", "hb": 1594677336001}``, IBKR's documented form). :class:`ClockSkewMonitor`
compares each stamp with this machine's wall clock at the moment the frame was read: the
difference is the skew plus the frame's transit time, which only ever makes the gateway look
*behind*. So the estimate is the largest difference among the heartbeats of the last minute (the one
that travelled fastest), and nothing is judged before that many have arrived: late frames cannot
raise the alarm unless every one of them was late by more than the threshold (a stream thread a
minute behind has bigger problems, which the stall watchdog reports).

The alarm is a typed event, :class:`~framework.events.ClockSkewDetected`, plus a WARNING line: when
the estimate first exceeds the threshold, and again whenever it moves by more than the threshold
(a clock was stepped). Back within the threshold, one INFO line says so. The adapter's own timing
never depends on this: every timeout and schedule runs on the monotonic clock.

Pure apart from logging: the caller passes the stamp and the local time.
"""

from __future__ import annotations

import logging
from collections import deque
from datetime import datetime

from framework.events import ClockSkewDetected

log = logging.getLogger(__name__)

SAMPLES = 6  # heartbeats judged together (a minute of them)
SOURCE = "websocket heartbeat"


class ClockSkewMonitor:
    """Estimates the gateway's clock skew from heartbeat stamps and raises the alarm.

    Args:
        broker: The broker's name, for the event.
        threshold: Seconds of skew tolerated; None turns the check off.
        samples: Heartbeats judged together.

    Attributes:
        skew: The latest estimate in seconds (gateway ahead of this machine: positive), once
            ``samples`` heartbeats have arrived.
    """

    def __init__(self, broker: str, threshold: float | None, samples: int = SAMPLES) -> None:
        self._broker = broker
        self._threshold = threshold
        self._recent: deque[float] = deque(maxlen=samples)
        self._alarmed: float | None = None  # the estimate last alarmed about, while out of bounds
        self.skew: float | None = None

    def observe(self, server_ms: int, received: datetime) -> list[ClockSkewDetected]:
        """Take one heartbeat stamped ``server_ms`` and read at local time ``received``; return an alarm if due."""
        if self._threshold is None:
            return []
        self._recent.append(server_ms / 1000 - received.timestamp())
        if len(self._recent) < (self._recent.maxlen or 1):
            return []
        skew = max(self._recent)
        self.skew = skew
        threshold = self._threshold
        if abs(skew) <= threshold:
            if self._alarmed is not None:
                log.info("clock skew back within %.0f s of the gateway (%+.1f s)", threshold, skew)
                self._alarmed = None
            return []
        if self._alarmed is not None and abs(skew - self._alarmed) <= threshold:
            return []  # the same skew, already reported
        self._alarmed = skew
        log.warning("clock skew: the gateway's clock is %.1f s %s this machine's (threshold %.0f s); times judged "
                    "on the wall clock (event stamps, maintenance windows) are off by that much: check NTP",
                    abs(skew), "ahead of" if skew > 0 else "behind", threshold)
        return [ClockSkewDetected(ts=received, broker=self._broker, skew=round(skew, 3), threshold=threshold,
                                  source=SOURCE)]
