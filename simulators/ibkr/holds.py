"""Held requests: answers (or whole requests) the gateway keeps back until a test releases them.

A ``hold`` fault rule (see :mod:`simulators.ibkr.faults`) makes the request pipeline park a matching
request here. By default the request is processed first and only its answer is withheld (like a
``delay`` without the timer: the order is committed, the client cannot know); with
``before_processing`` it is parked before the session gate and the handler run. Each held request
waits on its own future, so the event loop keeps serving everything else (other requests, websocket
frames, market steps) meanwhile. :meth:`HeldRequests.release` settles the futures; a request whose
client has gone simply finishes into a closed connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any


@dataclass(frozen=True)
class Arrival:
    """What the pipeline knows about an API request when it arrives.

    Attributes:
        method: HTTP method.
        path: Path relative to ``/v1/api``.
        seq: Arrival sequence number (1, 2, ... per gateway since start or reset).
        coids: The ``cOID`` values of a placement POST, in body order (empty for other requests).
    """

    method: str
    path: str
    seq: int
    coids: tuple[str, ...] = ()


@dataclass
class HeldRequest:
    """One request currently held.

    Attributes:
        hold_id: Identifier for :meth:`HeldRequests.release` (increasing, never reused).
        arrival: The request.
        before_processing: Held before the handler ran (nothing committed yet).
        status: HTTP status of the withheld answer (``None`` when held before processing).
        connected: Reports whether the client connection is still open.
        released: Settled when the request may continue.
    """

    hold_id: int
    arrival: Arrival
    before_processing: bool
    status: int | None
    connected: Callable[[], bool]
    released: asyncio.Future[None] = field(repr=False)

    def describe(self) -> dict[str, Any]:
        """Return the JSON form reported by the ``state`` and ``held`` control actions."""
        arrival = self.arrival
        return {
            "id": self.hold_id, "method": arrival.method, "path": arrival.path, "seq": arrival.seq,
            "coids": list(arrival.coids), "before_processing": self.before_processing, "status": self.status,
            "client_connected": self.connected(),
        }


class HeldRequests:
    """The requests currently held, oldest first, with waiters for changes."""

    def __init__(self) -> None:
        self._held: dict[int, HeldRequest] = {}
        self._next_id = 1
        self._waiters: set[asyncio.Future[None]] = set()

    def __len__(self) -> int:
        return len(self._held)

    def describe(self) -> list[dict[str, Any]]:
        """Return every held request's JSON form, oldest first."""
        return [entry.describe() for entry in self._held.values()]

    async def hold(self, arrival: Arrival, *, before_processing: bool, status: int | None,
                   connected: Callable[[], bool]) -> None:
        """Park the calling request until it is released (or the awaiting task is cancelled)."""
        released: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = HeldRequest(self._next_id, arrival, before_processing, status, connected, released)
        self._next_id += 1
        self._held[entry.hold_id] = entry
        self._notify()
        try:
            await released
        finally:
            if self._held.pop(entry.hold_id, None) is not None:
                self._notify()  # cancelled while held (e.g. server shutdown)

    def release(self, count: int | None = None, hold_id: int | None = None, coid: str | None = None) -> list[int]:
        """Release held requests, oldest first, and return their ids.

        Args:
            count: Release at most this many (default: every selected one).
            hold_id: Release only the request with this id.
            coid: Release only requests whose placement body carries this ``cOID``.
        """
        selected = [entry for entry in self._held.values()
                    if (hold_id is None or entry.hold_id == hold_id)
                    and (coid is None or coid in entry.arrival.coids)]
        if count is not None:
            selected = selected[:max(0, count)]
        for entry in selected:
            del self._held[entry.hold_id]
            if not entry.released.done():
                entry.released.set_result(None)
        if selected:
            self._notify()
        return [entry.hold_id for entry in selected]

    async def wait_until(self, count: int) -> None:
        """Return once at least ``count`` requests are held (no timeout: wrap it in one)."""
        while len(self._held) < count:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.add(waiter)
            try:
                await waiter
            finally:
                self._waiters.discard(waiter)

    def _notify(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)


def held_or_timeout(result: dict[str, Any], count: int, timeout: float) -> list[dict[str, Any]]:
    """Return the held requests of a ``wait_held`` result.

    Raises:
        TimeoutError: If fewer than ``count`` requests were held when the wait ended.
    """
    if not result["reached"]:
        raise TimeoutError(f"{result['count']} request(s) held after {timeout}s, expected {count}")
    return list(result["held"])
