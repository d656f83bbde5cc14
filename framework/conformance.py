"""A conformance kit for broker adapters: event sequences every broker must produce.

An adapter's test suite supplies a :class:`Harness` (how to build its broker against a venue it
controls, and how to let that venue make progress) and runs every check in :data:`CHECKS`::

    @pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
    def test_conformance(check, harness):
        check(harness)

Each check builds a fresh broker, connects it to a real :class:`~framework.engine.Engine` (so order
state, the portfolio and routing are the framework's own) and asserts on what the engine sees. A
check raises ``AssertionError`` with a sentence saying what the broker did wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Protocol

from framework.broker import Broker
from framework.broker import ConnectionState
from framework.clock import Clock
from framework.config import EngineConfig
from framework.engine import Engine
from framework.events import BrokerConnected
from framework.events import OrderAccepted
from framework.events import OrderCancelled
from framework.events import OrderFilled
from framework.events import OrderUpdated
from framework.models import OrderRequest
from framework.models import OrderStatus
from framework.models import OrderType
from framework.models import Side
from framework.testing import EventRecorder


class Harness(Protocol):
    """What an adapter's tests provide to run the conformance checks.

    Attributes:
        symbol: An instrument the venue trades.
        clock: The clock the broker was built with.
    """

    symbol: str
    clock: Clock

    def make_broker(self) -> Broker:
        """Build a new, unconnected broker against the harness's venue."""
        ...

    def far_limit_price(self, side: Side) -> Decimal:
        """A limit price for ``side`` that will not fill soon (well away from the market)."""
        ...

    def pump(self, engine: Engine, until: Callable[[], bool]) -> None:
        """Let the venue make progress and drain ``engine`` until ``until()`` is true.

        Raises:
            AssertionError: If the condition does not come true within the harness's bound.
        """
        ...


class _Run:
    """One broker + engine + recorder, for the duration of a check."""

    def __init__(self, harness: Harness) -> None:
        self.harness = harness
        self.broker = harness.make_broker()
        self.engine = Engine(self.broker, clock=harness.clock, config=EngineConfig(order_id_prefix="CK"))
        self.recorder = EventRecorder(self.engine.bus)
        self.engine.start()
        self.instrument = self.engine.instrument(harness.symbol)
        self._n = 0

    def request(self, side: Side, quantity: int, **ticket: object) -> OrderRequest:
        self._n += 1
        return OrderRequest.model_validate(
            {
                "client_order_id": self.engine.next_client_order_id(),
                "instrument": self.instrument,
                "side": side,
                "quantity": quantity,
                **ticket,
            }
        )

    def status(self, client_order_id: str) -> OrderStatus:
        order = self.engine.orders.get(client_order_id)
        assert order is not None, f"order {client_order_id} vanished from the order book"
        return order.status

    def close(self) -> None:
        self.engine.stop()
        self.recorder.close()


def _with_run(check: Callable[[_Run], None]) -> Callable[[Harness], None]:
    def run_check(harness: Harness) -> None:
        run = _Run(harness)
        try:
            check(run)
        finally:
            run.close()

    run_check.__name__ = check.__name__
    run_check.__doc__ = check.__doc__
    return run_check


@_with_run
def connects_and_reports_connected(run: _Run) -> None:
    """After connect the broker is CONNECTED and has emitted BrokerConnected."""
    run.harness.pump(run.engine, lambda: bool(run.recorder.of(BrokerConnected)))
    assert run.broker.connection_state is ConnectionState.CONNECTED, "connect() returned but not CONNECTED"
    account = run.broker.account()
    assert account.account_id, "account() must name the account"


@_with_run
def market_order_fills_completely(run: _Run) -> None:
    """A market order is acknowledged or filled, and fills add up to its quantity with one position change."""
    request = run.request(Side.BUY, 10)
    run.engine.submit_order(request)
    cid = request.client_order_id
    run.harness.pump(run.engine, lambda: run.status(cid) is OrderStatus.FILLED)
    fills = [e.fill for e in run.recorder.events if isinstance(e, OrderFilled) and e.client_order_id == cid]
    assert len(fills) == 1, "exactly one OrderFilled must complete a market order"
    assert run.engine.portfolio.quantity(run.harness.symbol) >= Decimal(10), "the fill did not reach the portfolio"


@_with_run
def limit_order_rests_and_cancels(run: _Run) -> None:
    """A far limit order is accepted and rests; cancel ends it CANCELLED with no fill."""
    request = run.request(Side.BUY, 5, order_type=OrderType.LIMIT, limit_price=run.harness.far_limit_price(Side.BUY))
    run.engine.submit_order(request)
    cid = request.client_order_id
    run.harness.pump(run.engine, lambda: bool([e for e in run.recorder.of(OrderAccepted) if e.client_order_id == cid]))
    run.engine.cancel_order(cid)
    run.harness.pump(run.engine, lambda: run.status(cid) is OrderStatus.CANCELLED)
    assert not [e for e in run.recorder.of(OrderFilled) if e.client_order_id == cid], "a cancelled order filled"
    assert [e for e in run.recorder.of(OrderCancelled) if e.client_order_id == cid], "no OrderCancelled emitted"


@_with_run
def working_order_can_be_modified(run: _Run) -> None:
    """Modifying a resting limit order's price is confirmed with OrderUpdated carrying the new ticket."""
    far = run.harness.far_limit_price(Side.BUY)
    request = run.request(Side.BUY, 5, order_type=OrderType.LIMIT, limit_price=far)
    run.engine.submit_order(request)
    cid = request.client_order_id
    run.harness.pump(run.engine, lambda: run.status(cid) is OrderStatus.ACCEPTED)
    lower = far - run.instrument.tick_size * 10
    run.engine.modify_order(request.model_copy(update={"limit_price": lower}))
    run.harness.pump(run.engine, lambda: bool([e for e in run.recorder.of(OrderUpdated) if e.client_order_id == cid]))
    order = run.engine.orders.get(cid)
    assert order is not None
    assert order.request.limit_price == lower, "OrderUpdated must carry the modified ticket"
    run.engine.cancel_order(cid)
    run.harness.pump(run.engine, lambda: run.status(cid) is OrderStatus.CANCELLED)


@_with_run
def reconnect_keeps_working_orders(run: _Run) -> None:
    """After disconnect and connect again, a resting order is still reported open and can be cancelled."""
    request = run.request(Side.BUY, 5, order_type=OrderType.LIMIT, limit_price=run.harness.far_limit_price(Side.BUY))
    run.engine.submit_order(request)
    cid = request.client_order_id
    run.harness.pump(run.engine, lambda: run.status(cid) is OrderStatus.ACCEPTED)
    run.broker.disconnect()
    run.broker.connect(run.engine.enqueue)
    run.harness.pump(run.engine, lambda: run.broker.connection_state is ConnectionState.CONNECTED)
    open_ids = {o.client_order_id for o in run.broker.open_orders()}
    assert cid in open_ids, "a working order disappeared across a reconnect"
    run.engine.cancel_order(cid)
    run.harness.pump(run.engine, lambda: run.status(cid) is OrderStatus.CANCELLED)


CHECKS: tuple[Callable[[Harness], None], ...] = (
    connects_and_reports_connected,
    market_order_fills_completely,
    limit_order_rests_and_cancels,
    working_order_can_be_modified,
    reconnect_keeps_working_orders,
)
"""Every conformance check, in a sensible order."""
