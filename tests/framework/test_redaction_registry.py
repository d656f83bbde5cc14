"""Values an adapter registers are masked wherever they appear; the shared live-account guards."""

from __future__ import annotations

import pytest

from framework.live_guard import check_url
from framework.live_guard import is_loopback_host
from framework.live_guard import says_allow
from framework.redaction import mask_account
from framework.redaction import redact
from framework.redaction import register_account
from framework.redaction import register_secret


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
