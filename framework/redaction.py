"""Keep secrets and account ids out of log output.

What counts as a secret: the values of ``Cookie``, ``Set-Cookie``, ``Authorization`` and API secret
headers, the gateway's ``api=`` cookie, session ids, tokens (OAuth, access, refresh, live session
token), client secrets and passwords. Each is replaced with ``***`` where it stands as
``key=value``, ``"key": "value"`` or a header. Written as prose (``key: value``), a session id or
token is replaced only when the value looks like one (it has a digit, or is long): "competing
session: not taking it over" is a sentence, not a session id.

Account ids are masked, not removed, so a person can still tell accounts apart: IBKR's forms
(``U1234567``, ``DU1234567``, ``F…``, ``DF…``, ``I…``) everywhere, as ``DU****567``. An adapter
registers the account it trades (:func:`register_account`, any form) and the secrets it learns at
run time (:func:`register_secret`: a session id), which are then masked wherever they appear. The
application registers the secrets its settings hold (:func:`register_settings`: every value whose
key names a password, token, secret, key or credential, and every account id), so a strategy that
logs or raises with its notifier's token does not leak it either.

Configuration objects never show those values: :func:`masked` gives what a repr shows instead
(``***`` for a secret, the masked form of an account id), by key, through nested mappings;
:class:`framework.config.FrozenConfig` reprs with it.

:class:`RedactSecrets` (a handler filter) applies :func:`redact` to every record's message, its
arguments, its traceback and its stack; :class:`RedactingFormatter` applies it once more to the
finished line. The application installs both on every handler it configures.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from typing import Any

MASK = "***"

_KEY_NAMES = (
    r"j?session_?id|session|x-sess-uuid|sso_?token|"
    r"(?:access|oauth|refresh|live_session|bearer|id)_?token|token|lst|"
    r"client_?secret|secret(?:_?key)?|apca-api-secret-key|api_?secret|"
    r"password|passwd|pwd"
)
_ALWAYS = re.compile(r"(?i)password|passwd|pwd|secret|apca-api-secret-key")  # no prose reading of these

_HEADER = re.compile(
    r"""(?imx)
    (?P<key> \b(?:authorization|proxy-authorization|apca-api-secret-key) \s*[:=]\s* ) [^\r\n]+   # whole value
    | (?P<ckey> \b(?:set-)?cookie \s*[:=]\s* ) (?=[^\r\n]*=) [^\r\n]+            # a cookie is name=value
    | (?P<api> \bapi \s*=\s* ) (?: \{[^}\r\n]*\}? | [^\s;,&]+ )                   # the gateway's api= cookie
    """
)
_KEY_VALUE = re.compile(
    rf"""(?ix)
    (?P<q>["']?) (?P<name> \b(?:{_KEY_NAMES}) ) (?P=q)      # the key, quoted or bare
    (?P<sep> \s*[:=]\s* ) (?P<vq>["']?)
    (?P<value> [^"'\s,;}}&)\]]+ )
    """
)
_IBKR_ACCOUNT = re.compile(r"\b(D?[UFI])(\d{5,9})\b")
_SECRET_SETTING = re.compile(
    r"(?i)passw(?:or)?d|\bpwd|secret|token|api_?key|private_?key|credential|cookie|session_?id|\blst\b"
)
_ACCOUNT_SETTING = re.compile(r"(?i)^(?:.*_)?account(?:_?id)?$")

MAX_KNOWN = 512
"""Registered values kept; the oldest are forgotten beyond this (a session id per gateway restart)."""


class _Known:
    """Registered values and the one pattern that finds them all (rebuilt on each registration)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.replacements: dict[str, str] = {}  # registered value -> its replacement
        self.pattern: re.Pattern[str] | None = None  # swapped whole, read without the lock

    def remember(self, value: str, replacement: str) -> None:
        with self.lock:
            if self.replacements.get(value) == replacement:
                return
            self.replacements.pop(value, None)
            self.replacements[value] = replacement
            while len(self.replacements) > MAX_KNOWN:
                del self.replacements[next(iter(self.replacements))]
            alternatives = "|".join(re.escape(v) for v in sorted(self.replacements, key=len, reverse=True))
            self.pattern = re.compile(rf"(?<![A-Za-z0-9])(?:{alternatives})(?![A-Za-z0-9])")

    def sub(self, text: str) -> str:
        pattern, replacements = self.pattern, self.replacements
        if pattern is None:
            return text
        return pattern.sub(lambda m: replacements.get(m.group(0), MASK), text)


_known = _Known()


def mask_account(account_id: str) -> str:
    """An account id as logs show it: the first two and last three characters, stars between.

    IBKR ids keep their letters (``DU1234567`` -> ``DU****567``); ids of seven characters or fewer
    keep only their last two.
    """
    match = _IBKR_ACCOUNT.fullmatch(account_id)
    if match:
        letters, digits = match.groups()
        return letters + "*" * (len(digits) - 3) + digits[-3:]
    if len(account_id) <= 7:
        return "*" * max(len(account_id) - 2, 3) + account_id[-2:]
    return account_id[:2] + "*" * (len(account_id) - 5) + account_id[-3:]


def register_account(account_id: str | None) -> None:
    """Mask ``account_id`` (any form) in every text :func:`redact` cleans from now on."""
    if account_id and len(account_id) >= 4:
        _known.remember(account_id, mask_account(account_id))


def register_secret(value: str | None) -> None:
    """Replace ``value`` (a session id, a token) with ``***`` in every text :func:`redact` cleans."""
    if value and len(value) >= 8:
        _known.remember(value, MASK)


def is_secret_setting(key: str) -> bool:
    """Whether a setting (or field) called ``key`` holds a secret: a password, token, secret, key, cookie."""
    return _SECRET_SETTING.search(key) is not None


def is_account_setting(key: str) -> bool:
    """Whether a setting (or field) called ``key`` holds an account id (``account_id``, ``account``)."""
    return _ACCOUNT_SETTING.match(key) is not None


def register_settings(values: Any) -> None:
    """Register the secrets and account ids a settings tree holds (nested mappings and lists), by key.

    A secret of fewer than eight characters is not registered (it would mask unrelated words); it is
    still masked where it stands as ``key=value``, and in the repr of a configuration.
    """
    for key, value in _leaves(values, ""):
        if not isinstance(value, str):
            continue
        if is_secret_setting(key):
            register_secret(value)
        elif is_account_setting(key):
            register_account(value)


def _leaves(values: Any, key: str) -> Iterator[tuple[str, Any]]:
    if isinstance(values, Mapping):
        for k, v in values.items():
            yield from _leaves(v, str(k))
    elif isinstance(values, list | tuple):
        for v in values:
            yield from _leaves(v, key)
    else:
        yield key, values


def masked(key: str, value: Any) -> Any:
    """What a repr shows for the setting ``key``: ``***`` for a secret, an account id masked, mappings by key."""
    if isinstance(value, Mapping):
        return {k: masked(str(k), v) for k, v in value.items()}
    if value is None or value == "":
        return value
    if is_secret_setting(key) and isinstance(value, str | bytes):
        return MASK
    if is_account_setting(key) and isinstance(value, str):
        return mask_account(value)
    if isinstance(value, list | tuple):
        return type(value)(masked(key, v) for v in value)
    return value


def redact(text: str) -> str:
    """``text`` without secrets (``***``) and with account ids masked (``DU****567``)."""
    text = _known.sub(text)
    text = _HEADER.sub(_keep_key, text)
    text = _KEY_VALUE.sub(_secret_value, text)
    return _IBKR_ACCOUNT.sub(lambda m: mask_account(m.group(0)), text)


def _keep_key(match: re.Match[str]) -> str:
    key = match.group("key") or match.group("ckey") or match.group("api")
    return key + MASK


def _secret_value(match: re.Match[str]) -> str:
    value = match.group("value")
    prose = not match.group("q") and "=" not in match.group("sep")
    if prose and not _ALWAYS.fullmatch(match.group("name")) and not _looks_like_token(value):
        return match.group(0)
    if value == MASK:
        return match.group(0)
    return match.group(0)[: match.start("value") - match.start()] + MASK


def _looks_like_token(value: str) -> bool:
    return len(value) >= 24 or (len(value) >= 6 and any(c.isdigit() for c in value))


class RedactSecrets(logging.Filter):
    """A handler filter that cleans every record with :func:`redact`; it never drops a record.

    The message (with its arguments), the traceback (``exc_info`` is formatted into ``exc_text``,
    cleaned, and the exception itself dropped from the record, so no later formatter can print it
    raw) and the stack (``stack_info``) are all rewritten.
    """

    def __init__(self, name: str = "", *, format_exception: Callable[..., str] | None = None) -> None:
        super().__init__(name)
        self._format_exception = format_exception or logging.Formatter().formatException

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite ``record`` without secrets; always returns True."""
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string is the formatter's to report
            message = None
        if message is not None:
            cleaned = redact(message)
            if cleaned != message or record.args:
                record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._format_exception(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class RedactingFormatter(logging.Formatter):
    """A formatter whose finished line (traceback and stack included) passes :func:`redact`."""

    def format(self, record: logging.LogRecord) -> str:
        """Format as :class:`logging.Formatter` does, then redact."""
        return redact(super().format(record))
