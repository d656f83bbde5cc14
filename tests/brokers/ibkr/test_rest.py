"""REST client: paths, bodies, error mapping and retry policy, through a fake adapter."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from brokers.ibkr.errors import IbkrAuthError
from brokers.ibkr.errors import IbkrHttpError
from brokers.ibkr.errors import IbkrNotReadyError
from brokers.ibkr.errors import IbkrProtocolError
from brokers.ibkr.errors import IbkrRateLimitError
from brokers.ibkr.errors import IbkrTransportError
from brokers.ibkr.ratelimit import RateLimiter
from brokers.ibkr.rest import IbkrRestClient
from brokers.ibkr.wire import OrderAck
from brokers.ibkr.wire import OrderQuestion
from framework.redaction import register_account
from framework.testing import FakeClock
from tests.brokers.ibkr.fakes import FakeAdapter
from tests.brokers.ibkr.fakes import Reply
from tests.brokers.ibkr.fakes import advancing_sleep
from tests.brokers.ibkr.fakes import fake_session
from tests.brokers.ibkr.fakes import fixture
from tests.brokers.ibkr.fakes import make_config

ORDERS = "/iserver/account/DU1234567/orders"


@pytest.fixture
def adapter() -> FakeAdapter:
    return FakeAdapter()


@pytest.fixture
def limiter(clock: FakeClock) -> RateLimiter:
    return RateLimiter(clock, global_rate=8, max_wait=6, sleep=advancing_sleep(clock))


@pytest.fixture
def rest(adapter: FakeAdapter, clock: FakeClock, limiter: RateLimiter) -> Iterator[IbkrRestClient]:
    with fake_session(adapter) as session:
        yield IbkrRestClient(make_config(), session, limiter, advancing_sleep(clock))


def test_tickle_reads_session_and_auth(rest: IbkrRestClient, adapter: FakeAdapter) -> None:
    adapter.ok("POST", "/tickle", "http_post_tickle")
    tickle = rest.tickle()
    assert tickle.session == "ce109cbeb462a76dc3f6f4182c830cc1"
    assert tickle.iserver is not None
    assert tickle.iserver.auth_status is not None
    assert tickle.iserver.auth_status.healthy


def test_place_orders_sends_the_orders_wrapper_and_reads_questions(rest: IbkrRestClient, adapter: FakeAdapter) -> None:
    adapter.ok("POST", ORDERS, "http_post_order_question_o163")
    answer = rest.place_orders("DU1234567", [{"conid": 265598, "cOID": "c1"}])
    assert adapter.sent[0].body == {"orders": [{"conid": 265598, "cOID": "c1"}]}
    assert isinstance(answer[0], OrderQuestion)
    assert answer[0].message_ids == ["o163"]


def test_reply_reads_acknowledgements(rest: IbkrRestClient, adapter: FakeAdapter) -> None:
    adapter.ok("POST", "/iserver/reply/abc", "http_post_order_accepted")
    answer = rest.reply("abc", confirmed=True)
    assert adapter.sent[0].body == {"confirmed": True}
    assert answer == [OrderAck(order_id="1210386759", order_status="PreSubmitted")]


def test_a_bare_ack_object_is_accepted(rest: IbkrRestClient, adapter: FakeAdapter) -> None:
    adapter.on("POST", ORDERS, Reply(200, fixture("http_post_order_accepted")[0]))
    assert rest.place_orders("DU1234567", [{}])[0] == OrderAck(order_id="1210386759", order_status="PreSubmitted")


@pytest.mark.parametrize(
    ("reply", "error", "status"),
    [
        (Reply(401, None), IbkrAuthError, 401),
        (Reply(200, {"error": "no session"}), IbkrAuthError, 200),
        (Reply(400, {"error": "Bad Request: no bridge", "statusCode": 400}), IbkrNotReadyError, 400),
        (Reply(500, {"error": "please query /accounts first"}), IbkrNotReadyError, 500),
        (Reply(200, fixture("http_post_order_duplicate")), IbkrHttpError, 200),
        (Reply(503, None), IbkrHttpError, 503),
    ],
)
def test_errors_map_by_status_and_body(
    rest: IbkrRestClient, adapter: FakeAdapter, reply: Reply, error: type[IbkrHttpError], status: int
) -> None:
    adapter.on("POST", ORDERS, reply)
    with pytest.raises(error) as caught:
        rest.place_orders("DU1234567", [{}])
    assert type(caught.value) is error
    assert (caught.value.status_code, caught.value.method, caught.value.path) == (status, "POST", ORDERS)


def test_a_429_holds_back_every_later_request(rest: IbkrRestClient, adapter: FakeAdapter) -> None:
    adapter.on("GET", "/iserver/accounts", Reply(429, {"error": "Too many requests"}))
    with pytest.raises(IbkrRateLimitError) as first:
        rest.brokerage_accounts()
    assert first.value.status_code == 429
    with pytest.raises(IbkrRateLimitError) as second:
        rest.tickle()
    assert second.value.status_code == 0  # refused locally, never sent
    assert adapter.paths() == ["/iserver/accounts"]


def test_a_429_on_an_endpoint_with_its_own_limit_waits_that_interval_and_retries(
    rest: IbkrRestClient, adapter: FakeAdapter, clock: FakeClock
) -> None:
    # e.g. a restarted process calling /portfolio/accounts within 5 s of the previous one's call
    adapter.on(
        "GET", "/portfolio/accounts", Reply(429, {"error": "Too many requests"}),
        Reply(200, fixture("http_get_portfolio_accounts")),
    )  # fmt: skip
    started = clock.monotonic()
    accounts = rest.portfolio_accounts()
    assert [a.account_id for a in accounts] == ["DU1234567"]
    assert adapter.paths() == ["/portfolio/accounts"] * 2
    assert clock.monotonic() - started >= 5.0  # waited out the endpoint's interval, not the 60 s box
    adapter.ok("POST", "/tickle", "http_post_tickle")
    assert rest.tickle().session  # other endpoints were never held back


def test_reads_are_retried_after_5xx_and_transport_errors(rest: IbkrRestClient, adapter: FakeAdapter) -> None:
    adapter.on("GET", "/iserver/accounts", Reply(500, {"error": "internal"}),
               Reply(raises=requests.ConnectionError("reset")), Reply(200, fixture("http_get_iserver_accounts")))
    assert rest.brokerage_accounts().accounts == ["DU1234567"]
    assert adapter.paths() == ["/iserver/accounts"] * 3


def test_r06_order_posts_are_never_retried(rest: IbkrRestClient, adapter: FakeAdapter) -> None:
    """R06 (ambiguous submit): 0 duplicate orders; an affected intent is resolved (acknowledged by its client order id,
    or rejected as lost); 0 automatic POST retries. Partial versus the criterion: see docs/reliability.md."""
    adapter.on(
        "POST", ORDERS, Reply(raises=requests.ReadTimeout("slow")), Reply(200, fixture("http_post_order_accepted"))
    )
    with pytest.raises(IbkrTransportError) as caught:
        rest.place_orders("DU1234567", [{}])
    assert caught.value.sent is True
    assert adapter.paths() == [ORDERS]


@pytest.mark.parametrize(
    ("exc", "sent"),
    [(requests.ConnectTimeout("x"), False), (requests.exceptions.SSLError("bad cert"), False),
     (requests.ConnectionError("NewConnectionError: refused"), False),
     (requests.ConnectionError("reset by peer"), True),
     (requests.ReadTimeout("x"), True)],
)
def test_transport_errors_say_whether_the_request_may_have_been_sent(
    rest: IbkrRestClient, adapter: FakeAdapter, exc: Exception, sent: bool
) -> None:
    adapter.on("POST", ORDERS, Reply(raises=exc))
    with pytest.raises(IbkrTransportError) as caught:
        rest.place_orders("DU1234567", [{}])
    assert caught.value.sent is sent


def test_a_success_of_the_wrong_shape_is_a_protocol_error(rest: IbkrRestClient, adapter: FakeAdapter) -> None:
    adapter.on("GET", "/iserver/accounts", Reply(200, "<html>"))  # valid JSON text, wrong shape
    with pytest.raises(IbkrProtocolError):
        rest.brokerage_accounts()


def test_live_orders_force_and_trade_days_are_query_parameters(rest: IbkrRestClient, adapter: FakeAdapter) -> None:
    adapter.on("GET", "/iserver/account/orders", Reply(200, []), Reply(200, fixture("http_get_iserver_account_orders")))
    adapter.ok("GET", "/iserver/account/trades", "http_get_iserver_account_trades")
    assert rest.live_orders(force=True).orders == []
    assert rest.live_orders().orders[0].order_id == "1210386759"
    assert rest.trades(days=30)[0].execution_id == "0000e0d5.60cf1bd1.01.01"
    assert [s.query for s in adapter.sent] == [{"force": ["true"]}, {}, {"days": ["7"]}]


def test_portfolio_and_search_endpoints_parse_documented_payloads(rest: IbkrRestClient, adapter: FakeAdapter) -> None:
    adapter.ok("GET", "/portfolio/DU1234567/summary", "http_get_portfolio_summary")
    adapter.ok("GET", "/portfolio/DU1234567/positions/0", "http_get_portfolio_positions")
    adapter.ok("GET", "/iserver/secdef/search", "http_get_iserver_secdef_search")
    adapter.ok("DELETE", "/iserver/account/DU1234567/order/987654", "http_delete_order")
    assert rest.portfolio_summary("DU1234567")["netliquidation"].amount is not None
    assert rest.positions("DU1234567")[0].ticker == "SPY"
    assert rest.search_contracts("AAPL", "STK")[0].conid == "265598"
    assert rest.cancel_order("DU1234567", "987654").msg == "Request was submitted"
    assert adapter.sent[2].query == {"symbol": ["AAPL"], "secType": ["STK"]}


SEARCH = "/iserver/secdef/search"


@pytest.mark.parametrize("answer", [Reply(200, []), Reply(500, {"error": "No symbol found: NOSUCH"})],
                         ids=["empty-list", "error-500"])
def test_secdef_search_without_a_match_is_empty_in_either_form(
    rest: IbkrRestClient, adapter: FakeAdapter, answer: Reply
) -> None:
    adapter.on("GET", SEARCH, answer)
    assert rest.search_contracts("NOSUCH", "STK") == []
    assert len(adapter.sent) == 1  # a definite answer: not retried as a server error


@pytest.mark.parametrize(("answer", "kind"), [
    (Reply(503, None), IbkrHttpError),  # a proxy's answer, not IBKR's no-match form
    (Reply(400, {"error": "Bad Request: symbol required"}), IbkrHttpError),
    (Reply(401, None), IbkrAuthError),
    (Reply(500, {"error": "Bad Request: no bridge"}), IbkrNotReadyError),
])
def test_secdef_search_errors_other_than_no_match_stay_errors(
    rest: IbkrRestClient, adapter: FakeAdapter, answer: Reply, kind: type[Exception]
) -> None:
    adapter.on("GET", SEARCH, answer)
    with pytest.raises(kind):
        rest.search_contracts("AAPL", "STK")


def test_error_texts_mask_the_account_and_hide_the_session() -> None:
    # R19: an adapter error names the route, which carries the account; its text reaches tracebacks and reasons
    register_account("QK31337ZZ")
    error = IbkrAuthError("not authenticated", status_code=401, method="POST", path="/iserver/account/QK31337ZZ/orders",
                          body={"error": "Invalid account: QK31337ZZ; cookie api={\"session\":\"9f1e\"}"})
    assert str(error) == "POST /iserver/account/QK****7ZZ/orders answered 401: not authenticated"
    assert error.error_text == "Invalid account: QK****7ZZ; cookie api=***"
    assert error.path == "/iserver/account/QK31337ZZ/orders"  # the attributes stay usable
