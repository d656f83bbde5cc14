"""The strategy of the R19 canary sweep: trades when the test says so, notes what happens, fails on demand.

It is loaded by name from the run's settings (``[strategy] spec``), like any user strategy, with a
configuration that holds a password and a token (a notifier's, say). It is careless with them, as a
strategy author may be: it logs its configuration and the token, and the error it raises when an
order is rejected quotes them, with the account id and the gateway's session cookie.

The test drives it through :data:`SCRIPT`: commands taken on the next quote, or when the broker
degrades (``buy``, ``sell``, ``reject``: an order the gateway questions with a prompt the adapter does
not confirm, ``stop``), and notes of what the strategy heard (``filled``, ``buy``/``sell`` fills,
``rejected``, ``denied``, ``held``, ``degraded``, ``connected`` ...) to wait on.
"""

from __future__ import annotations

import queue
import threading
from collections import Counter
from decimal import Decimal

from framework.config import StrategyConfig
from framework.events import BrokerConnected
from framework.events import BrokerDegraded
from framework.events import BrokerDisconnected
from framework.events import OrderAccepted
from framework.events import OrderDenied
from framework.events import OrderFilled
from framework.events import OrderHeld
from framework.events import OrderRejected
from framework.marketdata import Quote
from framework.strategy import Strategy


class Script:
    """Commands from the test to the strategy, and notes back (thread-safe)."""

    def __init__(self) -> None:
        self.commands: queue.SimpleQueue[str] = queue.SimpleQueue()  # taken on the next quote
        self.when_degraded: queue.SimpleQueue[str] = queue.SimpleQueue()  # taken when the broker degrades
        self.secret_text = ""  # what the strategy's error quotes (the account id and the session cookie)
        self.events: list[str] = []  # repr of every event the strategy was handed
        self._notes: Counter[str] = Counter()
        self._changed = threading.Condition()

    def reset(self, secret_text: str) -> None:
        for commands in (self.commands, self.when_degraded):
            while not commands.empty():
                commands.get_nowait()
        with self._changed:
            self.secret_text = secret_text
            self.events = []
            self._notes.clear()

    def note(self, event: object, *what: str) -> None:
        with self._changed:
            self._notes.update(what)
            self.events.append(repr(event))
            self._changed.notify_all()

    def count(self, what: str) -> int:
        with self._changed:
            return self._notes[what]

    def wait(self, what: str, count: int, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self._notes[what] >= count, timeout)


SCRIPT = Script()


class CanaryConfig(StrategyConfig):
    symbol: str = "AAPL"
    notify_password: str = ""
    notify_token: str = ""


class CanaryTrader(Strategy[CanaryConfig]):
    """Buys, or places an order the gateway will question, when the test says; raises on a rejection."""

    config_type = CanaryConfig

    def on_start(self) -> None:
        log = self.context.log
        log.info("notifier settings: %r", self.config)
        log.debug("notifier login: password %s, token %s", self.config.notify_password, self.config.notify_token)
        self.subscribe_quotes(self.config.symbol)

    def on_quote(self, quote: Quote) -> None:
        self._obey(SCRIPT.commands)

    def _obey(self, commands: queue.SimpleQueue[str]) -> None:
        while not commands.empty():
            command = commands.get_nowait()
            if command == "buy":
                self.buy(self.config.symbol, Decimal(1))
            elif command == "sell":
                self.sell(self.config.symbol, Decimal(1))
            elif command == "reject":  # over the gateway's size limit: a question the adapter may not confirm
                self.buy(self.config.symbol, Decimal(900))
            elif command == "stop":
                self.request_stop()

    def on_order_accepted(self, event: OrderAccepted) -> None:
        SCRIPT.note(event, "accepted")

    def on_order_filled(self, event: OrderFilled) -> None:
        SCRIPT.note(event, "filled", event.fill.side.value)

    def on_order_denied(self, event: OrderDenied) -> None:
        SCRIPT.note(event, "denied")

    def on_order_held(self, event: OrderHeld) -> None:
        SCRIPT.note(event, "held")

    def on_order_rejected(self, event: OrderRejected) -> None:
        SCRIPT.note(event, "rejected")
        password, token = self.config.notify_password, self.config.notify_token
        try:
            raise ConnectionError(f"POST https://notify.invalid/send?token={token} refused; sent {SCRIPT.secret_text}")
        except ConnectionError as cause:
            SCRIPT.note(event, "raised")
            raise RuntimeError(f"could not report the rejection: login with {password} failed; "
                               f"{SCRIPT.secret_text}") from cause

    def on_broker_degraded(self, event: BrokerDegraded) -> None:
        SCRIPT.note(event, "degraded")
        self._obey(SCRIPT.when_degraded)

    def on_broker_disconnected(self, event: BrokerDisconnected) -> None:
        SCRIPT.note(event, "degraded")
        self._obey(SCRIPT.when_degraded)

    def on_broker_connected(self, event: BrokerConnected) -> None:
        SCRIPT.note(event, "connected")
