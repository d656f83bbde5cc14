"""Websocket commands with bad arguments never kill the connection; ssd/sld push updates after fills."""

from __future__ import annotations

import pytest
import websocket

from simulators.ibkr import SimulatedGateway
from tests.simulators.ibkr.conftest import ACCOUNT
from tests.simulators.ibkr.conftest import Api
from tests.simulators.ibkr.conftest import authenticated_ws
from tests.simulators.ibkr.conftest import mkt
from tests.simulators.ibkr.conftest import recv_json
from tests.simulators.ibkr.conftest import recv_until

Sockets = list[websocket.WebSocket]

# Every known command with arguments it cannot use: wrong JSON types, bad JSON, bad or unknown ids.
BAD_COMMANDS = [
    'smd+265598+{"fields":5}', 'smd+265598+{"fields":null}', 'smd+265598+{"fields":"31,84"}',
    'smd+265598+{"fields":[true]}', 'smd+265598+{"fields":[{"code":31}]}', 'smd+265598+{not json',
    'smd+265598+{"fields":[1e999]}', 'smd+abc+{"fields":["31"]}', 'smd+{"fields":["31"]}', "smd+1+{}",
    "smd", "umd+abc+{}", "umd", "umd+1+{}",
    "sor+{oops", 'sor+{"filters":5}', "uor+{oops",
    'str+{"days":"x"}', 'str+{"days":99}', 'str+{"days":true}', 'str+{"days":2.5}',
    'str+{"realtimeUpdatesOnly":"maybe"}', 'str+{"realtime_updates_only":[1]}', "str+{bad", "utr+[",
    "spl+{bad", 'spl+{"x":1}', "upl{",
    "ssd+DU999", 'ssd+DU1234567+{"keys":5,"fields":{}}', "ssd+DU1234567+{bad", "usd", "usd+DU999",
    "sld+DU999", 'sld+DU1234567+{"keys":"LedgerListBASE"}', "uld", "uld+DU999",
    "smh+abc+{}", 'smh+{"period":"1d"}', 'smh+265598+{"period":5,"bar":[]}', 'smh+265598+{"period":"1d","bar":"7min"}',
    'smh+265598+{"period":"999y"}', 'smh+265598+{"outsideRth":"x","period":"1h","bar":"1h"}', "smh+1+{}", "umh",
    "tic+{bad", "ech+{bad", '{"session": 5}', '{"session": [1]}', "{not json",
]


@pytest.mark.parametrize("command", BAD_COMMANDS)
def test_bad_arguments_keep_the_connection_and_later_commands_work(gw: SimulatedGateway, sockets: Sockets,
                                                                   command: str) -> None:
    ws = authenticated_ws(gw, sockets)
    ws.send(command)
    ws.send("tic")
    assert recv_until(ws, lambda m: m.get("topic") == "tic", limit=5)["topic"] == "tic"
    ws.send('smd+265598+{"fields":["84"]}')
    assert recv_until(ws, lambda m: m.get("topic") == "smd+265598", limit=5)["conid"] == 265598


@pytest.mark.parametrize(("command", "problem"), [
    ('smd+265598+{"fields":5}', "fields must be a list of field ids; ignored"),
    ("smd+265598+{oops", "arguments are not a JSON object; ignored"),
    ("smd+abc", "invalid conid 'abc'; command ignored"),
    ("smd+1+{}", "unknown conid 1; command ignored"),
    ("umd+x", "invalid conid 'x'; command ignored"),
    ('str+{"days":99}', "days must be 1-7; ignored"),
    ('str+{"realtimeUpdatesOnly":"maybe"}', "realtimeUpdatesOnly must be a boolean; ignored"),
    ("ssd+DU999", "unknown account 'DU999'; command ignored"),
    ("sld+DU999", "unknown account 'DU999'; command ignored"),
    ("smh+abc", "invalid conid 'abc'; command ignored"),
    ("umh", "server id required; command ignored"),
])
def test_ignored_arguments_are_reported_when_ws_command_errors_is_on(gw: SimulatedGateway, sockets: Sockets,
                                                                     command: str, problem: str) -> None:
    gw.configure(ws_command_errors=True)
    ws = authenticated_ws(gw, sockets)
    ws.send(command)
    assert recv_until(ws, lambda m: "error" in m, limit=5) == {"error": f"{command}: {problem}"}


def test_without_ws_command_errors_a_bad_command_is_silent(gw: SimulatedGateway, sockets: Sockets) -> None:
    ws = authenticated_ws(gw, sockets)
    for command in ("smd+abc", "ssd+DU999", "umh", "zzz+{}"):
        ws.send(command)
    ws.send("tic")
    assert recv_json(ws)["topic"] == "tic"  # nothing was sent for the four commands


