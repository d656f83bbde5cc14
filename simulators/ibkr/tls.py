"""TLS material: a local CA and a ``localhost``/``127.0.0.1`` certificate generated at start.

The CA certificate is written to a file so clients verify the connection instead of turning
verification off. Passing an existing CA (certificate and key files) reuses it, which lets a restarted
gateway process keep the trust anchor its clients already hold.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import trustme

HOSTNAMES = ("localhost", "127.0.0.1", "::1")


def load_or_create_ca(ca_file: Path, key_file: Path | None) -> trustme.CA:
    """Return a CA, reusing ``ca_file`` + ``key_file`` when both exist, else creating and writing one."""
    if key_file is not None and ca_file.exists() and key_file.exists():
        return trustme.CA.from_pem(ca_file.read_bytes(), key_file.read_bytes())
    ca = trustme.CA(organization_name="tradebus simulated gateway")
    ca_file.parent.mkdir(parents=True, exist_ok=True)
    ca.cert_pem.write_to_path(str(ca_file))
    if key_file is not None:
        key_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(ca.private_key_pem.bytes())
    return ca


def server_context(ca: trustme.CA, certificate: tuple[Path, Path] | None = None) -> ssl.SSLContext:
    """Return a server-side SSL context serving ``certificate`` (chain and key PEM files), if given.

    Without one, a fresh leaf certificate for the loopback names, issued by ``ca``.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    if certificate is not None:
        chain, key = certificate
        context.load_cert_chain(str(chain), str(key))
    else:
        ca.issue_cert(*HOSTNAMES).configure_cert(context)
    return context
