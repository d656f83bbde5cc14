"""Load a strategy class by dotted path or file path, and build its typed config.

Accepted forms of ``spec``:

* ``package.module:ClassName`` or ``package.module.ClassName`` (importable module);
* ``path/to/file.py:ClassName``, or ``path/to/file.py`` when the file defines exactly one
  :class:`~framework.strategy.Strategy` subclass.

Parameters come as ``key=value`` strings (from ``--param``) and/or a mapping (from a TOML file);
pydantic converts them to the config's field types, and a bad one raises :class:`ConfigError`
naming the key.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Iterable
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import ValidationError

from framework.config import StrategyConfig
from framework.config import problem
from framework.errors import ConfigError
from framework.errors import StrategyLoadError
from framework.strategy import Strategy


def load_strategy_class(spec: str) -> type[Strategy[Any]]:
    """Import and return the strategy class named by ``spec``.

    Raises:
        StrategyLoadError: If the module, file or class cannot be found, or is not a Strategy.
    """
    target, _, attr = spec.partition(":")
    if target.endswith(".py"):
        module = _import_file(Path(target))
    elif attr:
        module = _import_module(target)
    else:
        target, _, attr = spec.rpartition(".")
        if not target:
            msg = f"strategy {spec!r}: expected 'package.module:ClassName' or 'file.py[:ClassName]'"
            raise StrategyLoadError(msg)
        module = _import_module(target)
    cls = getattr(module, attr, None) if attr else _only_strategy_in(module, spec)
    if inspect.ismodule(cls):
        names = _strategies_in(cls) or ["ClassName"]
        msg = f"strategy {spec!r} is a module: name its class, e.g. {cls.__name__}:{names[0]}"
        raise StrategyLoadError(msg)
    if not (inspect.isclass(cls) and issubclass(cls, Strategy)):
        what = "is not a Strategy subclass" if cls is not None else "is not defined"
        defined = ", ".join(_strategies_in(module)) or "none"
        msg = f"strategy {spec!r}: {attr} {what} in {module.__name__} (its strategies: {defined})"
        raise StrategyLoadError(msg)
    return cls


def _import_module(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as e:
        msg = f"cannot import strategy module {name!r}: {e}"
        raise StrategyLoadError(msg) from e


def _import_file(path: Path) -> ModuleType:
    if not path.is_file():
        msg = f"strategy file {path} does not exist"
        raise StrategyLoadError(msg)
    resolved = path.resolve()
    # a stable module name per file, so a file loaded twice is the same module
    name = "tradebus_user_" + hashlib.sha1(str(resolved).encode(), usedforsecurity=False).hexdigest()[:12]
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, resolved)
    if spec is None or spec.loader is None:
        msg = f"cannot load strategy file {path}"
        raise StrategyLoadError(msg)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # user code at import time: report where, with the cause chained
        del sys.modules[name]
        msg = f"strategy file {path} failed to import: {e!r}"
        raise StrategyLoadError(msg) from e
    return module


def _only_strategy_in(module: ModuleType, spec: str) -> type[Strategy[Any]]:
    names = _strategies_in(module)
    if len(names) != 1:
        msg = f"strategy {spec!r}: name the class (file defines {', '.join(names) or 'none'})"
        raise StrategyLoadError(msg)
    found: type[Strategy[Any]] = getattr(module, names[0])
    return found


def _strategies_in(module: ModuleType) -> list[str]:
    # the Strategy subclasses a module defines (not those it imports), by name
    return sorted(
        name
        for name, obj in vars(module).items()
        if inspect.isclass(obj)
        and issubclass(obj, Strategy)
        and obj is not Strategy
        and obj.__module__ == module.__name__
    )


def parse_params(pairs: Iterable[str]) -> dict[str, str]:
    """Turn ``["fast=10", "symbol=AAPL"]`` into a dict.

    Raises:
        ConfigError: If an item has no ``=`` or an empty key.
    """
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            msg = f"parameter {pair!r} must look like key=value"
            raise ConfigError(msg, key="--param")
        params[key.strip()] = value.strip()
    return params


Origin = tuple[str, str | None]
"""Where one parameter came from: the key to name in an error and its source (``("--param fast", None)``,
``("strategy.params.fast", "tradebus.toml")``)."""


def build_config(
    config_type: type[StrategyConfig],
    params: Mapping[str, Any],
    *,
    source: str | None = None,
    origins: Mapping[str, Origin] | None = None,
) -> StrategyConfig:
    """Validate ``params`` into ``config_type``.

    Args:
        config_type: The strategy's config model.
        params: Parameter names and values.
        source: Where the parameters came from (a file), for parameters ``origins`` does not name.
        origins: Per parameter, the key and source an error names (``--param fast`` or
            ``strategy.params.fast`` in ``tradebus.toml``).

    Raises:
        ConfigError: Naming the first bad key and where its value came from, with the value given.
    """
    try:
        return config_type.model_validate(dict(params))
    except ValidationError as e:
        first = e.errors()[0]
        loc = [str(p) for p in first["loc"]]
        key, where = ".".join(loc) or "strategy", source
        if loc and origins and loc[0] in origins:
            named, where = origins[loc[0]]
            key = ".".join([named, *loc[1:]])
        message = problem(first, config_type)
        if first["type"] == "missing":
            message += f": pass --param {loc[0] if loc else 'KEY'}=VALUE or set it in the [strategy] params"
        elif first["type"] == "extra_forbidden":
            message = f"unknown parameter; {config_type.__name__} takes {', '.join(config_type.model_fields)}"
        raise ConfigError(message, key=key, source=where) from e


def create_strategy(
    spec: str,
    params: Mapping[str, Any] | None = None,
    *,
    strategy_id: str | None = None,
    source: str | None = None,
    origins: Mapping[str, Origin] | None = None,
) -> Strategy[Any]:
    """Load the class named by ``spec`` and instantiate it with validated parameters (see :func:`build_config`)."""
    cls = load_strategy_class(spec)
    config = build_config(cls.config_type, params or {}, source=source, origins=origins)
    return cls(config, strategy_id=strategy_id)
