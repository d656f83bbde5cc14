"""What a soak runs: its options and the time scale that compresses a trading session.

Every duration that belongs to the session (the gateway's heartbeat, idle timeout, penalty box and
position cache; the adapter's keep-alive, stall watchdog, back-off, rate-limit back-off and lookup
window; the engine's hold time; the fault schedule) is given in *simulated* seconds and divided by
``speed`` for the wall clock, with a floor where a loaded machine needs one (a lookup window below
10 s would declare orders lost that are merely slow). Request rates are not scaled: the gateway's
10 requests per second are a wall-clock limit, so the strategy's pace is set in wall seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from framework.errors import ConfigError

DEFAULT_SYMBOLS = ("AAPL", "MSFT", "INTC", "SLV")
"""Instruments traded by default (in the simulated gateway's built-in universe; the two cheap ones take
orders larger than the displayed size, so fills come in parts when the gateway cuts them, R13)."""


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


@dataclass(frozen=True)
class SoakConfig:
    """Options of one soak.

    Attributes:
        minutes: Wall-clock length of the trading session.
        speed: How many simulated seconds pass per wall second (8: an hour covers an 8-hour session).
        seed: Seeds the market, the strategy and the fault schedule (the run prints it).
        symbols: Instruments traded.
        fault_gap: Mean simulated seconds between two faults (exponentially distributed).
        faults: Fault kinds to inject (names from :data:`tradebus.soak.faults.CATALOGUE`); None for all.
        action_interval: Wall seconds between two strategy actions (place, modify, cancel).
        warmup: Wall seconds before the resource baseline is taken; None derives it from the length.
        workdir: Folder for the journal and the log; None uses a temporary folder.
        max_rss_growth_mb: Largest allowed RSS growth of this process after warm-up, in MB (R24: 50).
        count_tolerance: Largest allowed change of the thread and file-descriptor counts after warm-up.
    """

    minutes: float = 60.0
    speed: float = 8.0
    seed: int = 1
    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    fault_gap: float = 120.0
    faults: tuple[str, ...] | None = None
    action_interval: float = 0.5
    warmup: float | None = None
    workdir: Path | None = None
    max_rss_growth_mb: float = 50.0
    count_tolerance: int = 2

    def __post_init__(self) -> None:
        checks = (
            (self.minutes > 0, "minutes", "must be positive"),
            (0 < self.speed <= 60, "speed", "must be in (0, 60]"),
            (bool(self.symbols), "symbols", "name at least one instrument"),
            (self.fault_gap > 0, "fault_gap", "must be positive"),
            (self.action_interval >= 0.05, "action_interval", "must be at least 0.05 s"),
            (self.warmup is None or self.warmup >= 0, "warmup", "must not be negative"),
        )
        for ok, key, problem in checks:
            if not ok:
                raise ConfigError(f"{problem} (got {getattr(self, key)!r})", key=f"soak.{key}")

    def sim(self, seconds: float, floor: float = 0.0) -> float:
        """Wall seconds of ``seconds`` simulated seconds (never less than ``floor``)."""
        return max(floor, seconds / self.speed)

    @property
    def duration(self) -> float:
        """Wall seconds of the whole session, wind-down included."""
        return self.minutes * 60.0

    @property
    def warmup_seconds(self) -> float:
        """Wall seconds before the resource baseline: 10 % of the session, within 10-120 s."""
        return self.warmup if self.warmup is not None else _clamp(0.1 * self.duration, 10.0, 120.0)

    @property
    def wind_down(self) -> float:
        """Wall seconds at the end without faults or new orders: open orders are cancelled and settle."""
        return _clamp(0.1 * self.duration, 8.0, 60.0)

    @property
    def settle_bound(self) -> float:
        """Wall seconds after the session the books may take to settle before that is a failure."""
        return 60.0 + self.sim(120.0)
