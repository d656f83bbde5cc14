"""Websocket stream: handshake, subscriptions, lenient decoding, typed messages, watchdog and reconnect."""

from __future__ import annotations

import json
import random
import socket
from datetime import timedelta
from typing import Any

import pytest
import websocket

from brokers.ibkr.parsing import OrderUpdate
from brokers.ibkr.parsing import QuoteTick
from brokers.ibkr.stream import IbkrStream
from brokers.ibkr.stream import StreamState
from brokers.ibkr.stream import StreamStateChanged
from brokers.ibkr.stream import decode_frame
from brokers.ibkr.topics import Heartbeat
from brokers.ibkr.topics import Incoming
from brokers.ibkr.topics import LoggedIn
from brokers.ibkr.topics import SessionStatus
from brokers.ibkr.wsconnect import _WebSocketClientConnection
from framework.testing import FakeClock
from tests.brokers.ibkr.fakes import FakeWsFactory
from tests.brokers.ibkr.fakes import fixture
from tests.brokers.ibkr.fakes import make_config

SMD = 'smd+265598+{"fields":["31"]}'


class Harness:
    """Drives a stream the way the broker's stream thread does, keeping what it returns."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.factory = FakeWsFactory()
        self.messages: list[Incoming] = []
        self.changes: list[StreamStateChanged] = []
        self.stream = IbkrStream(
            make_config(ws_stall_timeout=25, ws_tic_interval=50, reconnect_initial=1, reconnect_max=8),
            clock, self.factory, rng=random.Random(1),
        )

    @property
    def states(self) -> list[StreamState]:
        return [c.state for c in self.changes]

    def drain(self) -> None:
        while True:
            polled = self.stream.poll()
            self.changes += polled.changes
            self.messages += polled.messages
            if not polled.received:
                return

    def authenticate(self) -> None:
        self.factory.last.push(fixture("ws_sts_authenticated"), fixture("ws_system_success"))
        self.drain()

    def advance(self, seconds: float) -> None:
        self.clock.advance(timedelta(seconds=seconds))
        self.changes += self.stream.tick(self.clock.monotonic())


@pytest.fixture
def harness(clock: FakeClock) -> Harness:
    return Harness(clock)


def test_connects_with_the_session_cookie_and_subscribes_after_authentication(harness: Harness) -> None:
    harness.stream.subscribe("smd+265598", SMD)
    harness.stream.open("abc123")
    assert harness.factory.cookies == ['api={"session":"abc123"}']
    assert harness.factory.last.sent == []  # nothing before the gateway says authenticated
    harness.authenticate()
    assert harness.factory.last.sent == [SMD]
    assert harness.states == [StreamState.AUTHENTICATING, StreamState.OPEN]
    assert harness.messages == [SessionStatus(authenticated=True, competing=None), LoggedIn("user1234")]


def test_system_success_alone_authenticates_the_socket(harness: Harness) -> None:
    harness.stream.subscribe("sor", "sor+{}")
    harness.stream.open("abc123")
    harness.factory.last.push(fixture("ws_system_success"))
    harness.drain()
    assert harness.stream.state is StreamState.OPEN
    assert harness.factory.last.sent == ["sor+{}"]


def test_r09_a_competing_status_does_not_open_the_socket(harness: Harness) -> None:
    """R09 (competing session): trading halted, an alert, no take-over (no compete=true re-init). Partial versus the
    criterion: see docs/reliability.md."""
    harness.stream.open("abc123")
    harness.factory.last.push(fixture("ws_sts_competing"))
    harness.drain()
    assert harness.stream.state is StreamState.AUTHENTICATING
    assert harness.messages == [SessionStatus(authenticated=None, competing=True)]  # the broker acts on it


def test_waiting_for_session_is_answered_with_the_session_message(harness: Harness) -> None:
    harness.stream.open("abc123")
    harness.factory.last.push(fixture("ws_waiting_for_session"))
    harness.drain()
    assert harness.factory.last.sent == ['{"session": "abc123"}']


@pytest.mark.parametrize(
    ("frame", "decoded"),
    [
        (b'{"topic":"system","hb":1}', {"topic": "system", "hb": 1}),
        (b'{"topic":"smd+1","55":"AB\x99"}', {"topic": "smd+1", "55": "AB\ufffd"}),
        ('{"topic":"sor","args":[]}', {"topic": "sor", "args": []}),
        ("not json", None),
        ("[1, 2]", None),
        (b'{"truncated": ', None),
    ],
)
def test_decode_frame_is_lenient_but_only_returns_objects(frame: str | bytes, decoded: dict[str, Any] | None) -> None:
    assert decode_frame(frame) == decoded


def test_malformed_frames_are_counted_and_skipped(harness: Harness) -> None:
    harness.stream.open("s")
    harness.authenticate()
    harness.factory.last.push(b"\x99\x98 not json", "[]", fixture("ws_system_hb"))
    harness.drain()
    assert harness.stream.malformed == 2
    assert harness.messages[-1] == Heartbeat(1594677336001)


def test_a_silent_stall_is_detected_and_everything_resubscribed(harness: Harness) -> None:
    harness.stream.subscribe("smd+265598", SMD)
    harness.stream.subscribe("sor", "sor+{}")
    harness.stream.open("s")
    harness.authenticate()
    first = harness.factory.last
    harness.advance(20)
    first.push(fixture("ws_system_hb"))
    harness.drain()
    harness.advance(20)  # 20 s since the last frame: still fine
    assert not first.closed
    harness.advance(6)  # 26 s of silence > 25 s
    assert first.closed
    assert harness.stream.state is StreamState.CLOSED
    harness.advance(1)  # back-off with jitter: between 0.5 and 1 s
    assert len(harness.factory.connections) == 2
    harness.authenticate()
    assert harness.factory.last.sent == [SMD, "sor+{}"]


def test_a_dropped_connection_reconnects_with_growing_backoff(harness: Harness) -> None:
    harness.stream.open("s")
    harness.authenticate()
    harness.factory.last.push(ConnectionError("reset"))
    harness.drain()
    assert harness.stream.state is StreamState.CLOSED
    harness.factory.fail_next = 2
    delays = []
    start = harness.clock.monotonic()
    while len(harness.factory.connections) < 2:
        harness.advance(0.25)
    delays.append(harness.clock.monotonic() - start)
    # three attempts after 1, 2 and 4 s, each scaled by jitter in [0.5, 1], observed at 0.25 s steps
    assert 3.5 <= delays[0] <= 7 + 0.75


def test_tic_and_echo_keep_the_session_alive_and_unsubscribe_is_sent(harness: Harness) -> None:
    harness.stream.open("s")
    harness.authenticate()
    harness.stream.subscribe("smd+265598", SMD)
    for _ in range(6):
        harness.advance(10)
        harness.factory.last.push(fixture("ws_system_hb"))
        harness.drain()
    harness.stream.unsubscribe("smd+265598", "umd+265598+{}")
    assert harness.factory.last.sent == [SMD, "tic", "ech+hb", "umd+265598+{}"]
    assert harness.stream.subscriptions == {}


def test_close_stops_reconnecting(harness: Harness) -> None:
    harness.stream.open("s")
    harness.stream.close()
    harness.advance(100)
    assert len(harness.factory.connections) == 1
    assert harness.factory.last.closed


def test_frames_come_back_as_typed_messages_in_order(harness: Harness) -> None:
    harness.stream.open("s")
    harness.authenticate()
    frames = [fixture("ws_smd"), fixture("ws_sor_status"), fixture("ws_str")]
    harness.factory.last.push(*[json.dumps(f).encode() for f in frames])
    harness.drain()
    kinds = [type(m).__name__ for m in harness.messages[2:]]
    assert kinds == ["QuoteTick", "OrderUpdate", "OrderUpdate", "OrderUpdate", "Execution"]
    tick, *updates = harness.messages[2:6]
    assert isinstance(tick, QuoteTick)
    assert (tick.instrument_id, tick.last) == ("265598", 189.6)
    assert [u.status_text for u in updates if isinstance(u, OrderUpdate)] == ["PendingSubmit", "PreSubmitted",
                                                                               "Submitted"]


def test_a_poll_stamps_its_messages_with_the_clock(harness: Harness, clock: FakeClock) -> None:
    harness.stream.open("s")
    harness.factory.last.push(fixture("ws_system_hb"))
    polled = harness.stream.poll()
    assert (polled.received, polled.ts, list(polled.messages)) == (True, clock.now(), [Heartbeat(1594677336001)])
    assert [c.state for c in polled.changes] == [StreamState.AUTHENTICATING]  # from open(), returned once
    assert harness.stream.poll().changes == []


def test_a_refused_order_row_is_counted_and_the_other_rows_kept(harness: Harness) -> None:
    harness.stream.open("s")
    frame = fixture("ws_sor_status")
    frame["args"].insert(1, {"orderId": 1, "status": ["Submitted"]})  # a list: the wire model refuses the row
    harness.factory.last.push(frame)
    harness.drain()
    assert [m.status_text for m in harness.messages if isinstance(m, OrderUpdate)] == [
        "PendingSubmit", "PreSubmitted", "Submitted"]
    assert harness.stream.malformed == 1
    assert dict(harness.stream.skipped) == {"ValidationError at sor row": 1}


def test_closing_a_connection_the_gateway_already_closed_closes_the_socket() -> None:
    # websocket-client marks the socket disconnected when the peer goes (a gateway logout), and its
    # close() then returns without closing it: the adapter's close must not leak the socket
    ours, theirs = socket.socketpair()
    with theirs:
        ws = websocket.WebSocket()
        ws.sock, ws.connected = ours, False
        _WebSocketClientConnection(ws).close()
        assert ours.fileno() == -1


def test_a_bare_text_echo_is_a_keepalive_answer_not_a_bad_frame(harness: Harness) -> None:
    harness.stream.open("s")
    harness.authenticate()
    harness.factory.last.push("ech+hb", b"ech+hb", json.dumps({"topic": "ech+hb", "hb": 1}))
    harness.drain()
    assert (harness.stream.malformed, harness.stream.frames) == (0, 5)  # the two auth frames and three echoes
