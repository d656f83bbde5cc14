"""Configuration of the IBKR Client Portal adapter.

:class:`IbkrConfig` is frozen and validated; the library never reads the environment on its own.
:meth:`IbkrConfig.from_env` is the one explicit place that does, for examples and the CLI.
"""

from __future__ import annotations

import os
import re
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Self

from pydantic import Field
from pydantic import ValidationError
from pydantic import field_validator
from pydantic import model_validator

from brokers.ibkr.maintenance import REGIONS
from brokers.ibkr.maintenance import MaintenanceCalendar
from brokers.ibkr.maintenance import MaintenanceWindow
from brokers.ibkr.maintenance import Region
from framework.config import FrozenConfig
from framework.errors import ConfigError
from framework.live_guard import ALLOW_LIVE
from framework.live_guard import LIVE_FLAG
from framework.live_guard import check_url
from framework.live_guard import is_plain_text
from framework.live_guard import says_allow

_FINGERPRINT = re.compile(r"^[0-9a-f]{64}$")
ENV_PREFIX = "TRADEBUS_BROKERS__IBKR__"  # the same names the settings loader uses
_ENV_NAMES = {  # field -> variable name after the prefix (from_env)
    "base_url": "BASE_URL", "account_id": "ACCOUNT_ID", "ca_file": "CA_FILE", "pinned_sha256": "PINNED_SHA256",
    "insecure_skip_tls_verify": "INSECURE_SKIP_TLS_VERIFY", "auto_confirm_message_ids": "AUTO_CONFIRM",
    "maintenance_region": "MAINTENANCE_REGION",
}


