"""The order reply dialogue: precaution questions and single-use reply ids (spec 6.2-6.4).

Clients match questions on IBKR's message ids (``o163``, ``o354``...) or on fragments of the text,
so both follow the real gateway. Questions are asked one per round, in a fixed order; each answer
with ``{"confirmed": true}`` yields the next question or, after the last one, the placement result.
The ``o10152`` and ``p12`` texts are written from the protocol spec's paraphrase (section 6.3): IBKR's
exact wording is unverified, so clients should match those two on the message id.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from simulators.ibkr.config import ReplyIdFormat
from simulators.ibkr.config import SimulatorConfig
from simulators.ibkr.instruments import Instrument
from simulators.ibkr.market import Quote
from simulators.ibkr.orders import STOP_TYPES
from simulators.ibkr.orders import Ticket

_CONFIRM = "Are you sure you want to submit this order?"
NO_MARKET_DATA = (
    "You are submitting an order without market data. We strongly recommend against this as it may "
    f"result in erroneous and unexpected trades.\n{_CONFIRM}"
)
STOP_RISK = (
    "You are about to submit a stop order. Please be aware of the various stop order types available "
    f"and the risks associated with each one.\n{_CONFIRM}"
)
TRIGGER_AND_FILL = f"This order will most likely trigger and fill immediately.\n{_CONFIRM}"
STOP_ACTIVATION = (
    "This stop order is activated when the market reaches its stop price. Once activated it may be "
    f"filled at a price far from the stop price.\n{_CONFIRM}"
)
PRICE_MANAGEMENT = (
    "This order may be rejected because its limit price is too far from the reference price.\n"
    "Use the Price Management Algo?"
)

# Order in which chained questions are asked.
QUESTION_ORDER = ("o354", "o163", "p12", "o403", "o383", "o451", "o10331", "o10152")


@dataclass(frozen=True)
class Question:
    """One precaution question: IBKR message id and text."""

    message_id: str
    text: str


def order_label(ticket: Ticket, inst: Instrument) -> str:
    """Return the order as IBKR quotes it in questions, e.g. ``BUY 100 AAPL NASDAQ.NMS @ 165.0``."""
    quantity = f"{ticket.quantity.normalize():f}"
    at = "MKT" if ticket.price is None else f"{ticket.price.normalize():f}"
    if "." not in at and at != "MKT":
        at += ".0"
    return f"{ticket.side} {quantity} {inst.symbol} {inst.listing_exchange} @ {at}"


def _deviation_pct(ticket: Ticket, quote: Quote) -> Decimal | None:
    # How far a limit price is from the last trade, in percent (None for orders without a limit).
    if ticket.order_type not in ("LMT", "STOP_LIMIT") or ticket.price is None or not quote.last:
        return None
    return abs(ticket.price - quote.last) / quote.last * 100


def _price_question(ticket: Ticket, label: str, quote: Quote, config: SimulatorConfig) -> Question | None:
    deviation = _deviation_pct(ticket, quote)
    if deviation is None or deviation <= config.price_constraint_pct:
        return None
    pct = f"{config.price_constraint_pct.normalize():f}"
    text = f'The following order "{label}" price exceeds \nthe Percentage constraint of {pct}%.\n{_CONFIRM}'
    return Question("o163", text)


def _price_management_question(ticket: Ticket, quote: Quote, config: SimulatorConfig) -> Question | None:
    # p12: the limit is far from the reference price and the ticket does not already use the algo.
    if not config.warn_price_management or ticket.use_adaptive:
        return None
    deviation = _deviation_pct(ticket, quote)
    if deviation is None or deviation <= config.price_management_pct:
        return None
    return Question("p12", PRICE_MANAGEMENT)


def _stop_questions(ticket: Ticket, config: SimulatorConfig) -> list[Question]:
    if ticket.order_type not in STOP_TYPES:
        return []
    found = []
    if config.warn_stop_orders:
        found.append(Question("o10331", STOP_RISK))
    if config.warn_stop_activation:
        found.append(Question("o10152", STOP_ACTIVATION))
    return found


def _size_questions(ticket: Ticket, label: str, quote: Quote, config: SimulatorConfig) -> list[Question]:
    found = []
    if ticket.quantity > config.size_limit:
        limit = f"{config.size_limit.normalize():f}"
        found.append(Question("o383", f'The following order "{label}" size exceeds the Size Limit of {limit}.\n'
                                      f"{_CONFIRM}"))
    value = ticket.quantity * (ticket.price or quote.last)
    if value > config.value_limit:
        text = (f'The following order "{label}" value estimate of {value:,.2f} USD exceeds \n'
                f"the Total Value Limit of {config.value_limit:,.0f} USD.\n{_CONFIRM}")
        found.append(Question("o451", text))
    return found


def precautions(
    ticket: Ticket,
    inst: Instrument,
    quote: Quote,
    config: SimulatorConfig,
    *,
    has_market_data: bool,
    marketable: bool,
) -> list[Question]:
    """Return the questions a ticket raises, in the order they are asked."""
    label = order_label(ticket, inst)
    found: list[Question] = []
    if config.warn_no_market_data and not has_market_data:
        found.append(Question("o354", NO_MARKET_DATA))
    for question in (_price_question(ticket, label, quote, config), _price_management_question(ticket, quote, config)):
        if question is not None:
            found.append(question)
    if config.warn_marketable and marketable:
        found.append(Question("o403", TRIGGER_AND_FILL))
    found.extend(_size_questions(ticket, label, quote, config))
    found.extend(_stop_questions(ticket, config))
    return sorted(found, key=lambda q: QUESTION_ORDER.index(q.message_id))


Commit = Callable[[], tuple[int, Any]]


@dataclass
class _Pending:
    questions: list[Question]
    commit: Commit


class ReplyBook:
    """Outstanding reply ids; each id answers exactly one question.

    Args:
        rng: Seeded source of reply ids.
        id_format: Returns how new reply ids look (``reply_id_format``): a UUID, 32 hex digits, or a number.
    """

    def __init__(self, rng: random.Random, id_format: Callable[[], ReplyIdFormat] = lambda: ReplyIdFormat.UUID) -> None:
        self._rng = rng
        self._pending: dict[str, _Pending] = {}
        self._id_format = id_format

    def clear(self) -> None:
        """Forget every outstanding question (new brokerage session)."""
        self._pending.clear()

    def ask(self, questions: list[Question], commit: Commit) -> list[dict[str, Any]]:
        """Register a question chain and return the first question's response body."""
        bits = self._rng.getrandbits(128)
        reply_id = str(uuid.UUID(int=bits, version=4))
        shown: str | int = reply_id
        form = self._id_format()
        if form is ReplyIdFormat.HEX:
            reply_id = shown = f"{bits:032x}"
        elif form is ReplyIdFormat.NUMBER:
            shown = bits % 10**9 + 10**9  # a JSON number, ten digits
            reply_id = str(shown)
        self._pending[reply_id] = _Pending(questions, commit)
        first = questions[0]
        return [{"id": shown, "message": [first.text], "isSuppressed": False, "messageIds": [first.message_id]}]

    def answer(self, reply_id: str, confirmed: bool, decline_status: int) -> tuple[int, Any]:
        """Consume ``reply_id`` and return ``(status, body)``: next question, result or error."""
        pending = self._pending.pop(reply_id, None)
        if pending is None:
            return 400, {"error": f"reply id not found: '{reply_id}'", "statusCode": 400}
        if not confirmed:
            return decline_status, {"error": "order not confirmed", "statusCode": 400}
        rest = pending.questions[1:]
        if rest:
            return 200, self.ask(rest, pending.commit)
        return pending.commit()


def value_estimate(ticket: Ticket, quote: Quote) -> Decimal:
    """Return the notional value of a ticket at its limit price or the last price."""
    return ticket.quantity * (ticket.price or quote.last)
