"""TLS policy against the real simulated gateway (real HTTPS + WSS on loopback).

REST and the websocket must agree: a pinned fingerprint, a CA file, or both (both then apply), and
with neither the system trust store, which refuses the gateway's own CA. Every failure is closed
(no answer is used) and says why. The pin is checked on the TLS connection before the websocket
upgrade, so the session cookie never reaches a peer that does not match it.
"""

from __future__ import annotations

import hashlib
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import trustme

from brokers.ibkr import IbkrBroker
from brokers.ibkr import IbkrConfig
from brokers.ibkr.errors import IbkrTransportError
from brokers.ibkr.ratelimit import RateLimiter
from brokers.ibkr.rest import IbkrRestClient
from brokers.ibkr.session import configure_tls
from brokers.ibkr.wsconnect import WsConnection
from brokers.ibkr.wsconnect import connect_websocket
from framework.clock import SystemClock
from framework.events import BrokerConnected
from framework.events import BrokerDegraded
from framework.events import BrokerDisconnected
from simulators.ibkr import SimulatedGateway
from simulators.ibkr import SimulatorConfig

WRONG_PIN = "00" * 32


@pytest.fixture(scope="module")
def gateway() -> Iterator[SimulatedGateway]:
    # pacing off: these tests tickle back to back, which is not what they are about
    with SimulatedGateway(port=0, seed=11, config=SimulatorConfig(pacing_enabled=False)) as gw:
        yield gw


@pytest.fixture(scope="module")
def leaf_pin(gateway: SimulatedGateway) -> str:
    """SHA-256 of the certificate the running gateway presents, read with ssl (no verification)."""
    pem = ssl.get_server_certificate((gateway.host, gateway.port))
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tls") / "other-ca.pem"
    trustme.CA(organization_name="not the gateway").cert_pem.write_to_path(str(path))
    return path


@pytest.fixture(autouse=True)
def no_ca_bundle_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)


def tls_config(gw: SimulatedGateway, **tls: Any) -> IbkrConfig:
    return IbkrConfig.model_validate({"base_url": gw.base_url, "ws_url": gw.ws_url, **tls})


def tickle(config: IbkrConfig) -> str | None:
    """One REST call through the adapter's TLS policy; the session id it returns."""
    with requests.Session() as http:
        limiter = RateLimiter(SystemClock(), global_rate=8, max_wait=6, sleep=lambda _s: None)
        return IbkrRestClient(config, configure_tls(http, config), limiter, lambda _s: None).tickle().session


def greeting(gw: SimulatedGateway, config: IbkrConfig) -> dict[str, Any]:
    """Open the websocket through the adapter's factory and read its first frame."""
    conn = connect_websocket(gw.ws_url, cookie='api={"session":"' + gw.session_id + '"}', config=config, timeout=5)
    try:
        frame = conn.recv()
    finally:
        conn.close()
    assert frame is not None
    return json.loads(frame)  # type: ignore[no-any-return]


def assert_refused(gw: SimulatedGateway, config: IbkrConfig, why: str) -> None:
    with pytest.raises(IbkrTransportError, match=why) as rest:
        tickle(config)
    assert rest.value.sent is False  # refused at the TLS layer: nothing was sent
    with pytest.raises(ConnectionError, match=why):
        greeting(gw, config)


def test_the_right_pin_works_for_rest_and_websocket(gateway: SimulatedGateway, leaf_pin: str) -> None:
    config = tls_config(gateway, pinned_sha256=leaf_pin)
    assert tickle(config) == gateway.session_id
    assert greeting(gateway, config)["topic"] == "sts"


def test_the_broker_connects_end_to_end_with_only_a_pin(gateway: SimulatedGateway, leaf_pin: str) -> None:
    events: list[Any] = []
    broker = IbkrBroker(tls_config(gateway, pinned_sha256=leaf_pin), clock=SystemClock())
    try:
        broker.connect(events.append)
        assert broker.connection_state == "connected"
        # the stream thread may add market or account events meanwhile; the connection ones must be these
        connection = [type(e) for e in list(events) if isinstance(e, BrokerConnected | BrokerDegraded |
                                                                 BrokerDisconnected)]
        assert connection == [BrokerConnected]
    finally:
        broker.disconnect()


