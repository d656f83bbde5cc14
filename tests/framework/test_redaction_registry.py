"""Values an adapter registers are masked wherever they appear; the shared live-account guards."""

from __future__ import annotations

import pytest

from framework.config import StrategyConfig
from framework.live_guard import check_url
from framework.live_guard import is_loopback_host
from framework.live_guard import says_allow
from framework.redaction import mask_account
from framework.redaction import masked
from framework.redaction import redact
from framework.redaction import register_account
from framework.redaction import register_secret
from framework.redaction import register_settings


def test_a_registered_account_of_any_form_is_masked_everywhere() -> None:
    register_account("PA3XK7Q2ME")  # an account id in no pattern's form
    cleaned = redact("GET /v2/account PA3XK7Q2ME -> 200; account=PA3XK7Q2ME")
    assert "PA3XK7Q2ME" not in cleaned
    assert cleaned.count(mask_account("PA3XK7Q2ME")) == 2
    assert mask_account("PA3XK7Q2ME") == "PA*****2ME"
    assert redact("PA3XK7Q2MEX and XPA3XK7Q2ME are other words") == "PA3XK7Q2MEX and XPA3XK7Q2ME are other words"


def test_a_registered_session_id_is_replaced_whatever_surrounds_it() -> None:
    register_secret("a81f0c33d2e94b7c9f0e1d2c3b4a5968")
    assert redact("ws handshake for a81f0c33d2e94b7c9f0e1d2c3b4a5968 refused") == "ws handshake for *** refused"


def test_short_values_are_not_registered() -> None:
    register_secret("abc")
    register_account("U1")
    assert redact("abc U1") == "abc U1"


@pytest.mark.parametrize(("value", "allows"), [(True, True), ("1", True), ("yes", True), ("maybe", True),
                                                (False, False), ("0", False), ("false", False), (" No ", False),
                                                ("", False), (0, False), (None, False)])
def test_what_counts_as_asking_for_a_live_account(value: object, allows: bool) -> None:
    assert says_allow(value) is allows


@pytest.mark.parametrize(("host", "loopback"), [("localhost", True), ("LOCALHOST", True), ("127.0.0.1", True),
                                                ("127.200.3.4", True), ("::1", True), ("10.0.0.1", False),
                                                ("localhost.example.com", False), ("0.0.0.0", False), (None, False)])
def test_loopback_hosts(host: str | None, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_check_url_is_usable_by_any_adapter() -> None:
    assert check_url("trading_url", "https://paper-api.example.com", schemes=("https", "http"), allow_live=True)
    with pytest.raises(ValueError, match=r"^trading_url: plain-text http:// .* use https://$"):
        check_url("trading_url", "http://api.example.com", schemes=("https", "http"), allow_live=False)


def test_settings_register_their_secrets_and_accounts_by_key() -> None:
    # R19: what the user's configuration holds is masked wherever it later appears
    register_settings({"brokers": {"x": {"account_id": "QK55021AB", "api_secret": "s3cr3t-canary-71"}},
                       "strategy": {"params": {"notify_token": "tok-canary-5521", "pin": "tok-canary-9"},
                                    "hooks": [{"webhook_password": "pw-canary-8812"}]}})
    text = redact("QK55021AB s3cr3t-canary-71 tok-canary-5521 pw-canary-8812 tok-canary-9")
    assert text == f"{mask_account('QK55021AB')} *** *** *** tok-canary-9"  # pin: not a secret's name


def test_masked_shows_secrets_as_stars_and_accounts_masked_through_mappings() -> None:
    value = {"account_id": "DU7654321", "params": {"password": "x", "symbol": "AAPL", "tokens": ["a", "b"]}}
    assert masked("settings", value) == {"account_id": "DU****321",
                                         "params": {"password": "***", "symbol": "AAPL", "tokens": ["***", "***"]}}
    assert masked("api_key", None) is None


def test_a_configuration_repr_never_shows_a_secret_or_an_account() -> None:
    class Notifier(StrategyConfig):
        account: str = "QK55021AC"
        smtp_password: str = "pw-canary-3310"
        headers: dict[str, str] = {"Authorization-Token": "tok-canary-2207", "Accept": "json"}

    config = Notifier()
    for text in (repr(config), str(config)):
        assert "QK55021AC" not in text
        assert "canary" not in text
        assert mask_account("QK55021AC") in text
        assert "'Accept': 'json'" in text
