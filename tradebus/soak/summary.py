"""The soak's verdict: invariants from what was measured, and the summary printed and written as JSON.

Resource invariants (R24) are judged on *quiet* samples after the warm-up: the baseline is the
first such sample, the end the last one (the wind-down, when no fault is active). Memory may grow
by at most ``max_rss_growth_mb``; the thread and descriptor counts may move by at most
``count_tolerance`` from the baseline on any quiet sample.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tradebus.soak.injector import FaultRecord
from tradebus.soak.probes import Sample
from tradebus.soak.settings import SoakConfig

MB = 1024.0  # kB per MB


@dataclass(frozen=True)
class Verdict:
    """One invariant's outcome.

    Attributes:
        name: The invariant.
        ok: Whether it held.
        detail: The figures it was judged on, or what broke it.
    """

    name: str
    ok: bool
    detail: str | list[str]

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


def _percentile(values: Sequence[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def resource_verdicts(samples: Sequence[Sample], config: SoakConfig) -> tuple[list[Verdict], dict[str, Any]]:
    """Judge memory, threads and descriptors; return the verdicts and the figures for the summary."""
    after = [s for s in samples if s.at >= config.warmup_seconds]
    quiet = [s for s in after if s.quiet] or after
    if not quiet:
        missing = "no sample after the warm-up (the run was shorter than the warm-up)"
        return [Verdict(n, False, missing) for n in ("rss_growth", "threads_stable", "fds_stable")], {}
    base, end = quiet[0], quiet[-1]
    growth = (end.rss_kb - base.rss_kb) / MB
    tol = config.count_tolerance
    thread_drift = max(abs(s.threads - base.threads) for s in quiet)
    fd_drift = max(abs(s.fds - base.fds) for s in quiet)
    gateway = [s.gateway_rss_kb for s in samples if s.gateway_rss_kb is not None]
    figures = {
        "samples": len(samples), "quiet_samples": len([s for s in after if s.quiet]),
        "baseline_at_s": round(base.at, 1), "end_at_s": round(end.at, 1),
        "rss_mb": {"start": round(samples[0].rss_kb / MB, 1), "baseline": round(base.rss_kb / MB, 1),
                   "peak": round(max(s.rss_kb for s in samples) / MB, 1), "end": round(end.rss_kb / MB, 1),
                   "growth": round(growth, 1)},
        "threads": {"baseline": base.threads, "min": min(s.threads for s in quiet),
                    "max": max(s.threads for s in quiet), "end": end.threads},
        "fds": {"baseline": base.fds, "min": min(s.fds for s in quiet), "max": max(s.fds for s in quiet),
                "end": end.fds},
        "max_backlog": max(s.backlog for s in samples),
        "gateway_rss_mb": {"start": round(gateway[0] / MB, 1), "peak": round(max(gateway) / MB, 1),
                           "end": round(gateway[-1] / MB, 1)} if gateway else None,
    }
    verdicts = [
        Verdict("rss_growth", growth < config.max_rss_growth_mb,
                f"{growth:+.1f} MB after warm-up (limit {config.max_rss_growth_mb:.0f} MB)"),
        Verdict("threads_stable", thread_drift <= tol,
                f"{base.threads} threads at the baseline, quiet samples within +-{thread_drift} (limit {tol})"),
        Verdict("fds_stable", fd_drift <= tol,
                f"{base.fds} descriptors at the baseline, quiet samples within +-{fd_drift} (limit {tol})"),
    ]
    return verdicts, figures


def fault_figures(records: Iterable[FaultRecord], speed: float) -> dict[str, Any]:
    """Faults by kind with their recovery times (wall seconds; simulated = wall x speed)."""
    by_kind: dict[str, dict[str, Any]] = {}
    recoveries: list[float] = []
    for record in records:
        entry = by_kind.setdefault(record.kind, {"rid": record.rid, "count": 0, "recovered": 0, "unrecovered": 0,
                                                 "errors": 0, "never_fired": 0, "recovery_s": []})
        entry["count"] += 1
        entry["errors"] += record.error is not None
        entry["never_fired"] += record.fired is False
        seconds = record.recovery_seconds
        if seconds is not None:
            entry["recovered"] += 1
            entry["recovery_s"].append(seconds)
            recoveries.append(seconds)
        elif not record.interrupted:
            entry["unrecovered"] += 1
    for entry in by_kind.values():
        times = entry.pop("recovery_s")
        entry["recovery_max_s"] = _round(max(times, default=None))
        entry["recovery_p50_s"] = _round(statistics.median(times) if times else None)
    return {
        "total": sum(e["count"] for e in by_kind.values()),
        "by_kind": dict(sorted(by_kind.items())),
        "by_rid": dict(sorted(Counter(r for e in by_kind.values() for r in [e["rid"]] * e["count"]).items())),
        "recovery_s": {"count": len(recoveries), "p50": _round(_percentile(recoveries, 0.5)),
                       "p99": _round(_percentile(recoveries, 0.99)), "max": _round(max(recoveries, default=None)),
                       "max_simulated": _round(max(recoveries, default=0.0) * speed)},
    }


def render(summary: dict[str, Any]) -> str:
    """The summary as a few readable lines."""
    duration, orders, fills = summary["duration"], summary["orders"], summary["fills"]
    faults, resources, events = summary["faults"], summary.get("resources") or {}, summary["events"]
    lines = [
        f"soak seed={summary['seed']} speed={summary['speed']} symbols={','.join(summary['symbols'])}",
        f"  duration   {duration['wall_s']:.0f} s wall = {duration['simulated_h']:.2f} h simulated",
        f"  orders     {orders['total']} journaled ({_counts(orders['by_status'])}); "
        f"{orders['at_gateway']} reached the gateway",
        f"  fills      {fills['count']} ({fills['shares']} shares; {fills['partially_filled_orders']} orders filled "
        f"in parts)",
        f"  faults     {faults['total']} ({_counts({k: v['count'] for k, v in faults['by_kind'].items()})}); "
        f"{sum(v['never_fired'] for v in faults['by_kind'].values())} armed one-shot faults never fired",
        f"  recovery   {faults['recovery_s']['count']} recoveries, p50 {faults['recovery_s']['p50']} s, "
        f"p99 {faults['recovery_s']['p99']} s, max {faults['recovery_s']['max']} s wall; "
        f"broker down {summary['broker']['down_s']:.0f} s in all",
    ]
    if resources:
        rss, threads, fds = resources["rss_mb"], resources["threads"], resources["fds"]
        lines.append(f"  memory     RSS start {rss['start']} MB, baseline {rss['baseline']} MB, peak {rss['peak']} MB, "
                     f"end {rss['end']} MB ({rss['growth']:+} MB)")
        lines.append(f"  threads    {threads['baseline']} (quiet {threads['min']}-{threads['max']}); "
                     f"fds {fds['baseline']} (quiet {fds['min']}-{fds['max']}); max backlog {resources['max_backlog']}")
    lines.append(f"  events     {events['total']} from the adapter, {events['per_s']:.0f}/s")
    for verdict in summary["invariants"]:
        mark = "ok  " if verdict["ok"] else "FAIL"
        detail = verdict["detail"]
        text = detail if isinstance(detail, str) else "; ".join(detail[:5]) or "none"
        lines.append(f"  [{mark}] {verdict['name']}: {text}")
    lines.append(f"  result     {'PASSED' if summary['passed'] else 'FAILED'}")
    return "\n".join(lines)


def _counts(counter: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))
