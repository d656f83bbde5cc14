"""The layering of docs/architecture.md, checked by reading every module's imports with ``ast``.

::

    strategies/ --> framework/ <-- brokers/
                       ^   ^
                       |   +------ simulators/   (framework.clock, .config and .trading_hours at most)
    tradebus/ ---------+-- the application: the only package that imports the others together

No broker package imports another; nothing but tests, examples and benchmarks imports ``tradebus``;
``framework`` has no import cycle (``TYPE_CHECKING`` imports included); third-party libraries stay
in the modules that own them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("framework", "brokers", "strategies", "simulators", "tradebus")


def imported_modules(path: Path) -> set[str]:
    """Every absolute module name imported by ``path`` (relative imports resolved, TYPE_CHECKING included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            # "from framework import engine" imports the module framework.engine
            found.update(f"{module}.{alias.name}" for alias in node.names if _is_module(f"{module}.{alias.name}"))
    return found


def _is_module(dotted: str) -> bool:
    path = ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def modules_of(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def top(name: str) -> str:
    return name.split(".", maxsplit=1)[0]


def broker_package(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if parts[0] == "brokers" and len(parts) > 1 else None


def ids(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_imported_modules_resolves_relative_imports() -> None:
    # the checker itself must see through "from .x import y" and "from .. import z"
    fake = ROOT / "brokers" / "_arch_probe" / "mod.py"
    fake.parent.mkdir(exist_ok=True)
    try:
        fake.write_text("from .wire import A\nfrom ..paper import B\nimport strategies.sma\n", encoding="utf-8")
        assert imported_modules(fake) == {"brokers._arch_probe.wire", "brokers.paper", "strategies.sma"}
    finally:
        fake.unlink()
        fake.parent.rmdir()


@pytest.mark.parametrize("path", modules_of("framework"), ids=ids)
def test_framework_imports_only_itself(path: Path) -> None:
    bad = {m for m in imported_modules(path) if top(m) in {"brokers", "strategies", "simulators", "tradebus"}}
    assert not bad, f"{ids(path)} imports {sorted(bad)}"


@pytest.mark.parametrize("path", modules_of("strategies"), ids=ids)
def test_strategies_import_only_framework(path: Path) -> None:
    bad = {m for m in imported_modules(path) if top(m) in {"brokers", "simulators", "tradebus"}}
    assert not bad, f"{ids(path)} imports {sorted(bad)}"


@pytest.mark.parametrize("path", modules_of("brokers"), ids=ids)
def test_brokers_import_only_framework_and_their_own_package(path: Path) -> None:
    own = broker_package(".".join(path.relative_to(ROOT).parts))
    for module in imported_modules(path):
        assert top(module) not in {"strategies", "simulators", "tradebus"}, f"{ids(path)} imports {module}"
        other = broker_package(module)
        assert other is None or other == own, f"{ids(path)} (broker {own}) imports {module}"


# the simulator shares the clock, config bases and the exchange calendar (trading hours are market facts
# both sides must agree on, not an interpretation of the protocol)
SIMULATOR_SEAMS = {"framework.clock", "framework.config", "framework.trading_hours"}


@pytest.mark.parametrize("path", modules_of("simulators"), ids=ids)
def test_simulators_share_nothing_with_the_adapters(path: Path) -> None:
    # a separate implementation of the protocol: a misunderstanding is never shared with the adapter
    for module in imported_modules(path):
        assert top(module) not in {"brokers", "strategies", "tradebus"}, f"{ids(path)} imports {module}"
        if top(module) == "framework":
            assert module in SIMULATOR_SEAMS, f"{ids(path)} imports {module}; simulators use only {SIMULATOR_SEAMS}"


@pytest.mark.parametrize("package", ["framework", "brokers", "strategies", "simulators"])
def test_only_the_application_imports_tradebus(package: str) -> None:
    users = [ids(p) for p in modules_of(package) if any(top(m) == "tradebus" for m in imported_modules(p))]
    assert not users


def _framework_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in modules_of("framework"):
        name = module_name(path)
        graph[name] = {m for m in imported_modules(path) if top(m) == "framework" and m != name}
    # a package's __init__ re-exports; importing a module does not import its package's siblings
    return {n: {d for d in deps if d in graph and d != "framework"} for n, deps in graph.items() if n != "framework"}


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(graph[start])
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(graph.get(node, ()))
    return seen


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    # modules that reach each other form one cycle; report each group once, sorted
    reach = {node: _reachable(graph, node) for node in graph}
    groups = {frozenset(n for n in reach[node] if node in reach[n]) for node in graph if node in reach[node]}
    return sorted(sorted(g) for g in groups)


def test_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_framework_has_no_import_cycle() -> None:
    assert _cycles(_framework_graph()) == []


CONFINED = {
    "blinker": {"framework/bus.py"},
    "websocket": {"brokers/ibkr/wsconnect.py"},
    "requests": {"brokers/ibkr/rest.py", "brokers/ibkr/session.py"},
    "trustme": {"simulators/ibkr/tls.py"},
    "tqdm": {"tradebus/backtest.py", "tradebus/sweep/cli.py", "tradebus/sweep/wf_cli.py"},
    "plotly": {"tradebus/report/__init__.py", "tradebus/report/figures.py"},
    "playwright": {"tradebus/report/browser.py"},  # the test extra: tests and docs/report_screenshot.py
    "pyarrow": {"tradebus/data/arrow.py", "tradebus/data/files.py", "tradebus/sweep/table.py"},
    "exchange_calendars": {"framework/trading_hours.py"},
    # results as frames, DataFrame input (both imported when used); also arrives with exchange_calendars
    "pandas": {"tradebus/frames.py", "tradebus/data/frame.py", "tradebus/sweep/table.py",
               "tradebus/sweep/wf_result.py"},
    "ray": {"tradebus/sweep/ray_executor.py"},  # the ray extra, imported when a sweep runs on it
    "numpy": {"tradebus/data/arrow.py", "tradebus/data/vectors.py", "tradebus/data/frame.py"},
}


@pytest.mark.parametrize("library", sorted(CONFINED))
def test_third_party_library_is_confined_to_its_owner(library: str) -> None:
    users = {ids(p) for package in PACKAGES for p in modules_of(package) if any(top(m) == library for m in
                                                                                    imported_modules(p))}
    assert users <= CONFINED[library], f"{library} imported outside {CONFINED[library]}: {sorted(users)}"


def test_aiohttp_serves_only_the_simulators() -> None:
    users = {ids(p) for package in PACKAGES for p in modules_of(package) if any(top(m) == "aiohttp" for m in
                                                                                    imported_modules(p))}
    assert users
    assert all(u.startswith("simulators/") for u in users), sorted(users)


def test_nothing_reads_the_shared_reference_folder() -> None:
    offenders = [
        ids(p)
        for package in (*PACKAGES, "tests", "examples", "benchmarks")
        for p in (ROOT / package).rglob("*.py")
        if "../shared" in p.read_text(encoding="utf-8") and p.name != "test_architecture.py"
    ]
    assert not offenders
