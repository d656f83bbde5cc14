"""The reply dialogue and the classification of placement failures."""

from __future__ import annotations

import pytest

from brokers.ibkr.errors import IbkrAuthError
from brokers.ibkr.errors import IbkrError
from brokers.ibkr.errors import IbkrHttpError
from brokers.ibkr.errors import IbkrNotReadyError
from brokers.ibkr.errors import IbkrProtocolError
from brokers.ibkr.errors import IbkrRateLimitError
from brokers.ibkr.errors import IbkrTransportError
from brokers.ibkr.replies import Declined
from brokers.ibkr.replies import Failure
from brokers.ibkr.replies import Placed
from brokers.ibkr.replies import classify_failure
from brokers.ibkr.replies import question_text
from brokers.ibkr.replies import run_dialogue
from brokers.ibkr.rest import OrderAnswer
from brokers.ibkr.wire import OrderAck
from brokers.ibkr.wire import OrderQuestion
from tests.brokers.ibkr.fakes import fixture

ACK = [OrderAck.model_validate(a) for a in fixture("http_post_order_accepted")]


def question(message_id: str, reply_id: str = "q1") -> list[OrderQuestion]:
    row = fixture("http_post_order_question_o163")[0] | {"id": reply_id, "messageIds": [message_id]}
    return [OrderQuestion.model_validate(row)]


class Replies:
    """Scripted answers to /iserver/reply, recording what was sent."""

    def __init__(self, *answers: OrderAnswer) -> None:
        self.answers = list(answers)
        self.sent: list[tuple[str, bool]] = []

    def __call__(self, reply_id: str, confirmed: bool) -> OrderAnswer:
        self.sent.append((reply_id, confirmed))
        return self.answers.pop(0) if confirmed else []


def test_an_immediate_ack_needs_no_reply() -> None:
    replies = Replies()
    assert run_dialogue(ACK, replies, frozenset(), 5) == Placed(ACK)
    assert replies.sent == []


def test_r11_allowed_questions_are_confirmed_in_a_chain() -> None:
    """R11 (reply prompts): 0 orders transmitted with an unapproved prompt; an unknown prompt rejects the order with
    the prompt's text; chains are bounded. Partial versus the criterion: see docs/reliability.md."""
    replies = Replies(question("o354", "q2"), ACK)
    outcome = run_dialogue(question("o163"), replies, frozenset({"o163", "o354"}), 5)
    assert outcome == Placed(ACK)
    assert replies.sent == [("q1", True), ("q2", True)]


def test_r11_a_question_off_the_allow_list_is_declined_with_ibkrs_text() -> None:
    """R11 (reply prompts): 0 orders transmitted with an unapproved prompt; an unknown prompt rejects the order with
    the prompt's text; chains are bounded. Partial versus the criterion: see docs/reliability.md."""
    replies = Replies()
    outcome = run_dialogue(question("o163"), replies, frozenset({"o354"}), 5)
    assert isinstance(outcome, Declined)
    assert outcome.message_ids == ("o163",)
    assert "Percentage constraint of 3%" in outcome.reason
    assert replies.sent == [("q1", False)]


def test_r11_endless_questions_stop_after_max_rounds() -> None:
    """R11 (reply prompts): 0 orders transmitted with an unapproved prompt; an unknown prompt rejects the order with
    the prompt's text; chains are bounded. Partial versus the criterion: see docs/reliability.md."""
    replies = Replies(*[question("o163", f"q{i}") for i in range(2, 10)])
    outcome = run_dialogue(question("o163"), replies, frozenset({"o163"}), 3)
    assert isinstance(outcome, Declined)
    assert [ok for _, ok in replies.sent] == [True, True, True, False]


def test_question_text_strips_html_and_newlines() -> None:
    row = {"id": "x", "message": ["<h4>Warning</h4>Price\nexceeds &amp; more"], "messageIds": ["o1", "o2"]}
    assert question_text(OrderQuestion.model_validate(row)) == "[o1,o2] Warning Price exceeds & more"


@pytest.mark.parametrize(
    ("error", "failure"),
    [
        (IbkrTransportError("timeout", method="POST", path="/o", sent=True), Failure.AMBIGUOUS),
        (IbkrTransportError("refused", method="POST", path="/o", sent=False), Failure.NOT_PLACED),
        (IbkrRateLimitError("local", method="POST", path="/o", retry_after=1, status_code=0), Failure.NOT_PLACED),
        (IbkrRateLimitError("429", method="POST", path="/o", retry_after=60), Failure.NOT_PLACED),
        (IbkrAuthError("401", status_code=401, method="POST", path="/o"), Failure.NOT_PLACED),
        (IbkrNotReadyError("no bridge", status_code=400, method="POST", path="/o"), Failure.NOT_PLACED),
        (IbkrHttpError("x", status_code=200, method="POST", path="/o", body={"error": "No trading permissions."}),
         Failure.REJECTED),
        (IbkrHttpError("x", status_code=200, method="POST", path="/o", body=fixture("http_post_order_duplicate")),
         Failure.AMBIGUOUS),
        (IbkrHttpError("x", status_code=400, method="POST", path="/r", body={"error": "reply id not found: 'q'"}),
         Failure.AMBIGUOUS),
        (IbkrHttpError("x", status_code=502, method="POST", path="/o"), Failure.AMBIGUOUS),
        (IbkrProtocolError("bad json", path="/o"), Failure.AMBIGUOUS),
    ],
)
def test_classify_failure(error: IbkrError, failure: Failure) -> None:
    assert classify_failure(error) is failure