class IbkrConfig(FrozenConfig):
    """Settings of :class:`~brokers.ibkr.broker.IbkrBroker`.

    Attributes:
        base_url: REST root of the gateway; defaults to the local Client Portal gateway. Plain
            ``http://`` only to this machine (127.0.0.0/8, ::1, localhost) and never with
            ``allow_live``; a non-paper account is refused over it at connect time.
        ws_url: Websocket URL; derived from ``base_url`` (``wss://.../ws``) when not set. Plain
            ``ws://`` under the same rules as ``http://``.
        account_id: Account to trade; None picks the only account the gateway reports.
        ca_file: CA bundle (PEM) that signed the gateway's certificate.
        pinned_sha256: SHA-256 fingerprint (hex) of the gateway's leaf certificate, checked instead of a
            CA chain (for the gateway's self-signed certificate).
        insecure_skip_tls_verify: Turn TLS verification off. Only for local experiments; logged loudly
            and refused together with ``allow_live``.
        connect_timeout: Seconds to establish a TCP/TLS connection.
        read_timeout: Seconds to wait for a response.
        tickle_interval: Seconds between ``/tickle`` keep-alives (the session idles out after ~5 min).
        ws_stall_timeout: Seconds without any websocket frame before the stream is declared stalled.
            The gateway sends a heartbeat every 10 s: 24 s tolerates one lost heartbeat and, with the
            watchdog's half-second tick, detects a silent stream within 25 s (2 heartbeats + 5 s).
        ws_tic_interval: Seconds between websocket keep-alives (``tic`` and ``ech+hb``).
        reconnect_initial: First reconnect / re-auth back-off in seconds.
        reconnect_max: Longest back-off in seconds.
        reauth_timeout: Seconds to wait for ``/iserver/reauthenticate`` to take effect.
        auto_confirm_message_ids: Order-precaution message ids (``o163``, ``o354`` ...) that may be
            confirmed automatically; any other question rejects the order.
        suppress_on_start: Also ask the gateway to suppress the allow-listed ids at session start.
        allow_live: Permit a non-paper account. Without it the adapter refuses to connect to one. Only
            code sets it (this argument, or ``tradebus live --i-understand-live``): the application
            refuses it in settings files and environment variables.
        global_rate: Client-side request budget per second (the gateway allows 10).
        pacing: Pace requests on the client (``global_rate`` and IBKR's per-endpoint intervals). Turn
            it off only against the simulated gateway with its own pacing off (benchmarks, crash
            tests): the real gateway answers a burst with 429s and a 10-minute penalty box. Refused
            together with ``allow_live``.
        max_rate_wait: Longest a request waits for the rate limiter before failing fast.
        rate_limit_backoff: Seconds every request is held back after a 429.
        order_lookup_window: Seconds an order with an ambiguous placement outcome is looked up by its
            client order id before it is declared lost.
        max_reply_rounds: Most confirmation questions answered for one order.
        read_retries: Retries of an idempotent read after a transport failure.
        quote_fields: Market-data field codes requested for quotes.
        maintenance_region: The IBKR region whose documented maintenance windows apply
            (``north_america``, ``europe``, ``asia_pacific``; see :mod:`brokers.ibkr.maintenance`), or
            ``none`` for a gateway with no maintenance (the simulated gateway unless configured).
        maintenance_windows: Windows to use instead of the region's (an empty tuple: none). Inside a
            window the broker is degraded ("scheduled maintenance"), no order is sent, and errors are
            expected (logged as such, no other alarm); afterwards the session is checked and the
            orders reconciled.
        clock_skew_threshold: Seconds the gateway's clock (its heartbeat time stamps) may differ from
            this machine's before ``ClockSkewDetected`` and a warning; None turns the check off.
    """

    base_url: str = "https://localhost:5000/v1/api"
    ws_url: str | None = None
    account_id: str | None = None
    ca_file: Path | None = None
    pinned_sha256: str | None = None
    insecure_skip_tls_verify: bool = False
    connect_timeout: float = Field(default=5.0, gt=0)
    read_timeout: float = Field(default=15.0, gt=0)
    tickle_interval: float = Field(default=55.0, gt=0)
    ws_stall_timeout: float = Field(default=24.0, gt=0)
    ws_tic_interval: float = Field(default=50.0, gt=0)
    reconnect_initial: float = Field(default=1.0, gt=0)
    reconnect_max: float = Field(default=60.0, gt=0)
    reauth_timeout: float = Field(default=30.0, gt=0)
    auto_confirm_message_ids: frozenset[str] = frozenset()
    suppress_on_start: bool = True
    allow_live: bool = False
    global_rate: float = Field(default=8.0, gt=0, le=10)
    pacing: bool = True
    max_rate_wait: float = Field(default=6.0, ge=0)
    rate_limit_backoff: float = Field(default=60.0, ge=0)
    order_lookup_window: float = Field(default=30.0, gt=0)
    max_reply_rounds: int = Field(default=10, gt=0)
    read_retries: int = Field(default=2, ge=0)
    quote_fields: tuple[str, ...] = ("31", "84", "85", "86", "88", "7059", "7762", "6509")
    maintenance_region: Region = "north_america"
    maintenance_windows: tuple[MaintenanceWindow, ...] | None = None
    clock_skew_threshold: float | None = Field(default=15.0, gt=0)

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        # plain http:// only to this machine; with allow_live not at all (_check_tls)
        return check_url("base_url", value, schemes=("https", "http"), allow_live=False).rstrip("/")

    @field_validator("ws_url")
    @classmethod
    def _check_ws_url(cls, value: str | None) -> str | None:
        return None if value is None else check_url("ws_url", value, schemes=("wss", "ws"), allow_live=False)

    @field_validator("ca_file")
    @classmethod
    def _check_ca_file(cls, value: Path | None) -> Path | None:
        # a missing or unreadable CA is named here, not by urllib3 at the first request
        if value is None:
            return None
        if not value.is_file():
            msg = (f"no CA certificate file at {value}: give the PEM file of the CA that signed the gateway's "
                   f"certificate (tradebus gateway-sim prints its own as ca_file=...)")
            raise ValueError(msg)
        try:
            ssl.create_default_context(cafile=str(value))
        except (ssl.SSLError, OSError) as e:
            msg = f"{value} holds no PEM CA certificate ({getattr(e, 'reason', None) or e})"
            raise ValueError(msg) from e
        return value

    @field_validator("pinned_sha256")
    @classmethod
    def _check_fingerprint(cls, value: str | None) -> str | None:
        if value is None:
            return None
        cleaned = value.replace(":", "").lower()
        if not _FINGERPRINT.match(cleaned):
            msg = "pinned_sha256 must be 64 hex digits (colons allowed)"
            raise ValueError(msg)
        return cleaned

    @model_validator(mode="after")
    def _check_tls(self) -> Self:
        if self.allow_live:  # a live account only over TLS
            check_url("base_url", self.base_url, schemes=("https", "http"), allow_live=True)
            if self.ws_url is not None:
                check_url("ws_url", self.ws_url, schemes=("wss", "ws"), allow_live=True)
        if self.insecure_skip_tls_verify and self.allow_live:
            msg = (f"insecure_skip_tls_verify cannot be combined with allow_live ({LIVE_FLAG}): verify the gateway's "
                   f"certificate with ca_file or pinned_sha256")
            raise ValueError(msg)
        if not self.pacing and self.allow_live:
            msg = f"pacing=false cannot be combined with allow_live ({LIVE_FLAG}): remove pacing = false"
            raise ValueError(msg)
        if self.insecure_skip_tls_verify and (self.ca_file or self.pinned_sha256):
            msg = "insecure_skip_tls_verify contradicts ca_file / pinned_sha256"
            raise ValueError(msg)
        return self

    @property
    def plain_text_url(self) -> tuple[str, str] | None:
        """The first unencrypted URL as ``(field, url)`` (``http://`` / ``ws://``), else None."""
        for field, url in (("base_url", self.base_url), ("ws_url", self.websocket_url)):
            if is_plain_text(url):
                return field, url
        return None

    def maintenance_calendar(self) -> MaintenanceCalendar:
        """The scheduled maintenance in effect: ``maintenance_windows``, else the region's documented ones."""
        windows = self.maintenance_windows
        return MaintenanceCalendar(REGIONS[self.maintenance_region] if windows is None else windows)

    @property
    def websocket_url(self) -> str:
        """The websocket URL, derived from ``base_url`` when not configured."""
        if self.ws_url is not None:
            return self.ws_url
        root = self.base_url.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
        return f"{root}/ws"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> IbkrConfig:
        """Build a config from ``TRADEBUS_BROKERS__IBKR__*`` variables (examples and CLI only).

        Recognised: ``BASE_URL``, ``ACCOUNT_ID``, ``CA_FILE``, ``PINNED_SHA256``,
        ``INSECURE_SKIP_TLS_VERIFY`` (``1``), ``AUTO_CONFIRM`` (comma list) and ``MAINTENANCE_REGION``.
        ``ALLOW_LIVE`` is refused: a live account is allowed only in code (``from_env(allow_live=True)``).

        Args:
            environ: Mapping to read instead of ``os.environ``.
            **overrides: Fields that win over the environment (the only way to pass ``allow_live``).

        Raises:
            ConfigError: If a value is invalid, or ``ALLOW_LIVE`` asks for a live account; names
                the variable.
        """
        env = os.environ if environ is None else environ
        live = ENV_PREFIX + ALLOW_LIVE.upper()
        if says_allow(env.get(live)):
            msg = (f"a live account cannot be allowed by an environment variable; unset it and pass "
                   f"{ALLOW_LIVE}=True in code (or {LIVE_FLAG} to tradebus live)")
            raise ConfigError(msg, key=ALLOW_LIVE, source=live)
        values: dict[str, object] = {}
        variables: dict[str, str] = {}  # field -> the variable that set it
        for field, name in _ENV_NAMES.items():
            raw = env.get(ENV_PREFIX + name)
            if raw:
                values[field], variables[field] = raw, ENV_PREFIX + name
        if "insecure_skip_tls_verify" in values:
            values["insecure_skip_tls_verify"] = str(values["insecure_skip_tls_verify"]).strip().lower() in {
                "1", "true", "yes"}
        if "auto_confirm_message_ids" in values:
            confirm = str(values["auto_confirm_message_ids"])
            values["auto_confirm_message_ids"] = frozenset(p.strip() for p in confirm.split(",") if p.strip())
        values.update(overrides)
        for field in overrides:
            variables.pop(field, None)
        try:
            return cls.model_validate(values)
        except ValidationError as e:
            first = e.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise ConfigError(first["msg"], key=field or None, source=variables.get(field, f"{ENV_PREFIX}*")) from e
