"""Errors raised inside the IBKR adapter.

Hierarchy (framework roots on the left; each class mixes in the matching built-in)::

    BrokerError
    └── IbkrError
        ├── IbkrHttpError                      the gateway answered with an error status or body
        │   ├── IbkrAuthError (ConnectionError)        401 / "not authenticated" / "no session"
        │   ├── IbkrNotReadyError (ConnectionError)    "no bridge", "please query /accounts first"
        │   └── IbkrRateLimitError (ConnectionError)   429, or held back by our own limiter
        ├── IbkrTransportError (BrokerConnectionError) no usable answer: refused, timeout, reset, TLS
        │   ├── IbkrUnreachableError                   no connection: nothing listens, unknown host, timeout
        │   └── IbkrTlsError                           the gateway's certificate was refused (never retried)
        ├── IbkrProtocolError (ValueError)             an answer we cannot read (bad JSON, bad shape)
        └── IbkrSessionError (BrokerConnectionError)   the session is not usable (logged out,
            │                                          competing, live account refused)
            └── IbkrAccountRefusedError (ConfigError)  the configuration does not allow this account

Venue rejections of orders are not exceptions: the broker turns them into ``OrderRejected``.
:attr:`IbkrTransportError.sent` tells whether the request may have reached the gateway, which
decides whether an order POST is ambiguous (look it up) or definitely not placed.
"""

from __future__ import annotations

from typing import Any

from framework.errors import BrokerConnectionError
from framework.errors import BrokerError
from framework.errors import ConfigError
from framework.redaction import redact


class IbkrError(BrokerError):
    """Root of the IBKR adapter's errors.

    The message passes :func:`framework.redaction.redact`: the routes it names carry the account
    id (masked, as the adapter registered it) and nothing the gateway echoes shows a session id.
    """

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))


class IbkrHttpError(IbkrError):
    """The gateway answered with an error status, or with an ``{"error": ...}`` body.

    Attributes:
        status_code: HTTP status (200 for an in-band error body).
        method: HTTP method of the request.
        path: Request path relative to the API root, without the query string.
        body: Parsed JSON body, or the raw text when it was not JSON (may be None).
    """

    def __init__(self, message: str, *, status_code: int, method: str, path: str, body: Any = None) -> None:
        self.status_code = status_code
        self.method = method
        self.path = path
        self.body = body
        super().__init__(f"{method} {path} answered {status_code}: {message}")

    @property
    def error_text(self) -> str:
        """The gateway's ``error`` text (redacted: it becomes a rejection's reason), or an empty string."""
        if isinstance(self.body, dict):
            return redact(str(self.body.get("error") or ""))
        return redact(self.body) if isinstance(self.body, str) else ""


class IbkrAuthError(IbkrHttpError, ConnectionError):
    """The gateway has no (brokerage) session: 401, ``no session`` or ``not authenticated``."""


class IbkrNotReadyError(IbkrHttpError, ConnectionError):
    """The brokerage session is not initialised or not primed (``no bridge``, ``/accounts first``)."""


class IbkrRateLimitError(IbkrHttpError, ConnectionError):
    """Pacing violation (429), or a request our own limiter refused to send.

    Attributes:
        retry_after: Seconds until requests may be sent again.
    """

    def __init__(self, message: str, *, method: str, path: str, retry_after: float, status_code: int = 429,
                 body: Any = None) -> None:
        self.retry_after = retry_after
        super().__init__(message, status_code=status_code, method=method, path=path, body=body)


class IbkrTransportError(IbkrError, BrokerConnectionError):
    """No usable answer: connection refused, TLS failure, timeout, or a reset.

    Attributes:
        method: HTTP method of the request.
        path: Request path relative to the API root.
        sent: Whether the request may have reached the gateway (timeouts and resets after connecting).
    """

    def __init__(self, message: str, *, method: str, path: str, sent: bool) -> None:
        self.method = method
        self.path = path
        self.sent = sent
        super().__init__(f"{method} {path}: {message}")


class IbkrUnreachableError(IbkrTransportError):
    """No connection to the gateway could be made (nothing sent): refused, unknown host, or a timeout.

    The message is one line: ``cannot reach the gateway at <base_url> (connection refused)``, and
    when the adapter connects, how to start one.

    Attributes:
        base_url: The API root that was tried.
        reason: Why: ``connection refused``, ``host name not found``, ``timed out``, ...
    """

    def __init__(self, base_url: str, reason: str, *, method: str, path: str, hint: str = "") -> None:
        self.base_url = base_url
        self.reason = reason
        self.method = method
        self.path = path
        self.sent = False
        IbkrError.__init__(self, f"cannot reach the gateway at {base_url} ({reason}){hint}")


class IbkrTlsError(IbkrTransportError):
    """The gateway's certificate failed verification (chain, dates, host name or pin): nothing was sent.

    The message names the problem (``certificate has expired``, ``Hostname mismatch, ...``,
    ``Fingerprints did not match``), OpenSSL's reason (``CERTIFICATE_VERIFY_FAILED``) and the fix.
    Never retried: the next attempt would meet the same certificate.
    """


class IbkrProtocolError(IbkrError, ValueError):
    """An answer that cannot be read: invalid JSON or an unexpected shape.

    Attributes:
        path: Where it came from (request path or websocket topic).
        body: The offending text, truncated.
    """

    def __init__(self, message: str, *, path: str, body: str = "") -> None:
        self.path = path
        self.body = body[:500]
        super().__init__(f"{path}: {message}")


class IbkrSessionError(IbkrError, BrokerConnectionError):
    """The gateway session cannot be used (login required, competing session, refused account).

    Attributes:
        reason: Short machine-readable reason (``login_required``, ``competing``, ``live_account``...).
    """

    def __init__(self, message: str, *, reason: str) -> None:
        self.reason = reason
        super().__init__(message)


class IbkrAccountRefusedError(IbkrSessionError, ConfigError):
    """The configuration does not allow the gateway's account.

    A live account without ``allow_live``, a live account over plain text, an ``account_id`` the
    gateway does not have, or several accounts to choose from. A
    :class:`~framework.errors.ConfigError` too: the fix is a setting or a flag, and the command line
    treats it as a usage error (exit code 2).
    """
