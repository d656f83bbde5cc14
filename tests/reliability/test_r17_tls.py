"""R17: every certificate that must not be trusted is refused, on REST and the websocket, in live mode.

Scenario (reliability.md section 5, R17): the gateway presents an expired certificate, one issued for
another host name, one from a CA the adapter was not given, or (no CA configured at all) its own
self-signed one, which the system trust store refuses; and a configuration that turns verification
off is combined with a live account.

Pass criteria and how each is measured (the real simulated gateway over HTTPS/WSS on loopback,
serving certificates this test generates with trustme; nothing is checked in):

* Fail closed with a clear error: for each bad certificate, a REST call through the adapter's TLS
  policy, the adapter's websocket factory and ``IbkrBroker.connect`` on a live (``U…``) account with
  ``allow_live`` each raise ``IbkrTlsError`` whose one line names the problem (``certificate has
  expired``, ``Hostname mismatch``, ``IP address mismatch``, ``unable to get local issuer
  certificate``), OpenSSL's reason and the fix; the gateway's request counter and connection log
  show that nothing reached it (no HTTP request, no websocket upgrade), so no order can.
* The same gateway with a good certificate from the same CA is accepted (the refusals are about the
  certificate, nothing else).
* ``insecure_skip_tls_verify`` (the adapter's ``verify=False``) with a live account is refused by
  config validation: in code, from the environment and from a settings file with
  ``tradebus live --i-understand-live``, each with one line naming the field.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import trustme

from brokers.ibkr import IbkrBroker
from brokers.ibkr import IbkrConfig
from brokers.ibkr.errors import IbkrTlsError
from brokers.ibkr.ratelimit import RateLimiter
from brokers.ibkr.rest import IbkrRestClient
from brokers.ibkr.session import configure_tls
from brokers.ibkr.wsconnect import connect_websocket
from framework.clock import SystemClock
from framework.errors import ConfigError
from simulators.ibkr import SimulatedGateway
from simulators.ibkr import SimulatorConfig
from tradebus import cli

LIVE = SimulatorConfig(account_id="U7654321", paper=False, pacing_enabled=False)
LOOPBACK = ("localhost", "127.0.0.1", "::1")


@pytest.fixture(autouse=True)
def no_ca_bundle_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA(organization_name="the CA the adapter trusts")


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def serving(ca: trustme.CA, folder: Path, *identities: str, **dates: dt.datetime) -> dict[str, Path]:
    """Write a leaf certificate for ``identities`` (signed by ``ca``) and its key: the gateway's cert_file/key_file."""
    leaf = ca.issue_cert(*identities, **dates)
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / "cert.pem", folder / "key.pem"
    cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    key.write_bytes(leaf.private_key_pem.bytes())
    return {"cert_file": cert, "key_file": key}


@pytest.fixture(scope="module")
def certificates(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Path]]:
    folder = tmp_path_factory.mktemp("certs")
    now = dt.datetime.now(dt.UTC)
    return {
        "good": serving(ca, folder / "good", *LOOPBACK),
        "expired": serving(ca, folder / "expired", *LOOPBACK, not_before=now - dt.timedelta(days=30),
                           not_after=now - dt.timedelta(days=1)),
        "other-host": serving(ca, folder / "other", "gateway.example.com"),
    }


@pytest.fixture(scope="module")
def gateways(certificates: dict[str, dict[str, Path]]) -> Iterator[dict[str, SimulatedGateway]]:
    started = {name: SimulatedGateway(port=0, seed=17, config=LIVE, **files).start()
               for name, files in certificates.items()}
    started["own"] = SimulatedGateway(port=0, seed=17, config=LIVE).start()  # its own CA, not the adapter's
    try:
        yield started
    finally:
        for gw in started.values():
            gw.stop()


def live_config(gw: SimulatedGateway, host: str = "127.0.0.1", **tls: Any) -> IbkrConfig:
    base = f"https://{host}:{gw.port}/v1/api"
    return IbkrConfig(base_url=base, ws_url=base.replace("https://", "wss://") + "/ws", allow_live=True, **tls)


def rest_call(config: IbkrConfig) -> None:
    with requests.Session() as http:
        limiter = RateLimiter(SystemClock(), global_rate=8, max_wait=6, sleep=lambda _s: None)
        IbkrRestClient(config, configure_tls(http, config), limiter, lambda _s: None).tickle()


