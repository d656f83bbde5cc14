"""REST client of the Client Portal Web API: one typed method per endpoint the adapter uses.

Transport is an injected ``requests.Session`` (tests mount a fake adapter on it). Every request goes
through the :class:`~brokers.ibkr.ratelimit.RateLimiter`. Answers are mapped to the error tree in
:mod:`brokers.ibkr.errors` by status *and* body, because the gateway also reports errors in-band with
200 (``{"error": "no session"}``).

Retries: only idempotent reads are retried, with exponential back-off, after a transport failure or
a 5xx. Order placement, modify, reply and cancel are never retried here; their callers resolve an
ambiguous outcome by looking the order up (see :mod:`brokers.ibkr.broker`).

A lost session: a 401 / ``not authenticated`` / ``no session`` (:class:`~brokers.ibkr.errors.IbkrAuthError`)
or a ``no bridge`` / ``query /accounts first`` (:class:`~brokers.ibkr.errors.IbkrNotReadyError`) on any
call except ``/tickle`` (whose answers the keep-alive classifies itself) is recorded before it is
raised, and :meth:`IbkrRestClient.session_losses` tells: the session manager reads it, so the
session degrades and recovery starts at once rather than at the next tickle.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from collections.abc import Sequence
from datetime import UTC
from datetime import datetime
from typing import Any
from typing import TypeVar
from urllib.parse import urlsplit

import requests
from pydantic import BaseModel
from pydantic import TypeAdapter
from pydantic import ValidationError

from brokers.ibkr.config import IbkrConfig
from brokers.ibkr.errors import IbkrAuthError
from brokers.ibkr.errors import IbkrHttpError
from brokers.ibkr.errors import IbkrNotReadyError
from brokers.ibkr.errors import IbkrProtocolError
from brokers.ibkr.errors import IbkrRateLimitError
from brokers.ibkr.errors import IbkrTlsError
from brokers.ibkr.errors import IbkrTransportError
from brokers.ibkr.errors import IbkrUnreachableError
from brokers.ibkr.ratelimit import ENDPOINT_MIN_INTERVAL
from brokers.ibkr.ratelimit import SPACING_MARGIN
from brokers.ibkr.ratelimit import RateLimiter
from brokers.ibkr.reachability import unreachable_reason
from brokers.ibkr.tls import tls_problem
from brokers.ibkr.wire import AuthStatus
from brokers.ibkr.wire import BrokerageAccounts
from brokers.ibkr.wire import CancelAck
from brokers.ibkr.wire import History
from brokers.ibkr.wire import LiveOrders
from brokers.ibkr.wire import OrderAck
from brokers.ibkr.wire import OrderQuestion
from brokers.ibkr.wire import OrderStatusReply
from brokers.ibkr.wire import PortfolioAccount
from brokers.ibkr.wire import PortfolioPosition
from brokers.ibkr.wire import SecdefResult
from brokers.ibkr.wire import SummaryValue
from brokers.ibkr.wire import Tickle
from brokers.ibkr.wire import Trade
from brokers.ibkr.wire_ws import MarketData

log = logging.getLogger(__name__)

OrderAnswer = list[OrderQuestion] | list[OrderAck]
"""What placement, modify and reply return: questions to confirm, or acknowledgements."""

_NOT_READY = ("no bridge", "/accounts first")
_NO_SESSION = ("no session", "not authenticated")
_PORTFOLIO_ACCOUNTS = TypeAdapter(list[PortfolioAccount])
_SEARCH = TypeAdapter(list[SecdefResult])
_TRADES = TypeAdapter(list[Trade])
_POSITIONS = TypeAdapter(list[PortfolioPosition])
_SUMMARY = TypeAdapter(dict[str, SummaryValue])
_QUESTIONS = TypeAdapter(list[OrderQuestion])
_ACKS = TypeAdapter(list[OrderAck])
_SNAPSHOT = TypeAdapter(list[MarketData])
_T = TypeVar("_T")
_M = TypeVar("_M", bound=BaseModel)


class IbkrRestClient:
    """Typed access to the gateway's REST endpoints.

    Args:
        config: Adapter settings (base URL, timeouts, retries).
        session: The HTTP session (TLS settings applied by the caller).
        limiter: Shared pacing for every request.
        sleep: Blocks for the given seconds between read retries.
    """

    def __init__(
        self,
        config: IbkrConfig,
        session: requests.Session,
        limiter: RateLimiter,
        sleep: Callable[[float], None],
    ) -> None:
        self._config = config
        self._http = session
        self._limiter = limiter
        self._sleep = sleep
        self._timeout = (config.connect_timeout, config.read_timeout)
        self._loss_lock = threading.Lock()
        self._losses = 0
        self._last_loss: IbkrHttpError | None = None
        self._penalty_reason = ""

    # ----------------------------------------------------------------- transport

    @property
    def rate_limit_penalties(self) -> int:
        """How many 429 answers the gateway has sent so far."""
        return self._limiter.penalties

    def penalty_probe_due(self) -> float | None:
        """Seconds until a probe of a 429 penalty may go out (0: now), or None when no penalty runs."""
        return self._limiter.blocked_for if self._limiter.penalized else None

    def rate_limit_reason(self) -> str | None:
        """Why every request is held back (a 429 penalty, until a probe is answered), or None."""
        return self._penalty_reason if self._limiter.penalized else None

    def wait(self, seconds: float) -> None:
        """Block for ``seconds`` with the client's sleep (a simulated clock advances instead)."""
        self._sleep(seconds)

    def session_losses(self) -> tuple[int, IbkrHttpError | None]:
        """How many answers so far said the session is gone (``/tickle`` aside), and the latest one."""
        with self._loss_lock:
            return self._losses, self._last_loss

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                body: Any = None, idempotent: bool, retry_server_errors: bool = True) -> Any:
        """Send one request and return its parsed JSON (None for an empty body).

        A lost session (401, "no bridge", "no session") on any path but ``/tickle`` is recorded
        (see :meth:`session_losses`) before the error propagates. An idempotent read is retried after
        a transport failure, and after a 5xx unless ``retry_server_errors`` is False (an endpoint whose
        5xx can be a definite answer).

        Raises:
            IbkrHttpError: Error status or in-band error body (subclasses say which kind).
            IbkrTransportError: No usable answer (after the retries allowed for reads).
            IbkrProtocolError: A 2xx answer that is not JSON.
        """
        try:
            return self._request(method, path, params, body, idempotent=idempotent,
                                 retry_server_errors=retry_server_errors)
        except (IbkrAuthError, IbkrNotReadyError) as e:
            if path != "/tickle":
                with self._loss_lock:
                    self._losses += 1
                    self._last_loss = e
            raise

    def _request(self, method: str, path: str, params: dict[str, Any] | None, body: Any, *, idempotent: bool,
                 retry_server_errors: bool = True) -> Any:
        attempts = 1 + (self._config.read_retries if idempotent else 0)
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                return self._send(method, path, params, body)
            except IbkrTlsError:
                raise  # the same certificate would be refused again
            except IbkrTransportError:
                if last:
                    raise
            except IbkrRateLimitError as e:
                # a read told "too soon" retries once the limiter's wait is short enough; never a POST
                if last or e.status_code != 429 or e.retry_after > self._config.max_rate_wait:
                    raise
                continue  # acquire() waits out the endpoint's hold-back before the next attempt
            except IbkrHttpError as e:
                if last or e.status_code < 500 or isinstance(e, IbkrNotReadyError) or not retry_server_errors:
                    raise
            delay = min(self._config.reconnect_max, self._config.reconnect_initial * 2**attempt)
            log.info("retrying %s %s in %.1fs", method, path, delay)
            self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _send(self, method: str, path: str, params: dict[str, Any] | None, body: Any) -> Any:
        self._limiter.acquire(method, path)
        url = self._config.base_url + path
        try:
            # verify passed explicitly: requests lets REQUESTS_CA_BUNDLE override a Session's own setting
            response = self._http.request(
                method, url, params=params, json=body, timeout=self._timeout, verify=self._http.verify
            )
        except (requests.ConnectTimeout, requests.exceptions.SSLError) as e:
            self._limiter.unanswered()
            problem = tls_problem(e) if isinstance(e, requests.exceptions.SSLError) else None
            if problem is not None:
                where = urlsplit(url).netloc
                raise IbkrTlsError(f"TLS verification of {where} failed: {problem}", method=method, path=path,
                                   sent=False) from e
            raise self._unreachable(e, method, path) or IbkrTransportError(
                str(e), method=method, path=path, sent=False) from e
        except requests.ConnectionError as e:
            self._limiter.unanswered()
            raise self._unreachable(e, method, path) or IbkrTransportError(
                str(e), method=method, path=path, sent=_maybe_sent(e)) from e
        except requests.Timeout as e:
            self._limiter.unanswered()
            raise IbkrTransportError(str(e), method=method, path=path, sent=True) from e
        with response:
            self._limiter.answered(response.status_code)
            return self._decode(method, path, response)

    def _unreachable(self, error: requests.RequestException, method: str, path: str) -> IbkrUnreachableError | None:
        reason = unreachable_reason(error)
        return None if reason is None else IbkrUnreachableError(self._config.base_url, reason, method=method, path=path)

    def _decode(self, method: str, path: str, response: requests.Response) -> Any:
        status = response.status_code
        log.debug("%s %s -> %d", method, path, status)
        try:
            data = response.json() if response.content else None
        except ValueError:
            data = None
            if status < 400:
                raise IbkrProtocolError("answer is not JSON", path=path, body=response.text) from None
        error = data.get("error") if isinstance(data, dict) else None
        if status < 400 and not error:
            return data
        body = data if data is not None else response.text
        raise self._error(method, path, status, str(error or response.reason or ""), body)

    def _error(self, method: str, path: str, status: int, text: str, body: Any) -> IbkrHttpError:
        lowered = text.lower()
        if status == 429:
            own_limit = ENDPOINT_MIN_INTERVAL.get(path)  # IBKR's table, whatever this client paces
            # too soon for this endpoint: wait out its interval only (unless a penalty runs: then
            # any 429 means the box is still on, and every request waits a whole back-off again)
            if own_limit is not None and not self._limiter.penalized:
                backoff = own_limit * SPACING_MARGIN
                self._limiter.penalize_endpoint(path, backoff)
            else:
                backoff = self._config.rate_limit_backoff
                self._penalty_reason = (f"rate limited by the gateway (HTTP 429 on {method} {path}): requests held "
                                        f"back, one probe every {backoff:g} s until it answers")
                self._limiter.penalize(backoff)
            return IbkrRateLimitError(text or "too many requests", method=method, path=path,
                                      retry_after=backoff, body=body)
        if status == 401 or any(s in lowered for s in _NO_SESSION):
            return IbkrAuthError(text or "not authenticated", status_code=status, method=method, path=path,
                                 body=body)
        if any(s in lowered for s in _NOT_READY):
            return IbkrNotReadyError(text, status_code=status, method=method, path=path, body=body)
        return IbkrHttpError(text, status_code=status, method=method, path=path, body=body)

    # ----------------------------------------------------------------- session

    def tickle(self) -> Tickle:
        """``POST /tickle``: keep the session alive; returns the session id and auth snapshot.

        Not retried here: the keep-alive schedule (with its back-off) is the retry.
        """
        return _parse(Tickle, self.request("POST", "/tickle", idempotent=False), "/tickle")

    def auth_status(self) -> AuthStatus:
        """``POST /iserver/auth/status``: the brokerage session's state."""
        path = "/iserver/auth/status"
        return _parse(AuthStatus, self.request("POST", path, idempotent=True), path)

    def reauthenticate(self) -> None:
        """``POST /iserver/reauthenticate``: ask the gateway to re-open the brokerage session."""
        self.request("POST", "/iserver/reauthenticate", idempotent=False)

    def init_brokerage_session(self, *, compete: bool) -> AuthStatus:
        """``POST /iserver/auth/ssodh/init``: open the brokerage session (``compete`` kicks others)."""
        path = "/iserver/auth/ssodh/init"
        data = self.request("POST", path, body={"publish": True, "compete": compete}, idempotent=False)
        return _parse(AuthStatus, data, path)

    def brokerage_accounts(self) -> BrokerageAccounts:
        """``GET /iserver/accounts``: the priming call; lists the brokerage accounts."""
        path = "/iserver/accounts"
        return _parse(BrokerageAccounts, self.request("GET", path, idempotent=True), path)

    def portfolio_accounts(self) -> list[PortfolioAccount]:
        """``GET /portfolio/accounts``: primes the portfolio endpoints."""
        path = "/portfolio/accounts"
        return _parse_list(_PORTFOLIO_ACCOUNTS, self.request("GET", path, idempotent=True), path)

    def suppress_questions(self, message_ids: Sequence[str]) -> None:
        """``POST /iserver/questions/suppress``: auto-accept these order-precaution questions."""
        body = {"messageIds": sorted(message_ids)}
        self.request("POST", "/iserver/questions/suppress", body=body, idempotent=True)

    # ----------------------------------------------------------------- contracts and market data

    def search_contracts(self, symbol: str, sec_type: str) -> list[SecdefResult]:
        """``GET /iserver/secdef/search``: contracts matching ``symbol``, best first (empty: no match).

        No match is ``[]`` in current builds and a 500 with an ``{"error": ...}`` body in older ones
        (both read as no match, the 500 without the retries a server error gets). A lost session,
        pacing, a 4xx or a 5xx without IBKR's error body (a proxy's page) stay errors.
        """
        path = "/iserver/secdef/search"
        try:
            data = self.request("GET", path, params={"symbol": symbol, "secType": sec_type}, idempotent=True,
                                retry_server_errors=False)
        except IbkrHttpError as e:
            if type(e) is not IbkrHttpError or e.status_code != 500 or not e.error_text or not isinstance(e.body, dict):
                raise
            log.info("secdef search for %r answered 500 %r: read as no match", symbol, e.error_text)
            return []
        return _parse_list(_SEARCH, data if isinstance(data, list) else [], path)

    def snapshot(self, conids: Sequence[str], fields: Sequence[str]) -> list[MarketData]:
        """``GET /iserver/marketdata/snapshot``: one row per conid (a pre-flight row has no prices)."""
        path = "/iserver/marketdata/snapshot"
        params = {"conids": ",".join(conids), "fields": ",".join(fields)}
        data = self.request("GET", path, params=params, idempotent=True)
        rows = [row for row in data if isinstance(row, dict)] if isinstance(data, list) else []
        return _parse_list(_SNAPSHOT, rows, path)

    def history(self, conid: str, period: str, bar: str, *, outside_rth: bool = False,
                start_time: datetime | None = None) -> History:
        """``GET /iserver/marketdata/history``: bars (at most 1000) of one contract.

        ``start_time`` is IBKR's ``startTime`` (``YYYYMMDD-hh:mm:ss`` UTC), the window's reference
        point (default: now); builds differ on whether it ends the window or begins it.
        """
        path = "/iserver/marketdata/history"
        params = {"conid": conid, "period": period, "bar": bar, "outsideRth": str(outside_rth).lower()}
        if start_time is not None:
            params["startTime"] = start_time.astimezone(UTC).strftime("%Y%m%d-%H:%M:%S")
        with self._limiter.history_slot():
            return _parse(History, self.request("GET", path, params=params, idempotent=True), path)

    # ----------------------------------------------------------------- orders

    def place_orders(self, account_id: str, tickets: Sequence[dict[str, Any]]) -> OrderAnswer:
        """``POST /iserver/account/{acct}/orders``: place one order or a bracket/OCA set (no retry)."""
        path = f"/iserver/account/{account_id}/orders"
        data = self.request("POST", path, body={"orders": list(tickets)}, idempotent=False)
        return _order_answer(data, path)

    def reply(self, reply_id: str, *, confirmed: bool) -> OrderAnswer:
        """``POST /iserver/reply/{id}``: answer an order question (no retry)."""
        path = f"/iserver/reply/{reply_id}"
        data = self.request("POST", path, body={"confirmed": confirmed}, idempotent=False)
        return _order_answer(data, path)

    def modify_order(self, account_id: str, order_id: str, ticket: dict[str, Any]) -> OrderAnswer:
        """``POST /iserver/account/{acct}/order/{id}``: replace a working order's ticket (no retry)."""
        path = f"/iserver/account/{account_id}/order/{order_id}"
        return _order_answer(self.request("POST", path, body=ticket, idempotent=False), path)

    def cancel_order(self, account_id: str, order_id: str) -> CancelAck:
        """``DELETE /iserver/account/{acct}/order/{id}``: request a cancel (the outcome streams later)."""
        path = f"/iserver/account/{account_id}/order/{order_id}"
        return _parse(CancelAck, self.request("DELETE", path, idempotent=False), path)

    def live_orders(self, *, force: bool = False) -> LiveOrders:
        """``GET /iserver/account/orders``: this session's orders (never filtered: filters mute ``sor``)."""
        path = "/iserver/account/orders"
        params = {"force": "true"} if force else None
        data = self.request("GET", path, params=params, idempotent=True)
        if isinstance(data, list):  # some builds answer a bare (empty) list after force=true
            data = {"orders": data}
        return _parse(LiveOrders, data, path)

    def order_status(self, order_id: str) -> OrderStatusReply:
        """``GET /iserver/account/order/status/{id}``: one order's state."""
        path = f"/iserver/account/order/status/{order_id}"
        return _parse(OrderStatusReply, self.request("GET", path, idempotent=True), path)

    def trades(self, days: int | None = None) -> list[Trade]:
        """``GET /iserver/account/trades``: executions of today (or the last ``days``, at most 7)."""
        path = "/iserver/account/trades"
        params = {"days": str(max(1, min(7, days)))} if days else None
        return _parse_list(_TRADES, self.request("GET", path, params=params, idempotent=True), path)

    # ----------------------------------------------------------------- portfolio

    def portfolio_summary(self, account_id: str) -> dict[str, SummaryValue]:
        """``GET /portfolio/{acct}/summary``: account metrics keyed by lower-case name."""
        path = f"/portfolio/{account_id}/summary"
        data = self.request("GET", path, idempotent=True)
        try:
            return _SUMMARY.validate_python({k: v for k, v in (data or {}).items() if isinstance(v, dict)})
        except (ValidationError, AttributeError) as e:
            raise IbkrProtocolError(str(e), path=path, body=repr(data)) from e

    def positions(self, account_id: str, page: int = 0) -> list[PortfolioPosition]:
        """``GET /portfolio/{acct}/positions/{page}``: one page of positions (empty past the end)."""
        path = f"/portfolio/{account_id}/positions/{page}"
        return _parse_list(_POSITIONS, self.request("GET", path, idempotent=True), path)

    def invalidate_positions(self, account_id: str) -> None:
        """``POST /portfolio/{acct}/positions/invalidate``: drop the gateway's position cache."""
        self.request("POST", f"/portfolio/{account_id}/positions/invalidate", idempotent=True)


