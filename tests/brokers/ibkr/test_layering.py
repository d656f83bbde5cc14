"""The adapter's internal rules: dependencies checked on the import statements, and the one-way incoming path.

No part calls the facade back: no part module names ``IbkrBroker``, only ``broker.py`` builds the
parts and hands them no callable of its own, and at runtime no part holds a reference to the
broker (a bound method, a closure, the object). The event sink is the engine's, not the broker's.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from brokers.ibkr import IbkrBroker
from framework.testing import FakeClock
from tests.brokers.ibkr.fakes import FakeAdapter
from tests.brokers.ibkr.fakes import FakeWsFactory
from tests.brokers.ibkr.fakes import fake_session
from tests.brokers.ibkr.fakes import gateway_routes
from tests.brokers.ibkr.fakes import make_config

PACKAGE = Path(__file__).resolve().parents[3] / "brokers" / "ibkr"
MODULES = sorted(p for p in PACKAGE.glob("*.py"))


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def users(library: str) -> set[str]:
    return {p.name for p in MODULES if any(m == library or m.startswith(library + ".") for m in imports(p))}


def test_requests_only_in_rest_and_session() -> None:
    assert users("requests") <= {"rest.py", "session.py"}


def test_websocket_client_only_in_wsconnect() -> None:
    assert users("websocket") == {"wsconnect.py"}


@pytest.mark.parametrize("name", ["wire.py", "wire_ws.py", "fields.py", "rest.py", "stream.py", "wsconnect.py",
                                  "session.py"])
def test_transport_layers_know_no_framework_events(name: str) -> None:
    assert "framework.events" not in imports(PACKAGE / name)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_the_adapter_never_imports_the_simulator(path: Path) -> None:
    assert not any(m.startswith("simulators.ibkr") for m in imports(path))


# ----------------------------------------------------------------- the incoming path runs one way

FACADE = "broker.py"
ASSEMBLY = {"broker.py", "plugin.py", "__init__.py"}  # the facade and what exports or builds it
PARTS = {"IbkrRestClient", "RateLimiter", "SessionManager", "IbkrStream", "QuoteBook", "IncomingRouter",
         "GatewayLink", "OrderTracker", "OrderEntry", "Reconciler", "InstrumentCache"}


def tree(name: str) -> ast.Module:
    return ast.parse((PACKAGE / name).read_text(encoding="utf-8"))


def names_used(module: ast.Module) -> set[str]:
    found = {n.id for n in ast.walk(module) if isinstance(n, ast.Name)}
    found |= {n.attr for n in ast.walk(module) if isinstance(n, ast.Attribute)}
    found |= {a.name for n in ast.walk(module) if isinstance(n, ast.ImportFrom) for a in n.names}
    found |= {n.value for n in ast.walk(module) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    return found


@pytest.mark.parametrize("path", [p for p in MODULES if p.name not in ASSEMBLY], ids=lambda p: p.name)
def test_no_part_names_the_facade(path: Path) -> None:
    assert "IbkrBroker" not in names_used(tree(path.name))


@pytest.mark.parametrize("path", [p for p in MODULES if p.name != FACADE], ids=lambda p: p.name)
def test_only_the_facade_builds_the_parts(path: Path) -> None:
    calls = {n.func.id for n in ast.walk(tree(path.name)) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert not calls & PARTS


def _facade_methods() -> set[str]:
    [cls] = [n for n in tree(FACADE).body if isinstance(n, ast.ClassDef) and n.name == "IbkrBroker"]
    return {n.name for n in cls.body if isinstance(n, ast.FunctionDef)}


def _points_at_the_facade(expr: ast.expr, methods: set[str]) -> bool:
    # ``self`` itself, a bound method of it (``self._on_x``) or a lambda reading ``self``
    if isinstance(expr, ast.Name) and expr.id == "self":
        return True
    if isinstance(expr, ast.Lambda):
        return any(isinstance(n, ast.Name) and n.id == "self" for n in ast.walk(expr.body))
    return any(isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "self"
               and n.attr in methods for n in ast.walk(expr))


def test_the_facade_hands_its_parts_no_callable_of_its_own() -> None:
    methods = _facade_methods()
    offending = [
        (call.func.id, ast.unparse(arg))
        for call in ast.walk(tree(FACADE))
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in PARTS
        for arg in [*call.args, *(k.value for k in call.keywords)]
        if _points_at_the_facade(arg, methods)
    ]
    assert offending == []


def _references(value: object, target: object, depth: int = 0) -> bool:
    # does ``value`` (a part's attribute) lead back to ``target``: the object, a bound method, a closure?
    if value is target or getattr(value, "__self__", None) is target:
        return True
    if depth > 2:
        return False
    cells = getattr(value, "__closure__", None) or ()
    inner: list[object] = [c.cell_contents for c in cells]
    if isinstance(value, dict):
        inner += list(value.values())
    elif isinstance(value, list | tuple | set | frozenset):
        inner += list(value)
    return any(_references(v, target, depth + 1) for v in inner)


def _parts_of(root: object) -> list[object]:
    # every object of a brokers.ibkr class reachable from the facade's attributes, the facade excluded
    found: list[object] = []
    todo = list(vars(root).values())
    while todo:
        value = todo.pop()
        if type(value).__module__.startswith("brokers.ibkr.") and value is not root and all(
                value is not f for f in found) and hasattr(value, "__dict__"):
            found.append(value)
            todo += list(vars(value).values())
    return found


def test_no_part_holds_a_reference_to_the_facade(clock: FakeClock) -> None:
    adapter = FakeAdapter()
    gateway_routes(adapter)
    with fake_session(adapter) as session:
        broker = IbkrBroker(make_config(), clock=clock, session=session, ws_connect=FakeWsFactory(),
                            start_threads=False)
        broker.connect([].append)
        parts = _parts_of(broker)
        assert {type(p).__name__ for p in parts} >= {"IbkrStream", "SessionManager", "IbkrRestClient",
                                                     "GatewayLink", "IncomingRouter", "QuoteBook"}
        holding = sorted({f"{type(p).__name__}.{name}" for p in parts for name, value in vars(p).items()
                          if _references(value, broker)})
        broker.disconnect()
    assert holding == []


def test_sts_is_read_in_exactly_one_place() -> None:
    assert {p.name for p in MODULES if "sts" in names_used(tree(p.name))} == {"topics.py"}


def test_the_topic_table_is_pure() -> None:
    module = tree("topics.py")
    assert not {m.split(".")[0] for m in imports(PACKAGE / "topics.py")} & {"logging", "threading", "time", "socket"}
    assert not imports(PACKAGE / "topics.py") & {"framework.clock", "brokers.ibkr.stream", "brokers.ibkr.session",
                                                 "brokers.ibkr.rest", "brokers.ibkr.broker"}
    assert not {"now", "monotonic", "time"} & {n.attr for n in ast.walk(module) if isinstance(n, ast.Attribute)}