def test_a_wrong_pin_fails_closed_for_rest_and_websocket(gateway: SimulatedGateway) -> None:
    config = tls_config(gateway, pinned_sha256=WRONG_PIN)
    with pytest.raises(IbkrTransportError, match="Fingerprints did not match"):
        tickle(config)
    with pytest.raises(ConnectionError, match="does not match the pinned fingerprint: expected 0000"):
        greeting(gateway, config)


def test_ca_and_the_right_pin_together_work(gateway: SimulatedGateway, leaf_pin: str) -> None:
    config = tls_config(gateway, ca_file=gateway.ca_file, pinned_sha256=leaf_pin)
    assert tickle(config) == gateway.session_id
    assert greeting(gateway, config)["topic"] == "sts"


def test_with_a_ca_file_the_pin_still_applies(gateway: SimulatedGateway) -> None:
    """The gateway's own CA verifies the chain, yet a wrong pin refuses the connection."""
    config = tls_config(gateway, ca_file=gateway.ca_file, pinned_sha256=WRONG_PIN)
    with pytest.raises(IbkrTransportError, match="Fingerprints did not match"):
        tickle(config)
    with pytest.raises(ConnectionError, match="pinned fingerprint"):
        greeting(gateway, config)


def test_with_a_pin_the_ca_file_still_applies(gateway: SimulatedGateway, leaf_pin: str, other_ca: Path) -> None:
    """The right pin does not excuse a chain that the configured CA did not sign."""
    assert_refused(gateway, tls_config(gateway, ca_file=other_ca, pinned_sha256=leaf_pin), "CERTIFICATE_VERIFY_FAILED")


def test_a_ca_file_from_another_ca_fails(gateway: SimulatedGateway, other_ca: Path) -> None:
    assert_refused(gateway, tls_config(gateway, ca_file=other_ca), "CERTIFICATE_VERIFY_FAILED")


def test_no_ca_and_no_pin_fails_closed(gateway: SimulatedGateway) -> None:
    assert_refused(gateway, tls_config(gateway), "CERTIFICATE_VERIFY_FAILED")


def test_the_pin_is_checked_before_the_upgrade_request_is_sent() -> None:
    """A TLS peer with the wrong certificate receives not one byte (no HTTP request, no cookie)."""
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    received: list[bytes] = []
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(10)

        def serve() -> None:
            try:
                conn, _ = listener.accept()
                with server.wrap_socket(conn, server_side=True) as tls:
                    tls.settimeout(10)
                    while chunk := tls.recv(4096):
                        received.append(chunk)
            except OSError:
                pass  # the client hung up: that is the point

        thread = threading.Thread(target=serve)
        thread.start()
        port = listener.getsockname()[1]
        config = IbkrConfig(base_url=f"https://127.0.0.1:{port}/v1/api", pinned_sha256=WRONG_PIN)
        with pytest.raises(ConnectionError, match="pinned fingerprint"):
            connect_websocket(config.websocket_url, cookie="api=secret-session", config=config)
        thread.join(timeout=15)
    assert not thread.is_alive()
    assert received == []


def test_a_websocket_the_gateway_closed_first_is_released(gateway: SimulatedGateway, leaf_pin: str) -> None:
    # websocket-client marks the connection closed when it answers the gateway's close frame and then skips
    # the socket in close(); the adapter must still release it (one leaked descriptor per reconnect otherwise)
    config = tls_config(gateway, pinned_sha256=leaf_pin)
    conn = connect_websocket(gateway.ws_url, cookie='api={"session":"' + gateway.session_id + '"}', config=config,
                             timeout=5)
    tls = conn._ws.sock  # type: ignore[attr-defined]
    gateway.ws_drop(mode="close")
    with pytest.raises(ConnectionError, match="closed by the gateway"):
        read_until_closed(conn)
    conn.close()
    assert tls.fileno() == -1


def read_until_closed(conn: WsConnection) -> None:
    """Read frames until the connection raises (bounded: the gateway sends a handful before it closes)."""
    for _ in range(1000):
        conn.recv()
    raise AssertionError("the gateway never closed the websocket")