def _maybe_sent(error: requests.ConnectionError) -> bool:
    # A refused or unresolvable connection never carried the request; anything else (reset, remote
    # disconnect mid-answer) may have reached the gateway.
    text = repr(error.args[0]) if error.args else ""
    return not any(s in text for s in ("NewConnectionError", "NameResolutionError", "ConnectionRefused"))


def _parse(model: type[_M], data: Any, path: str) -> _M:
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as e:
        raise IbkrProtocolError(str(e), path=path, body=repr(data)) from e


def _parse_list(adapter: TypeAdapter[list[_T]], data: Any, path: str) -> list[_T]:
    try:
        return adapter.validate_python(data if data is not None else [])
    except ValidationError as e:
        raise IbkrProtocolError(str(e), path=path, body=repr(data)) from e


def _order_answer(data: Any, path: str) -> OrderAnswer:
    # Accepted: [{"order_id": ...}] (or a bare object); questions: [{"id", "message", "messageIds"}].
    rows = data if isinstance(data, list) else [data]
    if rows and isinstance(rows[0], dict) and "id" in rows[0] and "message" in rows[0]:
        return _parse_list(_QUESTIONS, rows, path)
    acks = _parse_list(_ACKS, rows, path)
    if not acks or any(a.order_id is None for a in acks):
        msg = "order answer has neither questions nor order ids"
        raise IbkrProtocolError(msg, path=path, body=repr(data))
    return acks
