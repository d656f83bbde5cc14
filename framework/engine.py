"""The engine: assembles one run's parts around a broker, and starts and stops them.

Each job has its own module; this one only wires them:

* :mod:`framework.dispatcher`: the event queue and the one thread that drains it (The One Rule);
* :mod:`framework.lifecycle`: order facts and execution reports into the order book, the journal,
  the portfolio and then the strategies (the one order lifecycle);
* :mod:`framework.order_gateway`: order calls into checked, journaled commands for the broker's
  worker (the dispatcher never waits on the network), and the halt of the kill switch;
* :mod:`framework.subscriptions`: instruments, market-data subscriptions and last prices;
* :mod:`framework.timers`: timers on the engine clock;
* :mod:`framework.context`: what each strategy holds instead of the engine;
* :mod:`framework.supervision`: starting and stopping strategies, their errors, and how the run
  ended (:attr:`Engine.outcome`).

Start-up (:meth:`Engine.start`) connects the broker, records in the journal which venue (broker and
account) this run trades, recovers that venue's unfinished orders (:mod:`framework.recovery`),
applies what recovery found, loads cash and positions from the broker, and only then starts the
strategies.

Events:
    Publishes every event brokers deliver, after updating state (see the modules above), plus
    ``OrderSubmitted``, ``OrderDenied``, ``OrderPendingCancel``, ``PositionChanged``,
    ``ExecutionRefused``, ``TimerFired``, ``DataStale`` and ``StrategyFailed``. A broker's ``DataGap``
    goes to the strategies subscribed to its instrument; a broker's ``HaltRequested`` halts trading
    (see :meth:`Engine.add_kill_switch`) before it is published.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING
from typing import Any

from framework.broker import Broker
from framework.broker import NamesAccount
from framework.broker import RunScoped
from framework.broker import SharesPortfolio
from framework.bus import ANY
from framework.bus import EventBus
from framework.bus import Subscription
from framework.checks import PreTradeCheck
from framework.checks import TradingState
from framework.clock import Clock
from framework.config import EngineConfig
from framework.context import StrategyContext
from framework.datafeed import DataTracker
from framework.dispatcher import Dispatcher
from framework.errors import SubscriptionError
from framework.events import ORDER_EVENTS
from framework.events import AccountUpdated
from framework.events import AnyEvent
from framework.events import BarClosed
from framework.events import BrokerConnected
from framework.events import CommandNotSent
from framework.events import DataGap
from framework.events import ExecutionReported
from framework.events import HaltRequested
from framework.events import OrderEvent
from framework.events import QuoteUpdated
from framework.journal import Journal
from framework.journal import Venue
from framework.killswitch import KillSwitch
from framework.lifecycle import BrokerHealth
from framework.lifecycle import OrderLifecycle
from framework.models import Instrument
from framework.models import Order
from framework.models import OrderRequest
from framework.order_gateway import OrderGateway
from framework.orders import OrderBook
from framework.portfolio import Portfolio
from framework.recovery import recover
from framework.subscriptions import Subscriptions
from framework.supervision import RunOutcome
from framework.supervision import StrategySupervisor
from framework.timers import Timers

if TYPE_CHECKING:
    from framework.strategy import Strategy

log = logging.getLogger(__name__)

_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


class Engine:
    """Runs strategies against one broker.

    Args:
        broker: Market data and execution.
        clock: The only source of time.
        config: Engine settings.
        bus: The event bus; one is created (honouring ``config.raise_errors``) if not given.
        checks: Pre-trade checks run, in order, on every new order (see :meth:`add_check`).
        journal: Durable record of order intents and events; an order whose intent cannot be
            written is denied and never sent.
    """

    def __init__(self, broker: Broker, *, clock: Clock, config: EngineConfig | None = None, bus: EventBus | None = None,
                 checks: Sequence[PreTradeCheck] = (), journal: Journal | None = None) -> None:
        self.broker = broker
        self.clock = clock
        self.config = config or EngineConfig()
        self.bus = bus or EventBus(raise_errors=self.config.raise_errors, clock=clock)
        self.journal = journal
        self.orders = OrderBook()
        # an in-memory venue is the account it simulates: book into its portfolio, not a second one
        self.portfolio = broker.portfolio if isinstance(broker, SharesPortfolio) else Portfolio()
        self.timers = Timers(self.bus)
        self.data = DataTracker(self.config.stale_data_after)
        self.dispatcher = Dispatcher(clock, self.bus, self.timers, self.data)
        self.subscriptions = Subscriptions(broker, self.bus, self.portfolio, self.data, clock,
                                          enqueue=self.dispatcher.enqueue)
        health = BrokerHealth()
        self.lifecycle = OrderLifecycle(self.orders, self.portfolio, self.bus, clock=clock, health=health,
                                        broker_name=broker.name, journal=journal)
        self.state = TradingState(clock, self.portfolio, self.orders, self.subscriptions.reference_price)
        self.gateway = OrderGateway(broker, self.orders, self.state, self.dispatcher.enqueue, clock=clock,
                                    health=health, bus=self.bus, timers=self.timers, policy=self.config.degraded,
                                    journal=journal, require_connected=self.config.require_connected)
        for check in checks:
            self.add_check(check)
        self._strategies: dict[str, Strategy[Any]] = {}
        self.outcome = RunOutcome()
        self.supervisor = StrategySupervisor(
            self._strategies, policy=self.config.on_strategy_error, clock=clock, bus=self.bus, orders=self.orders,
            gateway=self.gateway, stop_run=self.dispatcher.request_stop, outcome=self.outcome,
            raise_errors=self.config.raise_errors,
        )
        self._running = False
        self._route_events()

    def _route_events(self) -> None:
        route = self.dispatcher.route
        route(QuoteUpdated, self.subscriptions.on_quote)
        route(BarClosed, self.subscriptions.on_bar)
        route(AccountUpdated, self._on_account)
        route(ExecutionReported, self.lifecycle.on_execution)
        route(BrokerConnected, self._on_connected)
        route(CommandNotSent, self.gateway.on_not_sent)
        route(DataGap, self._on_data_gap)
        route(HaltRequested, self._on_halt_requested)
        for event_type in ORDER_EVENTS:
            route(event_type, self.lifecycle.on_order_event)

    # ----------------------------------------------------------------- assembly

    def add_strategy(self, strategy: Strategy[Any]) -> None:
        """Register a strategy with a context of its own; it starts with the engine (or at once if running).

        Raises:
            ValueError: If another strategy already uses the same id.
        """
        if strategy.id in self._strategies:
            msg = f"strategy id {strategy.id!r} is already registered"
            raise ValueError(msg)
        self._strategies[strategy.id] = strategy
        policy = getattr(strategy.config, "degraded", None)
        if policy is not None:
            self.gateway.hold.set_policy(strategy.id, policy)
        strategy.bind(StrategyContext(
            strategy.id, clock=self.clock, portfolio=self.portfolio, orders=self.orders, gateway=self.gateway,
            subscriptions=self.subscriptions, timers=self.timers, bus=self.bus, stop=self.request_stop,
        ))
        if self._running:
            self.supervisor.start(strategy)

    def add_check(self, check: PreTradeCheck) -> None:
        """Run ``check`` on every new order and modification (after those added before it)."""
        self.gateway.checks.append(check)

    def add_kill_switch(self, switch: KillSwitch) -> None:
        """Let ``switch`` halt this engine (it halts at once if its flag file exists).

        A broker's ``HaltRequested`` then engages the switch too, so that halt outlives the process.
        """
        switch.bind(self.gateway, self.orders, self.timers, self.bus, self.clock)

    @property
    def strategies(self) -> list[Strategy[Any]]:
        """The registered strategies."""
        return list(self._strategies.values())

    @property
    def checks(self) -> list[PreTradeCheck]:
        """The pre-trade checks, in the order they run."""
        return self.gateway.checks

    @property
    def journal_errors(self) -> int:
        """Journal writes of order events that failed (each logged)."""
        return self.lifecycle.journal_errors

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Connect, recover the previous run's orders, load the account, then start every strategy.

        Raises:
            RecoveryError: The journal's unfinished orders could not be reconciled (the broker is
                disconnected again and nothing trades).
            sqlite3.Error: The journal could not record the run (likewise).
            SubscriptionError: A strategy asked for bars no data can give (the engine is stopped again).
        """
        if self._running:
            return
        prefix = self.config.order_id_prefix or _base36(int(self.clock.now().timestamp() * 1000))
        run_id = self._unused_prefix(prefix)
        self.gateway.begin(run_id)
        if isinstance(self.broker, RunScoped):
            self.broker.begin_run(run_id)  # its ids never repeat an earlier run's
        self.broker.connect(self.dispatcher.enqueue)
        recovered = 0
        if self.journal is not None:
            try:
                venue = self.venue().journaled()  # never the account id in the clear on disk
                self.journal.record_run(run_id, venue, self.clock.now())
                recovered = recover(self.journal, self.orders, self.broker, self.dispatcher.enqueue, self.clock,
                                    venue=venue)
            except Exception:  # recovery failed or the journal cannot be written: nothing trades
                self.broker.disconnect()
                raise
        for event in self.dispatcher.take(lambda e: isinstance(e, OrderEvent | ExecutionReported)):
            self.dispatcher.process(event)  # journaled and booked before any strategy acts
        account = self.broker.account()
        self.portfolio.account_id = account.account_id
        self.portfolio.currency = account.currency
        self.portfolio.set_cash(account.cash)
        self.portfolio.load_positions(self.broker.positions())
        if recovered:
            log.info("recovered %d orders; %d still open", recovered, len(self.orders.open()))
        self._running = True
        self._start_strategies()
        self.subscriptions.freeze()  # from here on the dispatcher runs: no lookups on the network
        log.info("engine started with %d strategies on %s", len(self._strategies), self.broker.name)

    def _start_strategies(self) -> None:
        strategies = list(self._strategies.values())
        for index, strategy in enumerate(strategies):
            try:
                self.supervisor.start(strategy)  # an on_start that raises is a failure of that strategy only
            except SubscriptionError:  # ... but data it cannot have is a setup error: the run does not start
                self.supervisor.stopped.update(s.id for s in strategies[index + 1:])  # never started
                self.stop()
                raise

    def venue(self) -> Venue:
        """The broker and account this engine trades (the broker must be connected)."""
        account = self.broker.account_id if isinstance(self.broker, NamesAccount) else None
        return Venue(self.broker.name, account or self.broker.account().account_id)

    def _unused_prefix(self, prefix: str) -> str:
        # client order ids must never repeat one a journaled run used (two starts in one millisecond,
        # or a fixed order_id_prefix across restarts)
        used = set(self.journal.run_ids()) if self.journal is not None else set()
        candidate, n = prefix, 1
        while candidate in used:
            candidate, n = f"{prefix}-{n}", n + 1
        return candidate

    def stop(self) -> None:
        """Stop strategies, the dispatcher and subscriptions, then disconnect; idempotent.

        An ``on_stop`` that raises is that strategy's failure; the others still stop. Called on the
        dispatcher's own thread (:meth:`run`, a backtest), it first dispatches what the strategies'
        ``on_stop`` queued (cancels, say), so the journal records it. Order and execution reports the
        broker makes while it disconnects are applied and journaled too (strategies no longer hear them).
        """
        if not self._running:
            return
        self._running = False
        for strategy in list(self._strategies.values()):
            self.supervisor.stop(strategy)
        if not self.dispatcher.threaded:
            self.dispatcher.run_pending()
        self.dispatcher.stop_thread()
        self.subscriptions.release_all()
        self.broker.disconnect()
        # what the broker's threads reported on their way out (a cancel's late answer, a last fill) is
        # still applied and journaled: order state must not lose a fact because the run ended
        for event in self.dispatcher.take(lambda e: isinstance(e, OrderEvent | ExecutionReported)):
            self.dispatcher.process(event)
        log.info("engine stopped")

    @property
    def running(self) -> bool:
        """Whether the engine has started and not stopped."""
        return self._running

    # ----------------------------------------------------------------- dispatching

    def enqueue(self, event: AnyEvent) -> None:
        """Queue an event for the dispatcher; safe to call from any thread."""
        self.dispatcher.enqueue(event)

    def run_pending(self, limit: int | None = None) -> int:
        """Process queued events and due timers on this thread; return how many events ran."""
        return self.dispatcher.run_pending(limit)

    def process(self, event: AnyEvent) -> None:
        """Update state for ``event`` and publish it (dispatcher thread only)."""
        self.dispatcher.process(event)

    def run(self, until: Callable[[], bool] | None = None, duration: timedelta | None = None) -> None:
        """Dispatch on this thread until stopped, ``until()`` is true, or ``duration`` has passed; then stop.

        Ctrl-C stops the engine cleanly (recorded in :attr:`outcome`). An application that wants
        the current event finished first installs a SIGINT handler calling :meth:`interrupt`.
        """
        try:
            self.dispatcher.run(lambda: self._running, until, duration)
        except KeyboardInterrupt:
            self.outcome.interrupt()
            log.warning("interrupted; stopping")
        finally:
            self.run_pending()
            self.stop()

    def request_stop(self) -> None:
        """Ask :meth:`run` (or the dispatcher thread) to finish after the current event; thread-safe."""
        self.dispatcher.request_stop()

    def interrupt(self) -> None:
        """Record an interruption (Ctrl-C) and stop after the current event; safe in a signal handler.

        A backtest stops replaying after the current bar time.
        """
        self.outcome.interrupt()
        self.dispatcher.request_stop()

    def start_dispatcher(self) -> None:
        """Run the dispatcher on a background thread (call after :meth:`start`)."""
        self.dispatcher.start_thread()

    # ----------------------------------------------------------------- for applications and tests

    def instrument(self, symbol: str) -> Instrument:
        """The instrument for ``symbol`` (see :meth:`Subscriptions.instrument`)."""
        return self.subscriptions.instrument(symbol)

    def next_client_order_id(self) -> str:
        """A new client order id, unique within this run and across restarts."""
        return self.gateway.next_client_order_id()

    def submit_order(self, request: OrderRequest) -> Order:
        """Check, track and send an order (see :meth:`OrderGateway.submit`)."""
        return self.gateway.submit(request)

    def modify_order(self, request: OrderRequest) -> None:
        """Send a replacement ticket (see :meth:`OrderGateway.modify`)."""
        self.gateway.modify(request)

    def cancel_order(self, client_order_id: str) -> None:
        """Ask to cancel an order (see :meth:`OrderGateway.cancel`)."""
        self.gateway.cancel(client_order_id)

    def subscribe(self, event_type: type, handler: Callable[[Any], None], sender: Any = ANY) -> Subscription:
        """Subscribe a handler on the engine's bus (see :meth:`EventBus.subscribe`)."""
        return self.bus.subscribe(event_type, handler, sender=sender)

    def _on_connected(self, event: BrokerConnected) -> None:
        self.lifecycle.on_connected(event)  # trusted again first, then what waited goes out
        self.gateway.check_held()

    def _on_data_gap(self, event: DataGap) -> None:
        self.bus.publish(event, event.symbol)  # to the strategies that subscribed to the instrument

    def _on_halt_requested(self, event: HaltRequested) -> None:
        log.error("%s asks to halt trading: %s", event.source, event.reason)
        self.gateway.halt(f"{event.source}: {event.reason}")  # at once; a kill switch also engages, below
        self.bus.publish(event)

    def _on_account(self, event: AccountUpdated) -> None:
        self.portfolio.set_cash(event.account.cash)
        self.bus.publish(event)


def _base36(value: int) -> str:
    digits = []
    while value:
        value, rem = divmod(value, 36)
        digits.append(_BASE36[rem])
    return "".join(reversed(digits)) or "0"
