"""The simulated gateway's state, composed from its parts, independent of HTTP.

:class:`GatewayCore` owns the clock, scheduler, session, market, books, orders, reply dialogue,
pacing, faults and websocket hub, and wires their notifications together. Route handlers, the
websocket handler and the control API all operate on one instance, always from the server's event
loop thread, so nothing here needs a lock.
"""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from framework.clock import Clock
from simulators.ibkr import fields
from simulators.ibkr.account import Execution
from simulators.ibkr.account import Ledger
from simulators.ibkr.config import MarketHours
from simulators.ibkr.config import MarketMode
from simulators.ibkr.config import SessionState
from simulators.ibkr.config import SimulatorConfig
from simulators.ibkr.faults import Faults
from simulators.ibkr.hub import FrameKind
from simulators.ibkr.hub import Hub
from simulators.ibkr.instruments import BarRow
from simulators.ibkr.instruments import Instrument
from simulators.ibkr.instruments import Universe
from simulators.ibkr.market import MarketModel
from simulators.ibkr.orders import Order
from simulators.ibkr.pacing import Pacer
from simulators.ibkr.persistence import BookStore
from simulators.ibkr.persistence import SavedBooks
from simulators.ibkr.questions import ReplyBook
from simulators.ibkr.render_orders import sor_fields
from simulators.ibkr.render_orders import trade
from simulators.ibkr.render_portfolio import Totals
from simulators.ibkr.render_portfolio import iserver_accounts
from simulators.ibkr.render_portfolio import ledger_stream
from simulators.ibkr.render_portfolio import pnl
from simulators.ibkr.render_portfolio import summary_stream
from simulators.ibkr.scheduler import Handle
from simulators.ibkr.scheduler import Scheduler
from simulators.ibkr.scheduler import next_occurrence
from simulators.ibkr.session import Session
from simulators.ibkr.sessions import MarketSessions
from simulators.ibkr.trading import Trading

log = logging.getLogger(__name__)


