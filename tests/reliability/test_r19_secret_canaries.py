"""R19: secret redaction, a canary sweep over everything a run leaves behind.

Scenario (reliability table, R19): run the scenarios with canary secrets (a password, an access
token, the session cookie and id); pass criterion: a search of the logs, exception texts, reprs,
metrics and the journal finds 0 canaries.

How it is measured: one live session on the simulated gateway (HTTPS/WSS on loopback) with the IBKR
adapter, assembled and run by the CLI's own code (``tradebus -vv --log-file FILE live --config
FILE``: settings loaded from a TOML file and ``TRADEBUS_*`` variables, the broker plug-in, the
strategy by name, ``run_from_settings``), goes through the main scenarios in turn:

1. normal trading: an order and its fill;
2. an order the gateway questions with a prompt the adapter is not allowed to confirm: rejected
   with the gateway's text;
3. a strategy that raises (on that rejection, under ``--on-strategy-error continue``), with an
   error and a cause quoting the password, the token, the account id and the session cookie;
4. a session expiry and the adapter's re-authentication; meanwhile an entry (denied, naming the
   broker's state) and an exit (held, then sent and filled once the session is back);
5. a competing session (the adapter refuses to take it over) until the other platform lets go;
6. a gateway restart (a new session id), then an order and its fill.

The canaries are the account id (not in IBKR's ``DU…`` form, so only the adapter's registration can
mask it), every session id the gateway had (the cookie carries it), and a password and a token the
user's configuration holds: the password in the settings file, the token in a ``TRADEBUS_*``
variable, both strategy parameters that the strategy logs and quotes carelessly. Then the sweep
reads, and must find none of them in:

* the log, at DEBUG, as written to ``--log-file`` and to the console (stderr), with tracebacks,
  and everything the run printed (the live view and the summary on stdout);
* exception texts and tracebacks: every event the strategy was handed (reasons, errors), the
  failures recorded in the result, and the adapter's own errors (a REST call on a logged-out gateway);
* reprs of the settings, the broker's settings section, the broker, every component of the broker
  and of its session manager, the strategy and its configuration;
* state dumps and exports: ``tradebus journal --fills``, the run's exports (CSV, JSON, HTML, PNG);
* the journal database file (and any WAL or shared-memory file beside it), byte for byte.

The run must also show that it exercised what could leak (DEBUG request lines naming the account's
routes, the traceback, the refusal of the competing session, the masked account id).
"""

from __future__ import annotations

import argparse
import logging
import os
import stat
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest

from framework.clock import SystemClock
from framework.events import BrokerDegraded
from framework.redaction import mask_account
from simulators.ibkr import SimulatedGateway
from simulators.ibkr import SimulatorConfig
from tests.reliability.canary_strategy import SCRIPT
from tradebus import cli
from tradebus.commands import run_from_settings
from tradebus.commands import strategy_from
from tradebus.plugins import broker_plugin
from tradebus.settings import load_settings

BOUND = 60.0  # generous bound of every wait (seconds)
ACCOUNT = "ZX40718Q"
PASSWORD = "Canary-Pw-5x8Hq2"
TOKEN = "canarytok9Lm3Qz7Wv2Rb"


class Watch(logging.Handler):
    """Counts emitted records containing ``text``."""

    def __init__(self, text: str) -> None:
        super().__init__(logging.DEBUG)
        self.text = text
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.seen.set()


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = root.level, list(root.handlers)
    levels = {name: logging.getLogger(name).level for name in cli.QUIET_LOGGERS}
    yield
    for handler in root.handlers:
        if handler not in saved[1]:
            handler.close()
    root.handlers[:] = saved[1]
    root.setLevel(saved[0])
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def settings_file(path: Path, gw: SimulatedGateway, run: Path) -> Path:
    path.write_text(f"""
journal = "{run / 'journal.sqlite'}"
halt_file = "{run / 'HALT'}"
output = "{run / 'out'}"

[brokers.ibkr]
base_url = "{gw.base_url}"
ws_url = "{gw.ws_url}"
ca_file = "{gw.ca_file}"
account_id = "{ACCOUNT}"
auto_confirm_message_ids = ["o163", "o354", "o403"]
tickle_interval = 0.5
reconnect_initial = 0.2
reconnect_max = 2.0
ws_stall_timeout = 3.0

[strategy]
spec = "tests.reliability.canary_strategy:CanaryTrader"
params = {{ notify_password = "{PASSWORD}" }}
""", encoding="utf-8")
    return path


def step(what: str, count: int) -> None:
    assert SCRIPT.wait(what, count, BOUND), f"no {what} #{count}; the strategy heard: {SCRIPT.events[-8:]}"


def trade(command: str, outcome: str) -> None:
    wanted = SCRIPT.count(outcome) + 1
    SCRIPT.commands.put(command)
    step(outcome, wanted)


def recover(fault: str, gw: SimulatedGateway, *, refused: threading.Event | None = None) -> None:
    """Inject ``fault``; wait for the adapter to degrade and to be connected again.

    With ``refused``, the other platform lets go (a login) only once the adapter refused to take over.
    """
    degraded, connected = SCRIPT.count("degraded") + 1, SCRIPT.count("connected") + 1
    getattr(gw, fault)()
    step("degraded", degraded)
    if refused is not None:
        assert refused.wait(BOUND), "the competing session was never refused"
        gw.login()
    step("connected", connected)


def files_under(folder: Path) -> Iterator[tuple[str, str]]:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            yield str(path.relative_to(folder)), path.read_bytes().decode("latin-1")


def reprs(*objects: object) -> Iterator[tuple[str, str]]:
    for obj in objects:
        yield f"repr({type(obj).__name__})", repr(obj)
        yield f"str({type(obj).__name__})", str(obj)


