"""The guards every broker adapter shares around a real-money account.

**Allowing a live account.** A broker that can reach a real-money account refuses one unless its
config's :data:`ALLOW_LIVE` field is true. Only code may set it: an explicit argument
(``IbkrConfig(allow_live=True)``) or the command line's ``tradebus live --i-understand-live``. The
application refuses the key in settings files and environment variables for every broker section
(``[brokers.<name>]``), so a new adapter gets that guard by naming its field ``allow_live``.

**Plain-text URLs.** ``http://`` and ``ws://`` carry the session (and with it the account) in the
clear. An adapter's config accepts them only to a loopback host (127.0.0.0/8, ::1, ``localhost``)
and never together with ``allow_live`` (:func:`check_url`); at connect time it refuses a non-paper
account reached over one (:func:`is_plain_text`), whatever the config said.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

ALLOW_LIVE = "allow_live"
"""The config field with which a broker allows a live (real-money) account."""

LIVE_FLAG = "--i-understand-live"
"""The command-line flag that allows a live account for one ``tradebus live`` run."""

SECURE_SCHEMES = {"http": "https", "ws": "wss"}
"""Each plain-text scheme and the TLS scheme that replaces it."""

_FALSE_WORDS = frozenset({"", "0", "false", "no", "off"})


def says_allow(value: object) -> bool:
    """Whether a raw setting value (a TOML value or an environment string) would allow a live account.

    Only an explicit false (``false``, ``0``, ``"no"``, ``"off"``, empty) says nothing; anything else,
    a value that does not parse included, is taken as asking for it.
    """
    if value is None or value is False or value == 0:
        return False
    return not (isinstance(value, str) and value.strip().lower() in _FALSE_WORDS)


def is_loopback_host(host: str | None) -> bool:
    """Whether ``host`` is this machine: ``localhost``, 127.0.0.0/8 or ::1."""
    if not host:
        return False
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_plain_text(url: str) -> bool:
    """Whether ``url`` is unencrypted (``http://`` or ``ws://``)."""
    return urlsplit(url).scheme.lower() in SECURE_SCHEMES


def check_url(field: str, url: str, *, schemes: tuple[str, str], allow_live: bool) -> str:
    """Return ``url`` if it may be used; otherwise raise one line naming ``field`` and the fix.

    Args:
        field: The config field, named in the error (``base_url``).
        url: Its value.
        schemes: The TLS scheme and its plain-text twin the field accepts (``("https", "http")``).
        allow_live: Whether the config allows a live account (plain text is then refused).

    Raises:
        ValueError: An unknown scheme; plain text to a host that is not loopback; plain text with
            ``allow_live``.
    """
    secure, plain = schemes
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        msg = f"{field} must be a {secure}:// URL (or {plain}:// to this machine), received {url!r}"
        raise ValueError(msg)
    if scheme == plain and allow_live:
        msg = (f"{field}: plain-text {plain}:// cannot be combined with allow_live (a live account is traded "
               f"only over TLS); use {secure}://")
        raise ValueError(msg)
    if scheme == plain and not is_loopback_host(parts.hostname):
        msg = (f"{field}: plain-text {plain}:// is accepted only to this machine (127.0.0.0/8, ::1, localhost), "
               f"received host {parts.hostname!r}; use {secure}://")
        raise ValueError(msg)
    return url
