"""Each package's public namespace is curated: ``__all__`` equal to its public names, each documented."""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest

PUBLIC_PACKAGES = ["framework", "strategies", "brokers.ibkr", "brokers.paper", "tradebus.sweep"]


def load(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError:  # pragma: no cover - a package still being written
        pytest.skip(f"{name} is not importable")


@pytest.mark.parametrize("name", PUBLIC_PACKAGES)
def test_all_matches_public_names(name: str) -> None:
    module = load(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert len(set(exported)) == len(exported)  # its order is ruff's (RUF022: constants first, then sorted)
    public = sorted(
        attr
        for attr, value in vars(module).items()
        if not attr.startswith("_") and not isinstance(value, ModuleType)
    )
    assert public == sorted(exported)


@pytest.mark.parametrize("name", PUBLIC_PACKAGES)
def test_every_exported_name_is_documented(name: str) -> None:
    module = load(name)
    undocumented = [
        attr
        for attr in module.__all__
        if callable(getattr(module, attr)) and not (getattr(module, attr).__doc__ or "").strip()
    ]
    assert not undocumented
