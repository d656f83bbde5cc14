"""IbkrConfig: validation, derived websocket URL, environment loading."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from brokers.ibkr import IbkrConfig
from framework.errors import ConfigError


def test_defaults_point_at_the_local_gateway() -> None:
    config = IbkrConfig()
    assert config.base_url == "https://localhost:5000/v1/api"
    assert config.websocket_url == "wss://localhost:5000/v1/api/ws"
    assert not config.insecure_skip_tls_verify
    assert not config.allow_live
    assert config.auto_confirm_message_ids == frozenset()


def test_fingerprint_is_normalised() -> None:
    config = IbkrConfig(pinned_sha256=":".join(["AB"] * 32))
    assert config.pinned_sha256 == "ab" * 32


@pytest.mark.parametrize(
    "values",
    [{"pinned_sha256": "abc"}, {"insecure_skip_tls_verify": True, "allow_live": True},
     {"insecure_skip_tls_verify": True, "ca_file": "ca.pem"}, {"base_url": "ftp://x"}, {"global_rate": 50},
     {"unknown": 1}],
)
def test_invalid_settings_are_refused(values: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        IbkrConfig.model_validate(values)


def test_from_env_reads_the_prefixed_variables() -> None:
    env = {
        "TRADEBUS_BROKERS__IBKR__BASE_URL": "https://127.0.0.1:5001/v1/api",
        "TRADEBUS_BROKERS__IBKR__ACCOUNT_ID": "DU1",
        "TRADEBUS_BROKERS__IBKR__AUTO_CONFIRM": "o163, o354",
        "TRADEBUS_BROKERS__IBKR__ALLOW_LIVE": "0",
    }
    config = IbkrConfig.from_env(env)
    assert (config.base_url, config.account_id, config.allow_live) == ("https://127.0.0.1:5001/v1/api", "DU1", False)
    assert config.auto_confirm_message_ids == {"o163", "o354"}
    assert config.websocket_url == "wss://127.0.0.1:5001/v1/api/ws"


def test_from_env_names_the_source_on_error() -> None:
    with pytest.raises(ConfigError, match="TRADEBUS_BROKERS__IBKR__"):
        IbkrConfig.from_env({"TRADEBUS_BROKERS__IBKR__PINNED_SHA256": "nope"})


# ----------------------------------------------------------------------------- plain-text URLs


@pytest.mark.parametrize(
    "values",
    [
        {"base_url": "http://127.0.0.1:5000/v1/api"},
        {"base_url": "http://127.9.8.7:5000/v1/api"},
        {"base_url": "http://localhost:5000/v1/api"},
        {"base_url": "http://[::1]:5000/v1/api"},
        {"ws_url": "ws://127.0.0.1:5000/v1/api/ws"},
        {"base_url": "https://gateway.internal:5000/v1/api", "ws_url": "wss://gateway.internal:5000/v1/api/ws"},
    ],
)
def test_plain_text_is_accepted_to_loopback_for_paper(values: dict[str, object]) -> None:
    IbkrConfig.model_validate(values)


@pytest.mark.parametrize(
    ("values", "field", "fix"),
    [
        ({"base_url": "http://gateway.internal:5000/v1/api"}, "base_url", "https://"),
        ({"base_url": "http://10.0.0.5:5000/v1/api"}, "base_url", "https://"),
        ({"base_url": "http://localhost.example.com/v1/api"}, "base_url", "https://"),
        ({"ws_url": "ws://192.168.1.20:5000/v1/api/ws"}, "ws_url", "wss://"),
        ({"base_url": "http://127.0.0.1:5000/v1/api", "allow_live": True}, "base_url", "https://"),
        ({"ws_url": "ws://127.0.0.1:5000/v1/api/ws", "allow_live": True}, "ws_url", "wss://"),
        ({"ws_url": "ftp://127.0.0.1/ws"}, "ws_url", "wss://"),
    ],
)
def test_plain_text_is_refused_off_loopback_or_with_allow_live(values: dict[str, object], field: str, fix: str) -> None:
    with pytest.raises(ValidationError) as info:
        IbkrConfig.model_validate(values)
    [error] = info.value.errors()
    message = error["msg"]
    assert field in message or error["loc"] == (field,)
    assert fix in message
    assert "\n" not in message


def test_plain_text_off_loopback_names_the_key_and_the_variable() -> None:
    variable = "TRADEBUS_BROKERS__IBKR__BASE_URL"
    with pytest.raises(ConfigError) as info:
        IbkrConfig.from_env({variable: "http://gateway.internal:5000/v1/api"})
    assert "base_url" in str(info.value)
    assert "https://" in str(info.value)
