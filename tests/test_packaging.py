"""What the wheel ships, checked statically against pyproject.toml (fast; ``.ci/run`` also builds and runs it).

Every code folder at the top of the repository must be a shipped package, every file inside the packages
that is not Python must be matched by ``[tool.setuptools.package-data]``, and every entry point must name a
module that the wheel contains.
"""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]
INCLUDE: list[str] = SETUPTOOLS["packages"]["find"]["include"]
PACKAGE_DATA: dict[str, list[str]] = SETUPTOOLS.get("package-data", {})
NOT_SHIPPED = {"tests", "examples", "benchmarks", "docs", "build", "dist", "runs"}


def shipped(module: str) -> bool:
    return any(fnmatch.fnmatchcase(module, pattern) for pattern in INCLUDE)


def top_level_code_folders() -> list[str]:
    return sorted(
        p.name
        for p in ROOT.iterdir()
        if p.is_dir() and not p.name.startswith(".") and p.name not in NOT_SHIPPED and any(p.rglob("*.py"))
        and not p.name.endswith(".egg-info")
    )


SHIPPED_TOPS = [name for name in top_level_code_folders() if shipped(name)]


def package_files(top: str) -> list[Path]:
    return sorted(
        p for p in (ROOT / top).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in {".py", ".pyc"}
    )


def test_every_code_folder_is_shipped() -> None:
    assert top_level_code_folders() == SHIPPED_TOPS, "a code folder is missing from [tool.setuptools.packages.find]"


def test_mypy_checks_what_is_shipped() -> None:
    assert sorted(PYPROJECT["tool"]["mypy"]["packages"]) == SHIPPED_TOPS


@pytest.mark.parametrize("top", SHIPPED_TOPS)
def test_every_subfolder_with_code_is_a_regular_package(top: str) -> None:
    folders = {p.parent for p in (ROOT / top).rglob("*.py") if "__pycache__" not in p.parts}
    assert sorted(str(f.relative_to(ROOT)) for f in folders if not (f / "__init__.py").is_file()) == []


@pytest.mark.parametrize("top", SHIPPED_TOPS)
def test_every_data_file_is_package_data(top: str) -> None:
    def patterns(file: Path) -> list[str]:
        package = ".".join(file.parent.relative_to(ROOT).parts)
        return [pattern for key, values in PACKAGE_DATA.items() if key in {"*", "", package} for pattern in values]

    missing = [str(p.relative_to(ROOT)) for p in package_files(top)
               if not any(fnmatch.fnmatchcase(p.name, pattern) for pattern in patterns(p))]
    assert missing == [], f"not in [tool.setuptools.package-data]: {missing}"


def test_the_sample_data_ships_with_its_package() -> None:
    assert (ROOT / "tradebus" / "sample_data" / "bars_1m.csv") in package_files("tradebus")


ENTRY_POINTS = sorted(
    (group, name, target)
    for group, entries in {"console_scripts": PYPROJECT["project"]["scripts"],
                           **PYPROJECT["project"]["entry-points"]}.items()
    for name, target in entries.items()
)


@pytest.mark.parametrize(("group", "name", "target"), ENTRY_POINTS)
def test_entry_points_name_shipped_modules(group: str, name: str, target: str) -> None:
    module = target.split(":", maxsplit=1)[0]
    path = ROOT.joinpath(*module.split("."))
    assert shipped(module), f"{group} {name}: {module} is not in a shipped package"
    assert path.with_suffix(".py").is_file() or (path / "__init__.py").is_file(), f"{group} {name}: no {module}"
