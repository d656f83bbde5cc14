"""The order reply dialogue and the classification of placement failures.

Placing (or modifying) an order may be answered with precaution questions (``o163`` price far from
the market, ``o354`` no market data ...). Each must be confirmed through ``/iserver/reply/{id}``
before IBKR answers with an order id. :func:`run_dialogue` confirms a question only when *every*
message id in it is on the configured allow-list; any other question is declined (the gateway is
told ``confirmed: false``) and the order ends as rejected with IBKR's own text.

:func:`classify_failure` decides what an exception during placement means: the order definitely
did not reach IBKR, IBKR definitely refused it, or the outcome is unknown and the order must be
looked up by its client order id before anything else happens.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from brokers.ibkr.errors import IbkrAuthError
from brokers.ibkr.errors import IbkrError
from brokers.ibkr.errors import IbkrHttpError
from brokers.ibkr.errors import IbkrNotReadyError
from brokers.ibkr.errors import IbkrRateLimitError
from brokers.ibkr.errors import IbkrTransportError
from brokers.ibkr.rest import OrderAnswer
from brokers.ibkr.wire import OrderAck
from brokers.ibkr.wire import OrderQuestion

log = logging.getLogger(__name__)

_TAG = re.compile(r"<[^>]+>")
_AMBIGUOUS_TEXTS = ("already registered", "reply id", "not found")


@dataclass(frozen=True)
class Placed:
    """IBKR accepted the order(s); one acknowledgement per order, in request order."""

    acks: list[OrderAck]


@dataclass(frozen=True)
class Declined:
    """A question was not on the allow-list (or too many were asked); nothing was transmitted."""

    reason: str
    message_ids: tuple[str, ...]


class Failure(StrEnum):
    """What a placement exception means for the order."""

    NOT_PLACED = "not_placed"  # never reached IBKR: safe to report as rejected
    REJECTED = "rejected"  # IBKR answered with an error: definitive
    AMBIGUOUS = "ambiguous"  # may exist at IBKR: look it up by cOID


def question_text(question: OrderQuestion) -> str:
    """IBKR's question as one line of plain text, prefixed with its message ids."""
    text = " ".join(_TAG.sub(" ", html.unescape(m)) for m in question.message)
    ids = ",".join(question.message_ids) or "?"
    return f"[{ids}] " + " ".join(text.split())


def run_dialogue(
    answer: OrderAnswer,
    reply: Callable[[str, bool], OrderAnswer],
    allowed: frozenset[str],
    max_rounds: int,
) -> Placed | Declined:
    """Answer questions until IBKR acknowledges the order or a question must be declined.

    Args:
        answer: The answer to the placement (or modify) request.
        reply: Sends ``/iserver/reply/{id}`` with ``confirmed`` and returns the next answer.
        allowed: Message ids that may be confirmed automatically.
        max_rounds: Most questions confirmed before giving up.

    Raises:
        IbkrError: From ``reply`` (the caller classifies it with :func:`classify_failure`).
    """
    rounds = 0
    while answer and not isinstance(answer[0], OrderAck):
        questions = [q for q in answer if isinstance(q, OrderQuestion)]
        ids = tuple(i for q in questions for i in q.message_ids)
        first = questions[0]
        if not ids or not set(ids) <= allowed:
            _decline(reply, first.id)
            return Declined(reason=f"IBKR asked {question_text(first)}", message_ids=ids)
        if rounds == max_rounds:
            _decline(reply, first.id)
            return Declined(reason=f"more than {max_rounds} confirmation questions", message_ids=ids)
        rounds += 1
        log.info("confirming order question %s", ",".join(ids))
        answer = reply(first.id, True)
    return Placed([a for a in answer if isinstance(a, OrderAck)])


def _decline(reply: Callable[[str, bool], OrderAnswer], reply_id: str) -> None:
    # Tell the gateway to drop the pending order; failing to do so is harmless (reply ids expire).
    try:
        reply(reply_id, False)
    except IbkrError as e:
        log.info("declining order question failed (ignored): %s", e)


def classify_failure(error: IbkrError) -> Failure:
    """What ``error`` raised while placing, modifying or confirming means for the order."""
    if isinstance(error, IbkrTransportError):
        return Failure.AMBIGUOUS if error.sent else Failure.NOT_PLACED
    if isinstance(error, IbkrRateLimitError):
        # held back by our limiter (status 0), or refused unread by the gateway's (429: IBKR's rate
        # limit answers before the request is processed)
        return Failure.NOT_PLACED
    if isinstance(error, IbkrAuthError | IbkrNotReadyError):
        return Failure.NOT_PLACED
    if isinstance(error, IbkrHttpError) and error.status_code < 500:
        lowered = error.error_text.lower()
        return Failure.AMBIGUOUS if any(t in lowered for t in _AMBIGUOUS_TEXTS) else Failure.REJECTED
    return Failure.AMBIGUOUS  # 5xx or an unreadable answer: it may have been placed