class GatewayCore:
    """Everything the simulated gateway knows, with the rules that connect the parts.

    Args:
        config: Initial configuration.
        clock: Time source for every time-dependent rule.
        bars: Optional bars to replay (from a bars CSV).
        store: Where the books are saved as they change (a gateway process started with a state file).
        saved: Books an earlier process saved, to continue from.
    """

    def __init__(self, config: SimulatorConfig, clock: Clock, bars: list[BarRow] | None = None, *,
                 store: BookStore | None = None, saved: SavedBooks | None = None) -> None:
        self.config = config
        self.initial_config = config
        self.clock = clock
        self.bars = bars or []
        self.scheduler = Scheduler(clock)
        self.hub = Hub(config.ws_binary_frames)
        self.faults = Faults()
        self.pacer = Pacer(lambda: self.config, clock)
        self.session = Session(lambda: self.config, clock, self.scheduler, self._on_session_change)
        self.sessions = MarketSessions(lambda: self.config.market_hours is MarketHours.EXCHANGE, clock)
        self._frozen = False  # whether quotes were last published as frozen
        self._jobs: list[Handle] = []
        self._waits: set[asyncio.Future[None]] = set()
        self.history_in_flight = 0
        self.listening = True  # False while the gateway is down (SimulatedGateway.take_down)
        # read-only test aids: placement POSTs that arrived per cOID, before pacing and session checks;
        # the arrival number of the latest API request; (arrival number, cOID) of every placement
        self.placement_posts: dict[str, int] = {}
        self.request_seq = 0
        self.placement_arrivals: list[tuple[int, str | None]] = []
        self.cancel_requests = 0  # order DELETEs applied (read-only test aid)
        self.store = store
        self._build_books(saved)

    def _build_books(self, saved: SavedBooks | None = None) -> None:
        config = self.config
        starts: dict[str, Decimal] = {}
        for bar in self.bars:
            starts.setdefault(bar.symbol, bar.open)
        self.universe = Universe({b.symbol for b in self.bars}, starts)
        self.rng = random.Random(config.seed)
        self.market = MarketModel(self.universe.all(), self.rng, config.volatility,
                                  config.regime_switch_probability, self.bars,
                                  regime_steps=config.regime_steps, trend=config.trend)
        self.ledger = Ledger(config.starting_cash)
        self.trading = Trading(lambda: self.config, clock=self.clock, scheduler=self.scheduler,
                               universe=self.universe, market=self.market, ledger=self.ledger, events=self,
                               sessions=self.sessions)
        self.replies = ReplyBook(random.Random(config.seed + 1), lambda: self.config.reply_id_format)
        self.position_cache: tuple[list[dict[str, Any]], float] | None = None
        self._rendered: dict[int, tuple[tuple[int, str], dict[str, Any]]] = {}
        if saved is not None:
            for conid, values in saved.quotes.items():
                self.market.restore(conid, values)
            self.trading.restore(saved.orders, saved.coids, saved.executions)
        if self.store is not None:
            self.ledger.on_book = self.store.execution  # saved before it is applied or reported
        self._apply_halts()

    def _apply_halts(self) -> None:
        for conid in self.config.halted_conids:
            if self.market.quote(conid) is not None:
                self.market.set_quote(conid, halted=True)

    # -- lifecycle -------------------------------------------------------------------------------

    def start_jobs(self) -> None:
        """(Re)start the recurring jobs: heartbeat, P&L, maintenance, session changes, the market in auto mode."""
        for job in self._jobs:
            job.cancel()
        config = self.config
        self._jobs = [
            self.scheduler.call_every(config.heartbeat_interval, self._heartbeat),
            self.scheduler.call_every(config.spl_interval, self._push_pnl),
        ]
        if config.market_mode is MarketMode.AUTO:
            interval = 1.0 / config.replay_speed if self.market.replaying else config.tick_interval
            self._jobs.append(self.scheduler.call_every(interval, lambda: self.step_market(1)))
        if config.nightly_reset_at is not None:
            self._jobs.append(self.scheduler.call_repeatedly(self._until_nightly_reset, self._scheduled_reset))
        if config.weekly_maintenance_at is not None:
            self._jobs.append(self.scheduler.call_repeatedly(self._until_weekly_maintenance,
                                                             self._scheduled_weekly_maintenance))
        if config.market_hours is MarketHours.EXCHANGE:
            self._jobs.append(self.scheduler.call_repeatedly(self.sessions.seconds_to_next_change,
                                                             self.session_changed))
        self.session_changed()

    def _until_nightly_reset(self) -> float:
        at = self.config.nightly_reset_at
        assert at is not None  # only scheduled when set
        now = self.clock.now()
        # Look from one second ahead so a run that lands a hair early cannot fire twice in one night.
        due = next_occurrence(now + timedelta(seconds=1), at, ZoneInfo(self.config.nightly_reset_timezone))
        return (due - now).total_seconds()

    def _scheduled_reset(self) -> None:
        log.info("scheduled nightly reset at %s", self.clock.now().isoformat())
        self.session.nightly_reset(self.config.nightly_maintenance_seconds)

    def _until_weekly_maintenance(self) -> float:
        config = self.config
        assert config.weekly_maintenance_at is not None  # only scheduled when set
        now = self.clock.now()
        due = next_occurrence(now + timedelta(seconds=1), config.weekly_maintenance_at,
                              ZoneInfo(config.weekly_maintenance_timezone), config.weekly_maintenance_weekday)
        return (due - now).total_seconds()

    def _scheduled_weekly_maintenance(self) -> None:
        log.info("scheduled weekly maintenance at %s", self.clock.now().isoformat())
        self.session.nightly_reset(self.config.weekly_maintenance_seconds)

    async def wait(self, seconds: float) -> None:
        """Wait ``seconds`` of clock time (a :class:`SimulatedClock` must be advanced); ``reset`` ends waits."""
        if seconds <= 0:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waits.add(done)
        handle = self.scheduler.call_later(seconds, lambda: _settle(done))
        try:
            await done
        finally:
            handle.cancel()
            self._waits.discard(done)

    def pump(self) -> None:
        """Apply the idle rule and run every job that is due on the clock."""
        self.session.check_idle()
        self.scheduler.run_due()

    def reset(self, config: SimulatorConfig | None = None) -> None:
        """Return to a freshly started gateway (same clock), closing every websocket."""
        if config is not None:
            self.config = config
        for client in list(self.hub.clients):
            self.hub.send_raw(client, FrameKind.CLOSE)
        self.scheduler.clear()
        self.faults.clear()
        self.hub.refusing = False
        self.pacer.reset()
        self.placement_posts = {}
        self.request_seq = 0
        self.placement_arrivals = []
        self.cancel_requests = 0
        if self.store is not None:
            self.store.clear()
        self.hub.binary = self.config.ws_binary_frames
        self.session = Session(lambda: self.config, self.clock, self.scheduler, self._on_session_change)
        # Requests waiting on the clock finish now (their jobs are gone); history_in_flight is not
        # zeroed because each of them still decrements it on the way out.
        for done in list(self._waits):
            _settle(done)
        self._build_books()
        self.start_jobs()

    def reconfigure(self, config: SimulatorConfig) -> None:
        """Switch to a new configuration while keeping all state.

        A changed account (``account_id`` or ``paper``) is announced on every authenticated websocket
        with an ``act`` push, as the gateway announces account changes.
        """
        previous, self.config = self.config, config
        self.hub.binary = config.ws_binary_frames
        self.market.volatility = config.volatility
        self.market.regime_switch_probability = config.regime_switch_probability
        self._apply_halts()
        self.start_jobs()
        if (previous.account_id, previous.paper) != (config.account_id, config.paper):
            marker = f"{self.session.session_id[:8]}.{self.session.scope.epoch:08x}"
            self.hub.broadcast({"topic": "act", "args": iserver_accounts(config, marker)})

    # -- time ------------------------------------------------------------------------------------

    def now_ms(self) -> int:
        """Return the clock's time as epoch milliseconds."""
        return int(self.clock.now().timestamp() * 1000)

    # -- market ----------------------------------------------------------------------------------

    def instrument(self, conid: int) -> Instrument | None:
        """Return an instrument by conid."""
        return self.universe.get(conid)

    def rendered(self, conid: int) -> dict[str, Any]:
        """Return every field of a conid, rendered (cached per quote version)."""
        quote, inst = self.market.quote(conid), self.universe.get(conid)
        if quote is None or inst is None:
            return {}
        # 6509: R real-time / D delayed, Z / Y when frozen (the market is closed)
        frozen = self.sessions.frozen
        availability = (("Y" if frozen else "D") if self.config.delayed_data else ("Z" if frozen else "R")) + "pB"
        cached = self._rendered.get(conid)
        if cached is not None and cached[0] == (quote.version, availability):
            return cached[1]
        values = fields.render(quote, inst, self.config.sizes_in_lots, availability)
        self._rendered[conid] = ((quote.version, availability), values)
        return values

    def session_changed(self) -> None:
        """Apply the trading session now: freeze or thaw quotes, expire, hold and release orders."""
        frozen = self.sessions.frozen
        if frozen != self._frozen:
            self._frozen = frozen
            log.info("market %s at %s", "closed: quotes frozen" if frozen else "open", self.clock.now().isoformat())
            self.market_changed(self.market.conids())  # field 6509 changed for every instrument
        self.trading.on_session_change()

    def step_market(self, steps: int) -> None:
        """Move the market ``steps`` times, pushing ``smd`` updates and matching orders (not while closed)."""
        if self.sessions.frozen:
            return  # a closed market does not move: quotes keep their last values, frozen
        for _ in range(steps):
            changed = self.market.step()
            self.market_changed(changed)
        if self.store is not None:
            self.store.market(self.market.quotes(), self.clock.monotonic())

    def market_changed(self, conids: list[int]) -> None:
        """Publish changed quotes and let working orders react to them."""
        if self.session.authenticated:
            now = self.now_ms()
            for conid in conids:
                self.hub.market_update(conid, self.rendered(conid), now)
        self.trading.on_market(conids)

    def marks(self) -> dict[int, Decimal]:
        """Return the last price of every instrument with a position."""
        marks = {}
        for conid in self.ledger.positions:
            quote = self.market.quote(conid)
            if quote is not None:
                marks[conid] = quote.last
        return marks

    def totals(self) -> Totals:
        """Return account totals at the current marks."""
        return Totals(self.ledger, self.marks())

    def pnl(self) -> dict[str, Any]:
        """Return the P&L partition (daily P&L counts from simulator start)."""
        totals = self.totals()
        return pnl(self.config, totals, totals.realized + totals.unrealized - self.ledger.commissions)

    # -- notifications -----------------------------------------------------------------------------

    def order_changed(self, order: Order, fields: dict[str, Any]) -> None:
        """Save the order (with a state file) and relay the change on ``sor`` (unless silenced)."""
        if self.store is not None:
            self.store.order(order)
        if self.session.scope.sor_silenced or not self.session.authenticated:
            return
        self.hub.order_update({"acct": order.account, "orderId": order.order_id, **sor_fields(fields)})

    def executed(self, execution: Execution) -> None:
        """Relay an execution on ``str``."""
        inst = self.universe.get(execution.conid)
        if inst is not None and self.session.authenticated:
            self.hub.trade_update([trade(execution, inst, self.config.username)])
        self.account_changed()

    def account_changed(self) -> None:
        """Push fresh ``ssd``/``sld`` results to their subscribers (the books changed: a fill)."""
        subscribers = [c for c in self.hub.authenticated_clients() if c.summary or c.ledger]
        if not subscribers or not self.session.authenticated:
            return
        totals, ts = self.totals(), self.now_ms() // 1000
        for client in subscribers:
            for account in sorted(client.summary):
                self.hub.send(client, summary_stream(account, totals, ts))
            for account in sorted(client.ledger):
                self.hub.send(client, ledger_stream(account, totals, ts))

    def _heartbeat(self) -> None:
        self.hub.broadcast({"topic": "system", "hb": self.now_ms()})

    def _push_pnl(self) -> None:
        subscribers = [c for c in self.hub.authenticated_clients() if c.pnl]
        if subscribers and self.session.authenticated:
            payload = {"topic": "spl", "args": self.pnl()}
            for client in subscribers:
                self.hub.send(client, payload)

    def _on_session_change(self, old: SessionState, new: SessionState) -> None:
        log.info("session %s -> %s", old, new)
        if new is SessionState.AUTHENTICATED:
            self.replies.clear()
            self.hub.broadcast({"topic": "sts", "args": {"authenticated": True}})
            self.hub.broadcast({"topic": "sts", "args": {"competing": False}})
            return
        if new is SessionState.COMPETING:
            self.hub.broadcast({"topic": "sts", "args": {"competing": True}})
        self.hub.broadcast({"topic": "sts", "args": {"authenticated": False}})
        if new is SessionState.LOGGED_OUT or self.config.close_ws_on_auth_loss:
            for client in list(self.hub.clients):
                self.hub.send_raw(client, FrameKind.CLOSE)


def _settle(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_result(None)
