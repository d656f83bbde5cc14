"""Why a connection to the gateway could not be made, in a few words (``connection refused``).

:func:`unreachable_reason` looks through the exception chain ``requests`` and ``urllib3`` build
around the socket error, so an error message names the cause instead of quoting urllib3's
``HTTPSConnectionPool(...): Max retries exceeded ... NewConnectionError(...)``.
"""

from __future__ import annotations

import errno
import socket

_ERRNO_REASONS = {
    errno.ECONNREFUSED: "connection refused",
    errno.EHOSTUNREACH: "no route to host",
    errno.ENETUNREACH: "network unreachable",
    errno.ETIMEDOUT: "timed out",
}

START_HINT = (": is it running? start IBKR's gateway (docker compose -f examples/docker-compose.yml up, then log "
              "in) or the simulated one (tradebus gateway-sim), or point base_url at it ([brokers.ibkr] in the "
              "settings, or TRADEBUS_BROKERS__IBKR__BASE_URL)")
"""What to do when the adapter cannot reach the gateway as it connects, appended to the message."""


def unreachable_reason(error: BaseException) -> str | None:
    """Why no connection was made, or None if one was (a reset or a broken answer is not this).

    Looks through causes, contexts, urllib3's ``reason`` and exception arguments.
    """
    seen: set[int] = set()
    stack: list[BaseException] = [error]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, socket.gaierror):
            return "host name not found"
        if isinstance(current, OSError) and current.errno in _ERRNO_REASONS:
            return _ERRNO_REASONS[current.errno]
        if isinstance(current, TimeoutError) or type(current).__name__ == "ConnectTimeoutError":
            return "timed out"
        nested = [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
        stack += [e for e in nested if isinstance(e, BaseException)]
    return None
