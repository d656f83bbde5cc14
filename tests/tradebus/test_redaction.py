"""What the logs never show: secrets are replaced, account ids partially masked, prose left alone.

Covers :func:`tradebus.eventlog.redact` and the :class:`tradebus.eventlog.RedactSecrets` handler
filter, which must clean the message, its arguments, the traceback and the stack of every record.
"""

from __future__ import annotations

import io
import logging
import sys

import pytest

from tradebus.cli import LOG_FORMAT
from tradebus.eventlog import RedactSecrets
from tradebus.eventlog import redact

COMPETING = "gateway session degraded: competing session: not taking it over (next attempt in 1.0s)"


def emitted(record: logging.LogRecord) -> str:
    """What a handler with the redacting filter and the application's format writes for ``record``."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecrets())
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.handle(record)
    return stream.getvalue()


def record(msg: str, *args: object, exc_info: object = None, stack_info: str | None = None) -> logging.LogRecord:
    rec = logging.LogRecord("brokers.ibkr.session", logging.WARNING, __file__, 1, msg, args, exc_info)  # type: ignore[arg-type]
    rec.stack_info = stack_info
    return rec


def test_the_competing_session_line_is_shown_as_written() -> None:
    assert redact(COMPETING) == COMPETING
    rec = record("gateway session %s: %s (next attempt in %.1fs)", "degraded", "competing session: not taking it over",
                 1.0)
    assert emitted(rec).rstrip("\n").endswith(COMPETING)


@pytest.mark.parametrize(
    "text",
    [
        "competing session: not taking it over",
        "brokerage session: authenticated",
        "token: expired, log in again",
        "the session cookie: never sent to an unverified peer",
        "order rejected: price too far",
        "order T1-00012 accepted (broker id 1234567890)",
        "subscribed smd+265598 with fields 31,84,86",
        "IBKR asked [o10331] stop order risk",
    ],
)
def test_prose_is_left_alone(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ('handshake refused (Cookie: api={"session":"9c8f02aa61"})', "9c8f02aa61"),
        ("Set-Cookie: x-sess-uuid=0.8e1c2a.1700000000", "0.8e1c2a"),
        ("session=9c8f02aa61bd4e00", "9c8f02aa61bd4e00"),
        ('{"session": "9c8f02aa61bd4e00", "ssoExpires": 0}', "9c8f02aa61bd4e00"),
        ("tickle answered session: 9c8f02aa61bd4e00", "9c8f02aa61bd4e00"),
        ("wss://gw/ws?oauth_token=ab12cd34ef", "ab12cd34ef"),
        ("Authorization: Bearer eyJhbGciOi.x.y", "eyJhbGciOi"),
        ("password: hunter", "hunter"),
        ("'live_session_token': 'Zm9vYmFy0123'", "Zm9vYmFy0123"),
        ("APCA-API-SECRET-KEY: s3cr3tvalue", "s3cr3tvalue"),
    ],
)
def test_secrets_are_replaced(text: str, secret: str) -> None:
    cleaned = redact(text)
    assert secret not in cleaned
    assert "***" in cleaned


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("GET /portfolio/DU1234567/summary -> 200", "GET /portfolio/DU****567/summary -> 200"),
        ("account U7654321 is not a paper account", "account U****321 is not a paper account"),
        ('"POST /v1/api/iserver/account/DF1234567/orders HTTP/1.1" 200',
         '"POST /v1/api/iserver/account/DF****567/orders HTTP/1.1" 200'),
        ("accounts ['DU1234567', 'U2345678']", "accounts ['DU****567', 'U****678']"),
    ],
)
def test_ibkr_account_ids_are_partially_masked(text: str, masked: str) -> None:
    assert redact(text) == masked


def test_the_filter_masks_arguments_of_any_level() -> None:
    rec = record("%s %s -> %d", "POST", "/iserver/account/DU1234567/orders", 200)
    rec.levelno, rec.levelname = logging.DEBUG, "DEBUG"
    line = emitted(rec)
    assert "DU1234567" not in line
    assert "/iserver/account/DU****567/orders -> 200" in line


def test_the_filter_redacts_the_traceback() -> None:
    try:
        try:
            raise ConnectionError('sent Cookie: api={"session":"9c8f02aa61bd"} for account DU1234567')
        except ConnectionError as cause:
            raise RuntimeError("order for DU1234567 failed") from cause
    except RuntimeError:
        rec = record("handler %s failed", "on_fill", exc_info=sys.exc_info())
    line = emitted(rec)
    assert "Traceback (most recent call last)" in line
    assert "RuntimeError: order for DU****567 failed" in line
    assert "DU1234567" not in line
    assert "9c8f02aa61bd" not in line


def test_the_filter_redacts_a_traceback_another_handler_already_formatted() -> None:
    try:
        raise ValueError("account U7654321 refused")
    except ValueError:
        rec = record("failed", exc_info=sys.exc_info())
    rec.exc_text = logging.Formatter().formatException(rec.exc_info)  # type: ignore[arg-type]
    assert "U7654321" not in emitted(rec)


def test_the_filter_redacts_the_stack() -> None:
    rec = record("where", stack_info='Stack (most recent call last):\n  File "x.py", line 3, in <module>\n'
                                      '    place("U7654321", cookie="api=9c8f02aa61bd")')
    line = emitted(rec)
    assert "U7654321" not in line
    assert "9c8f02aa61bd" not in line
    assert "Stack (most recent call last)" in line
