"""The adapter's internal dependency rules, checked on the import statements."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

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


def test_websocket_client_only_in_stream() -> None:
    assert users("websocket") == {"stream.py"}


@pytest.mark.parametrize("name", ["wire.py", "rest.py", "stream.py", "session.py"])
def test_transport_layers_know_no_framework_events(name: str) -> None:
    assert "framework.events" not in imports(PACKAGE / name)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_the_adapter_never_imports_the_simulator(path: Path) -> None:
    assert not any(m.startswith("simulators.ibkr") for m in imports(path))
