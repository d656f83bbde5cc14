"""TLS for the websocket, and one clear line for every failed TLS verification (REST and websocket).

The websocket factory (:func:`brokers.ibkr.wsconnect.connect_websocket`) opens the TCP connection and
hands it to :func:`verified_tls`, which runs the handshake with the configured policy (CA chain and
host name, or the pinned fingerprint, or both) and checks the pin *before* any HTTP is written, so
the session cookie never reaches a peer that fails them. REST gets the same policy from
:func:`brokers.ibkr.session.configure_tls`.

A refused certificate is an :class:`~brokers.ibkr.errors.IbkrTlsError` on both paths, whose message
names the problem as OpenSSL or the pin check found it (``certificate has expired``, ``Hostname
mismatch, certificate is not valid for 'localhost'``, ``unable to get local issuer certificate``,
``Fingerprints did not match``...), the OpenSSL reason (``CERTIFICATE_VERIFY_FAILED``) and what to
do about it (:func:`tls_problem`). Nothing is sent over a connection that failed: the adapter fails
closed.
"""

from __future__ import annotations

import hashlib
import socket
import ssl

from brokers.ibkr.config import IbkrConfig
from brokers.ibkr.errors import IbkrTlsError

_CA_HINT = ("set ca_file to the CA that signed the gateway's certificate ([brokers.ibkr] ca_file; tradebus gateway-sim "
            "prints its own on its READY line), or pin it with pinned_sha256")

# OpenSSL verify codes (X509_V_ERR_*) and what to do about them
_HINTS = {
    9: "check this machine's clock, or the certificate's validity dates",
    10: "renew the gateway's certificate",
    18: _CA_HINT,
    19: _CA_HINT,
    20: _CA_HINT,
    21: _CA_HINT,
    62: "connect with a host name the certificate lists, or issue one for this name",
    64: "connect with an address the certificate lists, or issue one for this address",
}
_PIN_HINT = "the gateway presented another certificate than pinned_sha256 names: check the pin or the gateway"


def tls_problem(error: BaseException) -> str | None:
    """The TLS verification failure behind ``error`` (however deeply wrapped), in one line; None if none.

    Looks through causes, contexts, urllib3's ``reason`` and exception arguments.
    """
    seen: set[int] = set()
    stack: list[BaseException] = [error]
    pin: str | None = None  # the innermost (shortest) text of a pin mismatch: urllib3 wraps it in its own
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            problem = current.verify_message or str(current)
            hint = _HINTS.get(current.verify_code, "check the gateway's certificate, ca_file and pinned_sha256")
            return f"{problem} ({current.reason or 'CERTIFICATE_VERIFY_FAILED'}); {hint}"
        text = str(current).strip()
        if ("Fingerprints did not match" in text or "does not match the pinned fingerprint" in text) and (
                pin is None or len(text) < len(pin)):
            pin = text
        nested = [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
        stack += [e for e in nested if isinstance(e, BaseException)]
    return None if pin is None else f"{pin}; {_PIN_HINT}"


def tls_context(config: IbkrConfig) -> ssl.SSLContext:
    """The client context for the configured policy: a CA file, a pin, both, insecure, or the system store."""
    if config.ca_file is not None:
        context = ssl.create_default_context(cafile=str(config.ca_file))
        if config.pinned_sha256 is not None:
            context.check_hostname = False  # the pin names the exact certificate (urllib3 does the same for REST)
        return context
    context = ssl.create_default_context()  # no CA configured: the system store, which fails closed
    if config.pinned_sha256 is not None or config.insecure_skip_tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # a pin replaces the chain; insecure mode is logged by the session
    return context


def verified_tls(sock: socket.socket, host: str, config: IbkrConfig, *, path: str = "/ws") -> ssl.SSLSocket:
    """Run the TLS handshake on ``sock`` and check the pin before anything is written.

    Raises:
        IbkrTlsError: The certificate was refused (the socket is closed).
        OSError: The handshake failed for another reason (the socket is closed).
    """
    where = f"{host}:{sock.getpeername()[1]}" if sock.family in (socket.AF_INET, socket.AF_INET6) else host
    try:
        tls = tls_context(config).wrap_socket(sock, server_hostname=host)
    except OSError as e:
        sock.close()
        problem = tls_problem(e)
        if problem is None:
            raise
        raise IbkrTlsError(f"TLS verification of {where} failed: {problem}", method="GET", path=path,
                           sent=False) from e
    pin = config.pinned_sha256
    if pin is not None:
        der = tls.getpeercert(binary_form=True)
        received = hashlib.sha256(der).hexdigest() if der is not None else "none"
        if received != pin:
            tls.close()
            msg = (f"TLS verification of {where} failed: gateway certificate does not match the pinned fingerprint: "
                   f"expected {pin}, received {received}; {_PIN_HINT}")
            raise IbkrTlsError(msg, method="GET", path=path, sent=False)
    return tls
