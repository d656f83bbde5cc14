"""The dependency rule, checked by reading every module's imports with ``ast``.

strategies -> framework <- brokers; no broker package imports another; third-party libraries
stay in the module that owns them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("framework", "brokers", "strategies")


def imported_modules(path: Path) -> set[str]:
    """Every absolute module name imported by ``path`` (relative imports resolved)."""
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
    return found


def modules_of(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts)


def top(name: str) -> str:
    return name.split(".", maxsplit=1)[0]


def broker_package(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if parts[0] == "brokers" and len(parts) > 1 else None


def test_imported_modules_resolves_relative_imports(tmp_path: Path) -> None:
    # the checker itself must see through "from .x import y" and "from .. import z"
    fake = ROOT / "brokers" / "_arch_probe" / "mod.py"
    fake.parent.mkdir(exist_ok=True)
    try:
        fake.write_text(
            "from .wire import A\nfrom ..paper import B\nimport strategies.sma\n", encoding="utf-8"
        )
        assert imported_modules(fake) == {"brokers._arch_probe.wire", "brokers.paper", "strategies.sma"}
    finally:
        fake.unlink()
        fake.parent.rmdir()


@pytest.mark.parametrize("path", modules_of("framework"), ids=lambda p: str(p.relative_to(ROOT)))
def test_framework_imports_no_brokers_or_strategies(path: Path) -> None:
    bad = {m for m in imported_modules(path) if top(m) in {"brokers", "strategies"}}
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


@pytest.mark.parametrize("path", modules_of("strategies"), ids=lambda p: str(p.relative_to(ROOT)))
def test_strategies_import_no_brokers(path: Path) -> None:
    bad = {m for m in imported_modules(path) if top(m) == "brokers"}
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


@pytest.mark.parametrize("path", modules_of("brokers"), ids=lambda p: str(p.relative_to(ROOT)))
def test_brokers_import_only_framework_and_their_own_package(path: Path) -> None:
    own = broker_package(".".join(path.relative_to(ROOT).parts))
    for module in imported_modules(path):
        assert top(module) != "strategies", f"{path.relative_to(ROOT)} imports {module}"
        other = broker_package(module)
        assert other is None or other == own, f"{path.relative_to(ROOT)} (broker {own}) imports {module}"


CONFINED = {
    "blinker": {"framework/bus.py"},
    "websocket": {"brokers/ibkr/stream.py"},
}


@pytest.mark.parametrize("library", sorted(CONFINED))
def test_third_party_library_is_confined_to_its_owner(library: str) -> None:
    users = set()
    for package in PACKAGES:
        for path in modules_of(package):
            rel = str(path.relative_to(ROOT))
            if rel.startswith("brokers/ibkr/simulator/"):
                continue  # the simulator is the other side of the wire, with its own libraries
            if any(top(m) == library for m in imported_modules(path)):
                users.add(rel)
    assert users <= CONFINED[library], f"{library} imported outside {CONFINED[library]}: {sorted(users)}"


def test_nothing_reads_the_shared_reference_folder() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for package in (*PACKAGES, "tests", "examples", "benchmarks")
        for p in (ROOT / package).rglob("*.py")
        if "../shared" in p.read_text(encoding="utf-8") and p.name != "test_architecture.py"
    ]
    assert not offenders