def test_unknown_commands_get_no_error_even_when_reporting(gw: SimulatedGateway, sockets: Sockets) -> None:
    gw.configure(ws_command_errors=True)
    ws = authenticated_ws(gw, sockets)
    ws.send("zzz+{bad")
    ws.send("tic")
    assert recv_json(ws)["topic"] == "tic"


def test_bad_fields_fall_back_to_the_default_fields(gw: SimulatedGateway, sockets: Sockets) -> None:
    ws = authenticated_ws(gw, sockets)
    ws.send('smd+265598+{"fields":5}')
    first = recv_json(ws)
    assert first["topic"] == "smd+265598"
    assert {"31", "84", "86"} <= set(first)
    gw.set_quote("AAPL", bid="150.00")
    assert recv_json(ws)["84"] == "150.00"


def test_bad_conid_subscribes_nothing(gw: SimulatedGateway, sockets: Sockets) -> None:
    ws = authenticated_ws(gw, sockets)
    ws.send('smd+abc+{"fields":["84"]}')
    ws.send('smd+265598@SMART+{"fields":5}')  # conid@EXCH is understood; the fields are not
    assert recv_json(ws)["conidEx"] == "265598@SMART"
    ws.send("umd+265598+{}")
    ws.send("tic")
    assert recv_json(ws)["topic"] == "tic"  # both commands processed; the bad one left no subscription
    gw.set_quote("AAPL", bid="150.00")
    ws.send("tic")
    assert recv_json(ws)["topic"] == "tic"


def test_invalid_smh_parameters_get_the_documented_empty_response(gw: SimulatedGateway, sockets: Sockets) -> None:
    ws = authenticated_ws(gw, sockets)
    ws.send('smh+265598+{"period":"1d","bar":"7min"}')
    assert recv_json(ws) == {"topic": "smh+265598", "data": [], "points": 0}


def test_smh_server_ids_are_not_reused_after_umh(gw: SimulatedGateway, sockets: Sockets) -> None:
    ws = authenticated_ws(gw, sockets)
    command = 'smh+265598+{"period":"1h","bar":"1h"}'
    ws.send(command)
    ws.send(command)
    ids = [recv_json(ws)["serverId"], recv_json(ws)["serverId"]]
    ws.send(f"umh+{ids[0]}")
    recv_json(ws)
    ws.send(command)
    assert recv_json(ws)["serverId"] not in ids


def _account_messages(ws: websocket.WebSocket) -> dict[str, dict[str, object]]:
    """Collect ssd/sld messages up to the reply of a sentinel ``tic``, keyed by topic."""
    ws.send("tic")
    found = {}
    for _ in range(10):
        message = recv_json(ws)
        if message.get("topic") == "tic":
            return found
        found[str(message["topic"])] = message
    raise AssertionError("tic reply not received")


def test_ssd_and_sld_push_updates_after_a_fill(gw: SimulatedGateway, api: Api, sockets: Sockets) -> None:
    api.prime()
    gw.configure(warn_no_market_data=False)
    gw.set_quote("AAPL", bid="189.90", ask="190.00", last="189.95")
    ws = authenticated_ws(gw, sockets)
    ws.send(f"ssd+{ACCOUNT}")
    ws.send(f"sld+{ACCOUNT}")
    initial = _account_messages(ws)
    assert set(initial) == {f"ssd+{ACCOUNT}", f"sld+{ACCOUNT}"}
    assert _account_messages(ws) == {}  # nothing changes without a fill
    api.place_confirmed(mkt(quantity=100))
    gw.advance(0.05)
    updates = _account_messages(ws)
    assert set(updates) == {f"ssd+{ACCOUNT}", f"sld+{ACCOUNT}"}
    ledger = updates[f"sld+{ACCOUNT}"]["result"][0]  # type: ignore[index]
    assert ledger["cashbalance"] == pytest.approx(1_000_000 - 19_000 - 1)
    summary = {row["key"]: row for row in updates[f"ssd+{ACCOUNT}"]["result"]}  # type: ignore[attr-defined]
    assert summary["AccountCode"]["value"] == ACCOUNT
    assert summary["NetLiquidation"]["monetaryValue"] == pytest.approx(1_000_000 - 1 - 5)  # marked at last 189.95


def test_unsubscribed_account_streams_get_no_updates(gw: SimulatedGateway, api: Api, sockets: Sockets) -> None:
    api.prime()
    gw.configure(warn_no_market_data=False)
    ws = authenticated_ws(gw, sockets)
    ws.send(f"ssd+{ACCOUNT}")
    ws.send(f"usd+{ACCOUNT}")
    assert recv_json(ws)["topic"] == f"ssd+{ACCOUNT}"
    assert recv_json(ws) == {"result": "unsubscribed from summary"}
    api.place_confirmed(mkt(quantity=10))
    gw.advance(0.05)
    assert _account_messages(ws) == {}
