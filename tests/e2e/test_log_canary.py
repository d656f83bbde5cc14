"""Canary: a real session at DEBUG, logged to a file the way ``tradebus -vv --log-file`` does, never
shows the full account id or the session cookie, tracebacks included.

The run trades on the simulated gateway over HTTPS/WSS with the IBKR adapter; its strategy fails
with an error that carries the account id and the websocket cookie (as a library error echoing its
request would), which the dispatcher logs with the traceback; then the gateway reports a competing
session, which the adapter refuses to take over. The captured file is searched for the secrets.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from brokers.ibkr import IbkrBroker
from brokers.ibkr import IbkrConfig
from framework.clock import SystemClock
from framework.config import EngineConfig
from framework.config import ErrorPolicy
from framework.config import StrategyConfig
from framework.events import OrderFilled
from framework.marketdata import Quote
from framework.redaction import mask_account
from framework.strategy import Strategy
from simulators.ibkr import SimulatedGateway
from simulators.ibkr import SimulatorConfig
from tradebus import cli
from tradebus.assembly import assemble
from tradebus.assembly import run_session
from tradebus.journal import SqliteJournal

BOUND = 60.0  # generous bound of every wait (seconds)


class Watch(logging.Handler):
    """Sets an event once a record containing ``text`` has been emitted."""

    def __init__(self, text: str) -> None:
        super().__init__(logging.DEBUG)
        self.text = text
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.seen.set()


class FailAfterFill(Strategy[StrategyConfig]):
    """Buys one share on the first quote; on its fill, fails with an error that carries secrets."""

    def __init__(self, secret_text: str) -> None:
        super().__init__()
        self.secret_text = secret_text
        self.failed = threading.Event()
        self.bought = False

    def on_start(self) -> None:
        self.subscribe_quotes("AAPL")

    def on_quote(self, quote: Quote) -> None:
        if not self.bought:
            self.bought = True
            self.buy("AAPL", Decimal(1))

    def on_order_filled(self, event: OrderFilled) -> None:
        self.failed.set()
        try:
            raise ConnectionError(f"request refused; sent {self.secret_text}")
        except ConnectionError as cause:
            raise RuntimeError(f"could not book the fill: {self.secret_text}") from cause


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = root.level, list(root.handlers)
    levels = {name: logging.getLogger(name).level for name in cli.QUIET_LOGGERS}
    yield
    for handler in root.handlers:
        if handler not in saved[1]:
            handler.close()
    root.handlers[:] = saved[1]
    root.setLevel(saved[0])
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize("account", ["DU1234567", "ZX40718Q"])  # IBKR's form, and any other configured form
def test_debug_log_file_holds_no_account_id_and_no_session_cookie(tmp_path: Path, account: str) -> None:
    log_file = tmp_path / "logs" / "tradebus.log"
    cli.configure_logging(2, log_file=log_file)
    competing = Watch("not taking it over")
    logging.getLogger().addHandler(competing)
    config = SimulatorConfig(account_id=account, tick_interval=0.05)
    with SimulatedGateway(port=0, seed=21, config=config) as gw:
        cookie = 'api={"session":"' + gw.session_id + '"}'
        strategy = FailAfterFill(f"account {account}: POST /iserver/account/{account}/orders with Cookie: {cookie}")
        clock = SystemClock()
        broker = IbkrBroker(IbkrConfig(base_url=gw.base_url, ws_url=gw.ws_url, ca_file=gw.ca_file,
                                       account_id=account, auto_confirm_message_ids=frozenset({"o403", "o354"})),
                            clock=clock)
        # the strategy keeps running after its error so that the competing session is still heard
        run = assemble(broker, clock, [strategy], config=EngineConfig(on_strategy_error=ErrorPolicy.CONTINUE),
                       journal=SqliteJournal(tmp_path / "journal.sqlite"), halt_file=tmp_path / "HALT")
        done = threading.Event()
        runner = threading.Thread(target=run_session, args=(run,),
                                  kwargs={"until": done.is_set, "duration": None, "view": None}, daemon=True)
        runner.start()
        try:
            assert strategy.failed.wait(BOUND), "the order never filled"
            gw.compete()  # the adapter sees the competing session and refuses to take it over
            assert competing.seen.wait(BOUND), "the competing session was never reported"
        finally:
            done.set()
            runner.join(BOUND)
        session_ids = {gw.session_id, cookie.split('"')[3]}
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = log_file.read_text(encoding="utf-8")
    # the run really logged what could leak: DEBUG request lines, the traceback, the refusal
    assert "DEBUG" in text
    assert "/iserver/account/" in text
    assert "Traceback (most recent call last)" in text
    assert "RuntimeError: could not book the fill" in text
    assert "competing session: not taking it over" in text
    assert mask_account(account) in text  # masked, not removed: the account is still recognisable
    # and none of it is in the file
    assert account not in text
    for session_id in session_ids:
        assert session_id not in text
    assert stat.S_IMODE(os.stat(log_file).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(log_file.parent).st_mode) == 0o700
