"""R18: the adapter trades only the account it was started for, and only a paper one without the live flag.

Scenario (reliability.md section 5, R18): the gateway reports a live ``U…`` account (or an account
that is not clearly paper: no ``DEMO`` type) while the adapter runs in paper mode (``allow_live``
off); a live account without the flag; and, while running, a websocket ``act`` push listing another
account (someone else logged in to the gateway).

Pass criteria and how each is measured (the real simulated gateway over HTTPS/WSS):

* Start-up refused: ``Engine.start`` raises ``BrokerConnectionError`` naming the account and the
  fix; the gateway's placement log is empty and no websocket was opened. The same gateway
  with ``allow_live`` connects (the refusals are about the account, nothing else).
* ``act`` for another account while running: trading is halted (``HaltRequested`` with the reason,
  the engine's order gateway halted, the kill switch engaged and its flag file written, so a restart
  comes back halted) and an ERROR line is logged; 0 orders reach the gateway after the push: the
  gateway's arrival numbers of placement requests are all below the one taken when it pushed, an
  order queued on the adapter's worker before the push is never sent, and orders submitted after it
  are denied. Driven with the stepped harness (:mod:`tests.reliability.stepped`), so "after the
  push" is exact.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from pathlib import Path

import pytest

from brokers.ibkr import IbkrBroker
from brokers.ibkr import IbkrConfig
from framework.clock import SystemClock
from framework.engine import Engine
from framework.errors import BrokerConnectionError
from framework.events import HaltRequested
from framework.events import OrderDenied
from framework.killswitch import KillSwitch
from framework.models import OrderRequest
from framework.models import OrderStatus
from framework.models import OrderType
from framework.models import Side
from simulators.ibkr import SimulatedGateway
from simulators.ibkr import SimulatorConfig
from tests.reliability.stepped import Stepped

SEED = 20240618


@pytest.mark.parametrize(("account", "paper", "allow_live", "refusal"), [
    ("U7654321", True, False, "account U****321 is not a paper account"),  # a U... id flagged paper
    ("DU7654321", False, False, "account DU****321 is not a paper account"),  # no DEMO, isPaper false
    ("U7654321", False, False, "pass --i-understand-live to tradebus live"),  # live without the flag
], ids=["paper-mode-U-account", "paper-mode-no-DEMO", "live-without-flag"])
def test_r18_start_up_refuses_an_account_that_is_not_allowed(
    account: str, paper: bool, allow_live: bool, refusal: str,
) -> None:
    config = SimulatorConfig(account_id=account, paper=paper, pacing_enabled=False)
    with SimulatedGateway(port=0, seed=SEED, config=config) as gw:
        adapter = IbkrConfig(base_url=gw.base_url, ws_url=gw.ws_url, ca_file=gw.ca_file, allow_live=allow_live)
        engine = Engine(IbkrBroker(adapter, clock=SystemClock()), clock=SystemClock())
        with pytest.raises(BrokerConnectionError) as refused:
            engine.start()
        assert refusal in str(refused.value)  # the adapter's error texts mask the id (R19)
        state = gw.state()
        assert state["placement_posts"] == {}
        assert gw.ws_connections() == []
        # the very same gateway, with the live flag: connects (so the refusal was about the account)
        allowed = IbkrBroker(adapter.model_copy(update={"allow_live": True}), clock=SystemClock())
        try:
            allowed.connect(lambda _event: None)
            assert allowed.connection_state == "connected"
        finally:
            allowed.disconnect()


def limit(h: Stepped, cid: str) -> OrderRequest:
    last = Decimal(h.gw.quote("AAPL")["last"])
    return OrderRequest(client_order_id=cid, instrument=h.engine.instrument("AAPL"), side=Side.BUY,
                        quantity=Decimal(3), order_type=OrderType.LIMIT,
                        limit_price=(last * Decimal("0.99")).quantize(Decimal("0.01")))


def test_r18_an_act_push_for_another_account_halts_and_no_order_reaches_the_gateway(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    sim = SimulatorConfig(market_mode="manual", pacing_enabled=False, submit_latency=0.05)
    h = Stepped(tmp_path, seed=SEED, sim=sim)
    flag = tmp_path / "HALT"
    h.engine.add_kill_switch(KillSwitch(flag))
    try:
        h.start()
        h.engine.instrument("AAPL")
        for cid in ("working-1", "working-2"):
            h.engine.submit_order(limit(h, cid))
        h.until(lambda: all(h.engine.orders.get(c).status is OrderStatus.ACCEPTED  # type: ignore[union-attr]
                            for c in ("working-1", "working-2")), "two working orders", 0.1)
        h.engine.submit_order(limit(h, "queued"))  # on the adapter's worker, not sent yet
        assert h.broker.outstanding_commands == 1
        pushed = h.gw.state()["request_seq"]
        with caplog.at_level(logging.ERROR):
            h.gw.configure(account_id="U7654321", paper=False)  # another user's session: pushed as act
            h.step(0.0)
            for cid in ("after-1", "after-2"):
                h.engine.submit_order(limit(h, cid))
            for _ in range(20):  # the adapter keeps trying to recover the session meanwhile
                h.gw.step_market(1)
                h.step(0.5)
        reason = "the gateway's session no longer lists account DU****567 (it lists U****321)"
        [halt] = h.recorder.of(HaltRequested)
        assert (halt.source, halt.reason) == ("ibkr", reason)
        assert h.engine.gateway.halt_reason == f"ibkr: {reason}"
        assert KillSwitch(flag).halted  # written to the flag file: a restart comes back halted
        assert any(r.levelno >= logging.ERROR and reason in r.getMessage() for r in caplog.records)
        denied = {e.client_order_id: e.reason for e in h.recorder.of(OrderDenied)}
        assert set(denied) == {"queued", "after-1", "after-2"}
        assert all("trading halted" in r for r in denied.values())
        state = h.gw.state()
        assert [seq for seq, _ in state["placement_arrivals"] if seq > pushed] == []  # 0 orders after it
        assert set(state["placement_posts"]) == {"working-1", "working-2"}
        print(f"\nR18: act for another account -> halted; {len(denied)} orders denied, 0 placements after the push")
    finally:
        h.stop()
