"""Clock seam: the system clock is aware UTC; the simulated clock moves only when told."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from datetime import timezone

import pytest
from freezegun import freeze_time

from framework.clock import Clock
from framework.clock import SimulatedClock
from framework.clock import SystemClock


@freeze_time("2024-03-01 12:00:00")
def test_system_clock_reads_wall_time_as_aware_utc() -> None:
    now = SystemClock().now()
    assert now == datetime(2024, 3, 1, 12, tzinfo=UTC)
    assert now.tzinfo is UTC


def test_system_clock_monotonic_never_goes_back() -> None:
    clock = SystemClock()
    first = clock.monotonic()
    assert clock.monotonic() >= first


def test_simulated_clock_moves_only_when_told() -> None:
    start = datetime(2024, 1, 2, 9, 30, tzinfo=timezone(timedelta(hours=-5)))
    clock = SimulatedClock(start)
    assert clock.now() == start
    assert clock.now().tzinfo is UTC
    clock.advance(timedelta(seconds=90))
    assert clock.monotonic() == 90.0
    clock.set(start + timedelta(hours=1))
    assert clock.now() == start + timedelta(hours=1)


def test_simulated_clock_refuses_naive_and_backwards_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        SimulatedClock(datetime(2024, 1, 1))  # noqa: DTZ001 - the point of the test
    clock = SimulatedClock(datetime(2024, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="backwards"):
        clock.set(datetime(2023, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="negative"):
        clock.advance(timedelta(seconds=-1))


def test_both_clocks_satisfy_the_protocol() -> None:
    assert isinstance(SystemClock(), Clock)
    assert isinstance(SimulatedClock(datetime(2024, 1, 1, tzinfo=UTC)), Clock)


def test_simulated_clock_refuses_to_go_back_and_normalises_other_zones() -> None:
    from datetime import timedelta
    from datetime import timezone

    from framework.clock import SimulatedClock

    clock = SimulatedClock(datetime(2024, 1, 2, tzinfo=UTC))
    clock.set(datetime(2024, 1, 3, tzinfo=UTC))
    assert clock.monotonic() == 86_400
    clock.set(datetime(2024, 1, 3, 5, tzinfo=timezone(timedelta(hours=5))))  # the same instant, other zone
    assert clock.now().tzinfo is UTC
    with pytest.raises(ValueError, match="backwards"):
        clock.set(datetime(2024, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.set(datetime(2024, 1, 4))  # noqa: DTZ001 - naive on purpose


def test_replay_to_moves_forward_and_refuses_to_go_back() -> None:
    clock = SimulatedClock(datetime(2024, 1, 2, tzinfo=UTC))
    clock.replay_to(datetime(2024, 1, 2, 0, 1, tzinfo=UTC))
    assert clock.monotonic() == 60
    clock.replay_to(datetime(2024, 1, 2, 0, 1, tzinfo=UTC))  # the same bar time again is fine
    with pytest.raises(ValueError, match="backwards"):
        clock.replay_to(datetime(2024, 1, 2, tzinfo=UTC))
    assert clock.monotonic() == 60
