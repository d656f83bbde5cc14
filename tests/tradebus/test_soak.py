"""The soak runner's parts that need no gateway: options, the time scale, the resource verdicts, the CLI.

The resource verdicts are fed made-up samples, so each limit is shown to fail when crossed (a
checker that cannot fail proves nothing); the end-to-end soak is tests/e2e/test_soak_smoke.py.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest
import trustme

from framework.errors import ConfigError
from tradebus.soak.cli import main
from tradebus.soak.faults import CATALOGUE
from tradebus.soak.faults import kinds
from tradebus.soak.gateway import SoakGateway
from tradebus.soak.injector import FaultRecord
from tradebus.soak.probes import Sample
from tradebus.soak.runner import adapter_config
from tradebus.soak.settings import SoakConfig
from tradebus.soak.summary import fault_figures
from tradebus.soak.summary import resource_verdicts

CONFIG = SoakConfig(minutes=10, speed=8, warmup=10)


def sample(at: float, rss_mb: float = 100.0, threads: int = 8, fds: int = 14, *, quiet: bool = True) -> Sample:
    return Sample(at, int(rss_mb * 1024), threads, fds, 0, None, quiet)


def verdicts(samples: list[Sample]) -> dict[str, bool]:
    found, _ = resource_verdicts(samples, CONFIG)
    return {v.name: v.ok for v in found}


def test_time_scale_compresses_simulated_seconds_with_floors() -> None:
    assert CONFIG.sim(120.0) == 15.0
    assert CONFIG.sim(30.0, 10.0) == 10.0  # a lookup window is never squeezed below what a loaded machine needs
    assert CONFIG.duration == 600.0
    assert SoakConfig(minutes=60).warmup_seconds == 120.0
    assert SoakConfig(minutes=0.5).warmup_seconds == 10.0


@pytest.mark.parametrize(("field", "value"), [("speed", 0.0), ("minutes", -1.0), ("symbols", ()),
                                              ("action_interval", 0.01)])
def test_bad_options_name_the_field(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=rf"^soak\.{field}: "):
        SoakConfig(**{field: value})  # type: ignore[arg-type]


def test_resources_within_limits_pass_and_warmup_samples_do_not_count() -> None:
    samples = [sample(0, rss_mb=50, threads=3, fds=40), sample(10), sample(20, rss_mb=130, threads=10, fds=16),
               sample(30, rss_mb=140, fds=15)]
    assert verdicts(samples) == {"rss_growth": True, "threads_stable": True, "fds_stable": True}


def test_each_resource_limit_fails_when_crossed() -> None:
    assert not verdicts([sample(10), sample(20, rss_mb=151)])["rss_growth"]
    assert not verdicts([sample(10), sample(20, threads=11)])["threads_stable"]
    assert not verdicts([sample(10), sample(20, fds=11)])["fds_stable"]


def test_samples_taken_during_a_fault_are_not_judged() -> None:
    samples = [sample(10), sample(20, threads=20, fds=30, quiet=False), sample(30)]
    assert verdicts(samples) == {"rss_growth": True, "threads_stable": True, "fds_stable": True}


def test_a_run_shorter_than_the_warmup_fails_rather_than_passing_unjudged() -> None:
    assert verdicts([sample(1), sample(5)]) == {"rss_growth": False, "threads_stable": False, "fds_stable": False}


def test_fault_figures_count_recoveries_and_unrecovered_faults() -> None:
    records = [FaultRecord("ws_abort", "R1", injected=0, healed=1, recovered=3),
               FaultRecord("ws_abort", "R1", injected=5, healed=5, recovered=None),
               FaultRecord("held_ack", "R12", injected=9, healed=10, recovered=10, fired=False)]
    figures = fault_figures(records, speed=8)
    assert figures["total"] == 3
    assert figures["by_kind"]["ws_abort"] | {} == {"rid": "R1", "count": 2, "recovered": 1, "unrecovered": 1,
                                                  "errors": 0, "never_fired": 0, "recovery_max_s": 2.0,
                                                  "recovery_p50_s": 2.0}
    assert figures["by_kind"]["held_ack"]["never_fired"] == 1
    assert figures["recovery_s"]["max_simulated"] == 16.0
    assert figures["by_rid"] == {"R1": 2, "R12": 1}


def test_fault_catalogue_covers_r1_to_r15_except_pacing_and_crashes() -> None:
    # R5 (pacing) is exercised continuously by the gateway's limits; R16 (process crash) is not in R1-R15 scope
    assert {k.rid for k in CATALOGUE} == {f"R{n}" for n in range(1, 16)} - {"R5"}
    with pytest.raises(ValueError, match="unknown fault kind\\(s\\) nope; choose from ws_abort"):
        kinds(("ws_abort", "nope"))


def test_cli_lists_the_faults(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--list-faults"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(CATALOGUE)
    assert lines[0].split() == ["ws_abort", "R1"]


@pytest.mark.parametrize(("argv", "message"), [
    (["--faults", "ws_abort,nope"], "soak: unknown fault kind(s) nope;"),
    (["--speed", "0"], "soak: soak.speed: must be in (0, 60] (got 0.0)"),
])
def test_cli_refuses_bad_options_in_one_line(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--minutes", "0.1", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(message)


@pytest.mark.ibkr_maintenance  # the documented windows in force: the soak must switch them off itself
def test_the_soak_trades_at_any_hour_its_gateway_has_no_nightly_reset(tmp_path: Path) -> None:
    # the soak ran at 05:20 UTC, inside IBKR's North American daily reset (00:15-01:45 New York), and
    # every order was denied as "scheduled maintenance"; its gateway is simulated, and the nightly reset
    # is a fault the soak injects (nightly_reset), not a window of the wall clock
    trustme.CA().cert_pem.write_to_path(str(tmp_path / "ca.pem"))  # the adapter reads the CA it is given
    gateway = cast(SoakGateway, SimpleNamespace(base_url="https://127.0.0.1:5000/v1/api",
                                                ws_url="wss://127.0.0.1:5000/v1/api/ws", ca_file=tmp_path / "ca.pem"))
    calendar = adapter_config(CONFIG, gateway).maintenance_calendar()
    for at in ("2026-12-07T05:20:00+00:00", "2026-12-05T05:00:00+00:00"):  # Monday's daily reset, the weekend
        assert calendar.active(datetime.fromisoformat(at)) is None, at