def component_reprs(owner: object) -> Iterator[tuple[str, str]]:
    """The repr of every object ``owner`` holds (its plain values, a session id string say, are not reprs)."""
    for name, value in vars(owner).items():
        if not isinstance(value, str | bytes | int | float | type(None)):
            yield f"repr({type(owner).__name__}.{name})", repr(value)


@pytest.mark.usefixtures("restore_logging")
def test_r19_no_canary_in_logs_console_errors_reprs_exports_or_journal(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    log_file = tmp_path / "logs" / "tradebus.log"
    cli.configure_logging(2, log_file=log_file)  # tradebus -vv --log-file FILE
    competing = Watch("not taking it over")
    logging.getLogger().addHandler(competing)
    run = tmp_path / "run"
    gateway_config = SimulatorConfig(account_id=ACCOUNT, tick_interval=0.05, reauth_delay=0.3)
    with SimulatedGateway(port=0, seed=19, config=gateway_config) as gw:
        sessions = {gw.session_id}
        cookie = 'api={"session":"' + gw.session_id + '"}'
        SCRIPT.reset(f"account {ACCOUNT}: POST /iserver/account/{ACCOUNT}/orders with Cookie: {cookie}")
        environ = {"TRADEBUS_STRATEGY__PARAMS__NOTIFY_TOKEN": TOKEN}
        settings = load_settings(settings_file(tmp_path / "tradebus.toml", gw, run), environ)
        clock = SystemClock()
        broker_settings = settings.broker_settings("ibkr")
        # the canary account is not in IBKR's paper form (DU...), so the account guard takes it for a live
        # one: run as `tradebus live --i-understand-live` does
        broker_settings.allow_live("--i-understand-live")
        broker = broker_plugin("ibkr").create(broker_settings, clock=clock)
        strategy = strategy_from(argparse.Namespace(strategy=None, param=[]), settings)
        codes: list[int] = []

        def live() -> None:
            codes.append(run_from_settings(broker, clock, settings, strategy, duration=None, quiet=False,
                                           mode="live", on_strategy_error="continue"))

        runner = threading.Thread(target=live, daemon=True)
        runner.start()
        try:
            step("connected", 1)
            trade("buy", "filled")                      # 1. normal trading
            trade("reject", "rejected")                 # 2. rejected with the gateway's text
            step("raised", 1)                           # 3. and the strategy raised on it
            SCRIPT.when_degraded.put("buy")             # 4. session expiry: an entry (denied) and an
            SCRIPT.when_degraded.put("sell")            #    exit (held, sent after re-authentication)
            recover("expire", gw)
            step("denied", 1)
            step("held", 1)
            step("sell", 1)
            sessions.add(gw.session_id)
            recover("compete", gw, refused=competing.seen)  # 5. competing session, until it lets go
            sessions.add(gw.session_id)
            recover("restart", gw)                      # 6. gateway restart: a new session id
            sessions.add(gw.session_id)
            trade("buy", "filled")
        finally:
            SCRIPT.commands.put("stop")
            runner.join(BOUND)
        assert not runner.is_alive(), "the run did not stop"
        assert codes == [0]
        # the adapter's own errors: a REST call on a logged-out gateway, with its traceback
        probe = broker_plugin("ibkr").create(broker_settings, clock=clock)
        probe.connect(lambda event: None)
        sessions.add(gw.session_id)
        objects = [*reprs(settings, broker_settings, broker, probe, strategy, strategy.config),
                   *component_reprs(probe), *component_reprs(vars(probe)["_session"])]
        gw.logout()
        with pytest.raises(Exception) as raised:  # noqa: PT011 - any error; its text is what is checked
            probe.positions()
        errors = [("adapter error", "".join(traceback.format_exception(raised.value)))]
        probe.disconnect()
    assert cli.main(["journal", "--path", str(run / "journal.sqlite"), "--fills"]) == 0
    for handler in logging.getLogger().handlers:
        handler.flush()
    out, err = capfd.readouterr()
    log_text = log_file.read_text(encoding="utf-8")
    sweep = [
        ("log file", log_text), ("console stderr", err), ("console stdout", out),
        *(("event the strategy heard", e) for e in SCRIPT.events), *errors, *objects,
        *((f"export {name}", text) for name, text in files_under(run / "out")),
        *((f"journal file {name}", text) for name, text in files_under(run) if name.startswith("journal")),
    ]
    canaries = {"account id": ACCOUNT, "password": PASSWORD, "token": TOKEN,
                **{f"session id {i}": s for i, s in enumerate(sorted(sessions))}}
    found = [f"{what} in {where}" for where, text in sweep for what, canary in canaries.items() if canary in text]
    assert found == [], "canaries found:\n" + "\n".join(found)
    # the run really produced what could leak
    assert len(sessions) >= 2, sessions  # the restart made a new one
    assert "DEBUG" in log_text
    assert f"/iserver/account/{mask_account(ACCOUNT)}" in log_text
    assert "Traceback (most recent call last)" in log_text
    assert "RuntimeError: could not report the rejection" in log_text
    assert "competing session: not taking it over" in log_text
    assert mask_account(ACCOUNT) in log_text  # masked, not removed: the account is still recognisable
    assert any("IBKR asked" in e for e in SCRIPT.events)
    assert any("OrderDenied" in e and "degraded" in e for e in SCRIPT.events)
    assert any(BrokerDegraded.__name__ in e for e in SCRIPT.events)
    assert "strategy_failures" in dict(files_under(run / "out"))["result.json"]
    assert stat.S_IMODE(os.stat(log_file).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(log_file.parent).st_mode) == 0o700
