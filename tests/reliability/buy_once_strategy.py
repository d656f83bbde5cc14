"""A strategy for the restart check of R23: buy once on the first quote, stop once the order is answered."""

from __future__ import annotations

from framework.events import OrderAccepted
from framework.events import OrderDenied
from framework.events import OrderRejected
from framework.marketdata import Quote
from framework.strategy import Strategy


class BuyOnce(Strategy):
    """Buys 1 AAPL on the first quote; asks to stop when the order is denied, rejected or accepted."""

    def on_start(self) -> None:
        self.bought = False
        self.subscribe_quotes("AAPL")

    def on_quote(self, quote: Quote) -> None:
        if not self.bought:
            self.bought = True
            self.buy("AAPL", 1)

    def on_order_denied(self, event: OrderDenied) -> None:
        self.request_stop()

    def on_order_rejected(self, event: OrderRejected) -> None:
        self.request_stop()

    def on_order_accepted(self, event: OrderAccepted) -> None:
        self.request_stop()
