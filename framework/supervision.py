"""Supervision of strategies: what happens when a strategy's code raises, and how a run ended.

A strategy's hooks run on the dispatcher thread through the bus, which isolates each handler; the
hooks are subscribed with the strategy as their *owner*, so the bus hands their failures to the
:class:`StrategySupervisor` (``on_start`` and ``on_stop`` are called by the supervisor itself).
Each failure becomes:

* **one log record** (ERROR, with the traceback) naming the strategy, the hook, the event it was
  handling and what was done about it; the event log and the console view do not repeat it;
* **one** :class:`~framework.events.StrategyFailed` event, published to every listener;
* the strategy's :class:`~framework.config.ErrorPolicy` (its own ``error_policy``, else the
  engine's ``on_strategy_error``):

  - ``stop-strategy`` (the default): the strategy is unsubscribed and its timers cancelled, its
    working orders are cancelled through the order gateway (journaled, their events published as
    usual), its positions are kept, and its ``on_stop`` is not called; the other strategies go on
    (when none is left, the run ends);
  - ``stop-run``: the same, and the run ends: :meth:`RunOutcome.stop` asks the dispatcher to stop
    (a backtest stops replaying after the current bar);
  - ``continue``: the strategy keeps receiving events (the behaviour before supervision existed).

:class:`RunOutcome` is how the run ended, for the application's summary, exports and exit code:
the failures that stopped a strategy, the errors tolerated under ``continue``, and whether the
run was interrupted (Ctrl-C) or stopped early.

With ``EngineConfig(raise_errors=True)`` (tests) errors propagate instead and nothing here runs.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from collections.abc import Mapping
from datetime import datetime
from datetime import timedelta
from typing import Any
from typing import Protocol

from framework.bus import EventBus
from framework.clock import Clock
from framework.config import ErrorPolicy
from framework.errors import SubscriptionError
from framework.events import StrategyFailed
from framework.order_gateway import OrderGateway
from framework.orders import OrderView
from framework.redaction import redact

log = logging.getLogger(__name__)


class Supervised(Protocol):
    """What the supervisor needs of a strategy (:class:`~framework.strategy.Strategy` has it)."""

    id: str
    error_policy: ErrorPolicy | None

    def start(self) -> None:
        """Subscribe the hooks and run ``on_start``."""
        ...

    def stop(self) -> None:
        """Run ``on_stop``, then detach."""
        ...

    def detach(self) -> None:
        """Unsubscribe every hook and cancel the timers, without calling ``on_stop``."""
        ...


class RunOutcome:
    """How a run ended: failed strategies, tolerated errors, an interruption, an early stop.

    Written on the dispatcher thread, except :meth:`interrupt`, which a signal handler may call.

    Attributes:
        failures: ``StrategyFailed`` of every failure that stopped a strategy (policies
            ``stop-strategy`` and ``stop-run``), in order.
        tolerated: How many errors each strategy raised under the ``continue`` policy.
        first_tolerated: The first of those errors, per strategy.
        errors: Errors outside strategies that ended the run (see :meth:`fail`).
        interrupted: The run was interrupted (Ctrl-C).
        stop_reason: Why the run ended before its planned end (interrupted, a strategy failed
            under ``stop-run``); None while it runs on or when it ended as planned.
    """

    def __init__(self) -> None:
        self.failures: list[StrategyFailed] = []
        self.tolerated: dict[str, int] = {}
        self.first_tolerated: dict[str, StrategyFailed] = {}
        self.errors: list[str] = []
        self.interrupted = False
        self.stop_reason: str | None = None

    @property
    def failed(self) -> bool:
        """Whether a strategy failed and was stopped, or an error ended the run (the CLI then exits non-zero)."""
        return bool(self.failures or self.errors)

    @property
    def status(self) -> str:
        """``interrupted``, ``failed`` or ``completed``."""
        if self.interrupted:
            return "interrupted"
        return "failed" if self.failed else "completed"

    def interrupt(self) -> None:
        """Record an interruption (Ctrl-C); plain assignments only, so a signal handler may call it."""
        self.interrupted = True
        if self.stop_reason is None:
            self.stop_reason = "interrupted (Ctrl-C)"

    def stop(self, reason: str) -> None:
        """Record that the run ends early for ``reason`` (the first reason is kept)."""
        if self.stop_reason is None:
            self.stop_reason = reason

    def fail(self, error: str) -> None:
        """Record an error outside any strategy that ends the run (a backtest's failing handler)."""
        self.errors.append(error)
        self.stop(error)

    def lines(self) -> list[str]:
        """The outcome in words, one line per fact, for an end-of-run summary (empty when all went well)."""
        lines = []
        if self.interrupted:
            lines.append("run interrupted (Ctrl-C): stopped cleanly; results cover what was done until then")
        lines.extend(f"strategy {f.strategy_id} FAILED: {failure_text(f)}" for f in self.failures)
        lines.extend(f"run stopped on an error: {error}" for error in self.errors)
        for strategy_id, count in self.tolerated.items():
            first = self.first_tolerated[strategy_id]
            errors = "error" if count == 1 else "errors"
            lines.append(f"strategy {strategy_id}: {count} {errors} tolerated (policy continue); "
                         f"the first: {failure_text(first)}")
        return lines


def failure_text(failure: StrategyFailed) -> str:
    """``on_bar on BarClosed AAPL ...: ValueError: bad bar`` plus what was done, in one line."""
    where = f"{failure.hook} on {failure.event}" if failure.event else failure.hook
    text = f"{where}: {failure.error_type}: {failure.error}"
    if failure.policy == ErrorPolicy.CONTINUE:
        return text
    return f"{text} ({_consequence(failure)})"


def _consequence(failure: StrategyFailed) -> str:
    count = len(failure.cancelled)
    cancelled = f"{count} working order{'' if count == 1 else 's'} cancelled" if count else "no working orders"
    run = "; the run was stopped" if failure.policy == ErrorPolicy.STOP_RUN else ""
    return f"strategy stopped, {cancelled}, positions kept{run}"


def describe_event(event: Any) -> str:
    """A strategy's event in a few words: its type, what it is about, and when."""
    if event is None:
        return ""
    name = type(event).__name__
    bar = getattr(event, "bar", None)
    if bar is not None:
        duration = bar.duration
        length = f" {int(duration.total_seconds())}s" if isinstance(duration, timedelta) else ""
        return f"{name} {bar.symbol}{length} bar ending {_when(getattr(event, 'ts', None))}"
    about = ""
    quote = getattr(event, "quote", None)
    position = getattr(event, "position", None)
    for candidate in (
        getattr(quote, "symbol", None),
        getattr(event, "client_order_id", None),
        getattr(event, "symbol", None),
        getattr(position, "symbol", None),
        getattr(event, "name", None),
        getattr(event, "broker", None),
    ):
        if isinstance(candidate, str) and candidate:
            about = f" {candidate}"
            break
    ts = getattr(event, "ts", None)
    return f"{name}{about} at {_when(ts)}" if isinstance(ts, datetime) else f"{name}{about}"


def _when(ts: Any) -> str:
    return ts.isoformat() if isinstance(ts, datetime) else "?"


class StrategySupervisor:
    """Starts and stops strategies, and applies the error policy when one raises.

    Args:
        strategies: The engine's strategies by id (a live view).
        policy: The engine's default policy.
        clock: Timestamps ``StrategyFailed``.
        bus: Where ``StrategyFailed`` is published; its owned handlers' failures come here.
        orders: The run's orders (a stopped strategy's working orders are looked up here).
        gateway: Cancels them (journaled, events queued as for any cancel).
        stop_run: Asks the dispatcher to stop (thread-safe).
        outcome: Where failures and the early stop are recorded.
        raise_errors: Let errors propagate instead (tests).
    """

    def __init__(self, strategies: Mapping[str, Supervised], *, policy: ErrorPolicy, clock: Clock, bus: EventBus,
                 orders: OrderView, gateway: OrderGateway, stop_run: Callable[[], None],
                 outcome: RunOutcome, raise_errors: bool = False) -> None:
        self._strategies = strategies
        self.policy = policy
        self._clock = clock
        self._bus = bus
        self._orders = orders
        self._gateway = gateway
        self._stop_run = stop_run
        self.outcome = outcome
        self._raise_errors = raise_errors
        self.stopped: set[str] = set()
        bus.supervise(self.on_failure)

    def policy_of(self, strategy: Supervised) -> ErrorPolicy:
        """The strategy's own policy, else the engine's."""
        return strategy.error_policy or self.policy

    def start(self, strategy: Supervised) -> None:
        """Start ``strategy``; an error in its ``on_start`` is a failure like any other.

        Raises:
            SubscriptionError: The strategy asked for bars no data can give: a setup error, not a
                failure to handle by policy (the strategy is detached and counted as stopped).
        """
        self.stopped.discard(strategy.id)
        try:
            strategy.start()
        except SubscriptionError:
            strategy.detach()
            self.stopped.add(strategy.id)
            raise
        except Exception as e:
            if self._raise_errors:
                raise
            self.on_failure(strategy.id, "on_start", None, e)

    def stop(self, strategy: Supervised) -> None:
        """Stop ``strategy`` (unless a failure already did); an error in its ``on_stop`` is reported.

        ``Strategy.stop`` detaches the strategy even when ``on_stop`` raises; the policy then
        decides whether its working orders are cancelled.
        """
        if strategy.id in self.stopped:
            return
        try:
            strategy.stop()
        except Exception as e:
            if self._raise_errors:
                raise
            self.on_failure(strategy.id, "on_stop", None, e)
        self.stopped.add(strategy.id)

    def on_failure(self, strategy_id: str, hook: str, event: Any, error: Exception) -> None:
        """Apply the policy to a failure of ``strategy_id``'s ``hook`` on ``event``; log it once; publish it."""
        strategy = self._strategies.get(strategy_id)
        policy = self.policy_of(strategy) if strategy is not None else self.policy
        cancelled: tuple[str, ...] = ()
        if policy is not ErrorPolicy.CONTINUE:
            if strategy is not None and strategy_id not in self.stopped:
                self.stopped.add(strategy_id)
                if hook != "on_stop":  # Strategy.stop has detached it already
                    strategy.detach()
            cancelled = self._cancel_working(strategy_id)
        failure = StrategyFailed(
            ts=self._clock.now(),
            strategy_id=strategy_id,
            hook=hook,
            event=describe_event(event),
            error_type=type(error).__name__,
            error=redact(str(error)),  # the event reaches the summary, result.json and listeners
            traceback=redact("".join(traceback.format_exception(error))),
            policy=policy.value,
            cancelled=cancelled,
        )
        if policy is ErrorPolicy.CONTINUE:
            self.outcome.tolerated[strategy_id] = self.outcome.tolerated.get(strategy_id, 0) + 1
            self.outcome.first_tolerated.setdefault(strategy_id, failure)
        else:
            self.outcome.failures.append(failure)
        if policy is ErrorPolicy.STOP_RUN:
            self.outcome.stop(f"strategy {strategy_id} failed in {hook} (policy stop-run)")
            self._stop_run()
        elif policy is ErrorPolicy.STOP_STRATEGY and hook != "on_stop" and self._strategies.keys() <= self.stopped:
            self.outcome.stop("no strategy is left running")  # nothing more can happen: end the run
            self._stop_run()
        # the one record of this error
        log.error("strategy %s failed: %s", strategy_id, failure_text(failure), exc_info=error)
        self._bus.publish(failure)

    def _cancel_working(self, strategy_id: str) -> tuple[str, ...]:
        # every order of the strategy that may still fill, including one placed in the failing hook
        # whose OrderSubmitted is still queued; an order already being cancelled is left to that
        cancelled = []
        gateway = self._gateway
        for order in self._orders.all():
            cid = order.request.client_order_id
            if order.request.strategy_id != strategy_id or not gateway.is_cancellable(cid):
                continue
            try:
                gateway.cancel(cid)
            except Exception:  # one order that cannot be cancelled must not keep the others working
                log.exception("could not cancel %s of failed strategy %s", cid, strategy_id)
                continue
            cancelled.append(cid)
        return tuple(cancelled)