def websocket(gw: SimulatedGateway, config: IbkrConfig) -> None:
    connect_websocket(config.websocket_url, cookie='api={"session":"' + gw.session_id + '"}', config=config,
                      timeout=5).close()


CASES = [
    ("expired", "127.0.0.1", "ca", "certificate has expired", "renew the gateway's certificate"),
    ("other-host", "localhost", "ca", "Hostname mismatch, certificate is not valid for 'localhost'",
     "connect with a host name the certificate lists"),
    ("other-host", "127.0.0.1", "ca", "IP address mismatch, certificate is not valid for '127.0.0.1'",
     "connect with an address the certificate lists"),
    ("own", "127.0.0.1", "ca", "unable to get local issuer certificate", "set ca_file to the CA"),
    ("own", "127.0.0.1", None, "unable to get local issuer certificate", "set ca_file to the CA"),
]


@pytest.mark.parametrize(("gateway", "host", "trust", "problem", "fix"), CASES,
                         ids=["expired", "hostname-mismatch", "ip-mismatch", "other-ca", "no-ca"])
def test_r17_a_bad_certificate_fails_closed_on_rest_websocket_and_connect(
    gateways: dict[str, SimulatedGateway], ca_file: Path, gateway: str, host: str, trust: str | None, problem: str,
    fix: str,
) -> None:
    gw = gateways[gateway]
    config = live_config(gw, host, ca_file=ca_file if trust else None)
    before = gw.state()
    errors = []
    for attempt in (lambda: rest_call(config), lambda: websocket(gw, config),
                    lambda: IbkrBroker(config, clock=SystemClock()).connect(lambda _event: None)):
        with pytest.raises(IbkrTlsError) as refused:
            attempt()
        errors.append(refused.value)
    for error in errors:
        text = str(error)
        assert f"TLS verification of {host}:{gw.port} failed: {problem}" in text
        assert "(CERTIFICATE_VERIFY_FAILED)" in text
        assert fix in text
        assert "\n" not in text
        assert error.sent is False
    after = gw.state()
    assert after["request_seq"] == before["request_seq"]  # not one HTTP request reached the gateway
    assert after["ws_clients"] == 0
    assert gw.ws_connections() == []  # no websocket upgrade either
    assert after["placement_posts"] == {}


def test_r17_the_same_gateway_with_a_good_certificate_is_trusted(
    gateways: dict[str, SimulatedGateway], ca_file: Path,
) -> None:
    gw = gateways["good"]
    for host in ("127.0.0.1", "localhost"):
        config = live_config(gw, host, ca_file=ca_file)
        rest_call(config)
        websocket(gw, config)
        broker = IbkrBroker(config, clock=SystemClock())
        try:
            broker.connect(lambda _event: None)
            assert broker.connection_state == "connected"
        finally:
            broker.disconnect()
        gw.pacing_reset()


def test_r17_turning_verification_off_is_refused_for_a_live_account(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(ValueError, match="insecure_skip_tls_verify cannot be combined with allow_live"):
        IbkrConfig(insecure_skip_tls_verify=True, allow_live=True)
    env = {"TRADEBUS_BROKERS__IBKR__INSECURE_SKIP_TLS_VERIFY": "1"}
    with pytest.raises(ConfigError, match="insecure_skip_tls_verify cannot be combined with allow_live"):
        IbkrConfig.from_env(env, allow_live=True)
    settings = tmp_path / "tradebus.toml"
    settings.write_text(f"""
journal = "{tmp_path / "journal.sqlite"}"
halt_file = "{tmp_path / "HALT"}"

[brokers.ibkr]
base_url = "https://127.0.0.1:9/v1/api"
insecure_skip_tls_verify = true
""", encoding="utf-8")
    strategy = f"{Path(__file__).parents[1] / 'e2e' / 'round_trip_strategy.py'}:RoundTrip"
    code = cli.main(["live", strategy, "--broker", "ibkr", "--config", str(settings), "--i-understand-live",
                     "--duration", "1", "--quiet"])
    assert code == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "insecure_skip_tls_verify cannot be combined with allow_live" in line
    # without the live flag the same file is a paper-only configuration: accepted by validation
    assert IbkrConfig(insecure_skip_tls_verify=True).insecure_skip_tls_verify
