"""Every invariant of a soak judged from its parts, the summary built from them, and the progress line.

======================  =========================================================================
invariant               holds when
======================  =========================================================================
journal_equals_ledger   every order's final state and filled quantity agree (:mod:`~tradebus.soak.books`)
every_execution_once    no lost, phantom or twice-journaled execution
fills_match             side, size, price and commission of every fill agree
positions_match         journal fills, the engine's portfolio and the gateway agree per instrument
orders_settled          nothing working at the gateway or unresolved in the journal at the end
running_books           the same execution checks during the run, on quiet ground
no_stuck_orders         no outcome unknown for long while the broker was connected
recoveries              the broker was connected again after every fault, within the bound
no_dropped_events       every order and execution event the adapter emitted was dispatched
no_refused_executions   no execution report contradicted its order
no_strategy_failures    no strategy or handler raised
journal_writes          no journal write failed
settled                 the wind-down ended with nothing open, before the deadline
rss_growth              memory grew less than the limit after warm-up (R24: 50 MB)
threads_stable          the thread count stayed within the tolerance after warm-up (R24: +-2)
fds_stable              the descriptor count stayed within the tolerance after warm-up
======================  =========================================================================
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from tradebus.journal import SqliteJournal
from tradebus.soak.books import INVARIANTS
from tradebus.soak.books import BooksReport
from tradebus.soak.parts import Parts
from tradebus.soak.summary import MB
from tradebus.soak.summary import Verdict
from tradebus.soak.summary import fault_figures
from tradebus.soak.summary import render
from tradebus.soak.summary import resource_verdicts


def _verdict(name: str, problems: list[str], fine: str) -> Verdict:
    return Verdict(name, not problems, problems or fine)


def _dropped(parts: Parts) -> list[str]:
    emitted, dispatched = parts.tally.tracked_emitted(), parts.tally.dispatched
    problems = [f"{name}: {count} emitted, {dispatched[name]} dispatched" for name, count in sorted(emitted.items())
                if dispatched[name] != count]
    problems += [f"{count} x {name} never dispatched" for name, count in sorted(parts.tally.in_flight().items())]
    return problems


def _fault_problems(parts: Parts) -> list[str]:
    problems = [f"{r.kind} ({r.rid}, {r.detail}): not connected within the bound" for r in parts.injector.records
                if r.recovered is None and not r.interrupted and r.error is None]
    problems += [f"{r.kind}: {r.error}" for r in parts.injector.records if r.error is not None]
    if parts.injector.restore_error is not None:
        problems.append(f"restoring the gateway failed: {parts.injector.restore_error}")
    return problems


def judge(parts: Parts, books: BooksReport, skipped: int) -> list[Verdict]:
    """Every invariant, in the order of the module docstring."""
    engine, published = parts.engine, parts.tally.published
    verdicts = [_verdict(name, books.problems.get(name, []), _books_detail(name, books)) for name in INVARIANTS]
    failures = [f"{name}: {published[name]}" for name in ("StrategyFailed", "HandlerFailed") if published[name]]
    refused = published["ExecutionRefused"]
    verdicts += [
        _verdict("running_books", parts.running.problems,
                 f"{parts.running.checks} looks, {skipped} intervals without quiet ground"),
        _verdict("no_stuck_orders", sorted(parts.monitor.stuck.values()),
                 f"none unresolved for over {parts.monitor.config.stuck_after.total_seconds():.0f}s while connected"),
        _verdict("recoveries", _fault_problems(parts), f"all {len(parts.injector.records)} faults recovered"),
        _verdict("no_dropped_events", _dropped(parts),
                 f"{sum(parts.tally.dispatched.values())} order and execution events, all dispatched"),
        _verdict("no_refused_executions", [f"{refused} execution reports refused"] if refused else [], "none refused"),
        _verdict("no_strategy_failures", failures, "none"),
        _verdict("journal_writes", [f"{engine.journal_errors} failed"] if engine.journal_errors else [], "none failed"),
        _verdict("settled", [] if parts.trader.done else ["orders still open when the session's deadline passed"],
                 "nothing open at the end"),
    ]
    resources, _ = resource_verdicts(parts.sampler.samples, parts.config)
    return verdicts + resources


def _books_detail(name: str, books: BooksReport) -> str:
    return {
        "journal_equals_ledger": f"{books.orders_journaled} orders journaled, {books.orders_at_gateway} at the gateway",
        "every_execution_once": f"{books.executions_at_gateway} executions, each journaled once",
        "fills_match": f"{books.fills_journaled} fills equal",
        "positions_match": "equal",
        "orders_settled": "nothing working or unresolved",
    }[name]


def _orders(parts: Parts, ledger: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    journal = SqliteJournal(parts.journal)
    try:
        orders, fills = journal.orders(), journal.fills()
    finally:
        journal.close()
    per_order = Counter(f.client_order_id for f in fills)
    orders_figures = {
        "total": len(orders), "at_gateway": len(ledger["orders"]),
        "by_status": dict(Counter(o.status.value for o in orders)),
        "by_type": dict(Counter(o.request.order_type.value for o in orders)),
        "actions": dict(parts.trader.actions), "outcomes": dict(parts.trader.outcomes),
    }
    fill_figures = {"count": len(fills), "shares": str(sum((f.quantity for f in fills), start=0)),
                    "partially_filled_orders": sum(1 for n in per_order.values() if n > 1)}
    return orders_figures, fill_figures


def summarise(parts: Parts, books: BooksReport, ledger: dict[str, Any], wall: float, skipped: int) -> dict[str, Any]:
    """The summary of a finished soak (JSON-ready), verdicts included."""
    config = parts.config
    verdicts = judge(parts, books, skipped)
    _, resources = resource_verdicts(parts.sampler.samples, config)
    orders, fills = _orders(parts, ledger)
    total_events = parts.tally.total_emitted()
    return {
        "seed": config.seed, "speed": config.speed, "symbols": list(config.symbols),
        "duration": {"wall_s": round(wall, 1), "simulated_s": round(wall * config.speed, 1),
                     "simulated_h": round(wall * config.speed / 3600, 2), "planned_minutes": config.minutes},
        "orders": orders, "fills": fills,
        "faults": fault_figures(parts.injector.records, config.speed),
        "broker": {"events": dict(parts.monitor.connection), "down_s": round(parts.monitor.down_seconds, 1),
                   "gateway_restarts": parts.gateway.restarts},
        "resources": resources,
        "events": {"total": total_events, "per_s": round(total_events / wall, 1) if wall else 0.0,
                   "by_type": dict(parts.tally.emitted.most_common())},
        "invariants": [v.as_dict() for v in verdicts],
        "passed": all(v.ok for v in verdicts),
        "journal": str(parts.journal),
    }


def progress(parts: Parts, elapsed: float) -> str:
    """One line on how the soak is going."""
    emitted = parts.tally.tracked_emitted()
    latest = parts.sampler.samples[-1] if parts.sampler.samples else None
    memory = f"rss {latest.rss_kb / MB:.0f} MB, {latest.threads} threads, {latest.fds} fds" if latest else ""
    return (f"soak {elapsed / 60:5.1f} min ({elapsed * parts.config.speed / 3600:.2f} h simulated): "
            f"{emitted['OrderAccepted']} accepted, {emitted['ExecutionReported']} executions, "
            f"{len(parts.injector.records)} faults; {memory}")


__all__ = ["judge", "progress", "render", "summarise"]
