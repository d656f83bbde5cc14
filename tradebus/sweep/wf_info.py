"""What a walk-forward ran on, kept with its result for the report: the sweep's context and the window scheme.

:func:`~tradebus.sweep.walkforward.walk_forward` fills a :class:`WalkForwardInfo` into
``WalkForwardResult.info``; the walk-forward report (:func:`tradebus.report.write_walk_forward_report`)
shows it under its title.
"""

from __future__ import annotations

from dataclasses import dataclass

from tradebus.sweep.info import SweepInfo


@dataclass(frozen=True)
class WalkForwardInfo:
    """The context of a walk-forward.

    Attributes:
        sweep: Strategy, grid, sets, search, executor and the data's span (as a sweep's).
        train: The train window's length as given (``250bars``, ``90d``).
        test: The test window's length as given.
        step: From one test window's start to the next, as given (None: the test length).
        anchored: Every train window starts at the first bar (else they roll).
        warmup: Bar times each test run replays untraded first (None: its whole train window).
        partial: A last test window the data cuts short is kept.
    """

    sweep: SweepInfo
    train: str
    test: str
    step: str | None = None
    anchored: bool = False
    warmup: int | None = None
    partial: bool = True

    @property
    def scheme(self) -> str:
        """The windows in words: ``rolling: train 250 bars, test 50 bars, step 50 bars``."""
        step = self.step or f"{self.test} (the test length)"
        return f"{'anchored' if self.anchored else 'rolling'}: train {self.train}, test {self.test}, step {step}"

    @property
    def warmup_text(self) -> str:
        """The warm-up in words."""
        if self.warmup is None:
            return "each test run first replays its train window, untraded"
        if self.warmup == 0:
            return "none (each test run starts cold)"
        return f"each test run first replays {self.warmup:,} bar times, untraded"


__all__ = ["WalkForwardInfo"]
