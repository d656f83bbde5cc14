"""Run settings from a TOML file, with environment-variable overrides.

File layout (every section optional)::

    broker = "ibkr"                 # which broker plug-in trades
    data_from = "ibkr"              # market data source for the paper broker
    journal = "runs/journal.sqlite" # the order journal (default: one per broker, runs/<broker>/journal.sqlite)
    halt_file = "runs/HALT"         # kill switch flag file (tradebus halt)
    output = "runs/mine"            # exports and report (default: a new runs/<mode>/<run id>/)

    [engine]                        # EngineConfig fields
    stale_data_after = "PT30S"

    [brokers.ibkr]                  # handed to the ibkr plug-in as is
    base_url = "https://localhost:5000/v1/api"
    account_id = "DU1234567"

    [strategy]
    spec = "strategies.sma_cross:SmaCross"
    params = { symbol = "AAPL", fast = 10 }

    [risk]                          # pre-trade limits (see framework.risk)

Environment overrides use the prefix ``TRADEBUS_`` and ``__`` between nested keys, so
``TRADEBUS_BROKERS__IBKR__BASE_URL`` replaces ``[brokers.ibkr] base_url``. They win over the file,
which keeps secrets and URLs out of it. The caller passes the environment in explicitly; the
library never reads ``os.environ`` on its own.

Secrets in the settings (any key naming a password, token, secret, key or credential, in any section,
strategy parameters included) and account ids are registered with the log redaction when the
settings are loaded (:func:`framework.redaction.register_settings`), and the reprs of
:class:`Settings` and :class:`SettingsSection` show them as ``***`` and masked.

Every error names the dotted key and where its value came from: the file, or the environment
variable that set it. A plug-in validates its section with :func:`framework.config.validate_section`, which does the
same for ``[brokers.<name>]`` keys.

A live (real-money) account is never allowed from here: ``allow_live`` at the top level or in any
``[brokers.<name>]`` section, from the file or a variable (``TRADEBUS_BROKERS__IBKR__ALLOW_LIVE``),
is refused with the fix (``tradebus live --i-understand-live``, which adds it to the broker's section
with :meth:`SettingsSection.allow_live`, or ``allow_live=True`` in code).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from typing import TypeVar

from pydantic import BaseModel
from pydantic import Field
from pydantic import PrivateAttr
from pydantic import ValidationError

from framework.config import EngineConfig
from framework.config import FrozenConfig
from framework.config import problem
from framework.errors import ConfigError
from framework.live_guard import ALLOW_LIVE
from framework.live_guard import LIVE_FLAG
from framework.live_guard import says_allow
from framework.redaction import masked
from framework.redaction import register_settings

ENV_PREFIX = "TRADEBUS_"
TOOL_VARIABLES = frozenset({"TRADEBUS_REQUIRE_BROWSER", "TRADEBUS_CRASH_SEEDS"})
"""``TRADEBUS_*`` variables that the tests and CI read; they are not settings overrides."""
DEFAULT_JOURNALS = Path("runs")  # runs/<broker>/journal.sqlite unless ``journal`` is set

C = TypeVar("C", bound=BaseModel)


class SettingsSection(dict[str, Any]):
    """The values of one settings section, remembering where they came from.

    It is a plain mutable ``dict`` that plug-ins read as any mapping; :func:`framework.config.validate_section`
    uses the origin to name the file in an error. The CLI adds ``allow_live`` with :meth:`allow_live`.

    Args:
        values: The section's keys and values.
        name: Dotted name of the section (``brokers.ibkr``).
        source: The settings file, if any.
        overrides: Keys (dotted, within the section) set by environment variables, with the
            variable's name.
    """

    def __init__(
        self,
        values: Mapping[str, Any],
        *,
        name: str,
        source: str | None = None,
        overrides: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(values)
        self.name = name
        self.source = source
        self.overrides = dict(overrides or {})

    def __repr__(self) -> str:
        """The section with its secrets as ``***`` and account ids masked (see :func:`framework.redaction.masked`)."""
        return f"SettingsSection({self.name!r}, {masked(self.name, dict(self))!r})"

    def source_of(self, key: str) -> str | None:
        """The environment variable that set ``key`` (dotted, within the section), else the file."""
        return _origin(key, self.overrides) or self.source

    def allow_live(self, origin: str = LIVE_FLAG) -> None:
        """Allow a live account for this broker (``tradebus live --i-understand-live``).

        Args:
            origin: What allowed it, named in errors about it (the command-line flag).
        """
        self[ALLOW_LIVE] = True
        self.overrides[ALLOW_LIVE] = origin


class StrategySettings(FrozenConfig):
    """The ``[strategy]`` section.

    Attributes:
        spec: Dotted path or file path of the strategy class.
        id: Strategy id (defaults to the class name).
        params: Parameters for the strategy's config type.
    """

    spec: str
    id: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)


class Settings(FrozenConfig):
    """Everything a run is configured with.

    Attributes:
        broker: Broker plug-in that executes orders.
        data_from: Broker plug-in whose market data the ``paper`` broker trades on.
        journal: Path of the order journal (SQLite); None keeps one per broker (see :meth:`journal_path`).
        halt_file: The kill switch's flag file; trading is halted while it exists.
        output: Folder for a run's exports and report; None (the default) for a new
            ``runs/<mode>/<run id>/`` per run (see :mod:`tradebus.runs`).
        engine: Engine settings.
        brokers: One mapping of settings per broker plug-in name.
        strategy: The strategy to run, if configured here.
        risk: Pre-trade risk limits (validated by the risk module).
        source: The file the settings came from (None for defaults).
    """

    broker: str | None = None
    data_from: str | None = None
    journal: Path | None = None
    halt_file: Path = Path("runs/HALT")
    output: Path | None = None
    engine: EngineConfig = Field(default_factory=EngineConfig)
    brokers: dict[str, dict[str, Any]] = Field(default_factory=dict)
    strategy: StrategySettings | None = None
    risk: dict[str, Any] = Field(default_factory=dict)
    source: str | None = None
    _overrides: dict[str, str] = PrivateAttr(default_factory=dict)  # dotted key -> environment variable

    def journal_path(self, broker: str) -> Path:
        """The journal of runs that trade on ``broker``: the ``journal`` setting, else ``runs/<broker>/journal.sqlite``.

        By default every broker has its own file, so paper runs (broker ``paper``) and live runs
        (``ibkr``) never share one; the journal also records each run's venue, so recovery never
        adopts another venue's orders even when both are pointed at one file.
        """
        return self.journal if self.journal is not None else DEFAULT_JOURNALS / broker / "journal.sqlite"

    def source_of(self, dotted: str) -> str | None:
        """Where the value of ``dotted`` (``strategy.params.fast``) came from: its variable, else the file."""
        return _origin(dotted, self._overrides) or self.source

    def broker_settings(self, name: str) -> SettingsSection:
        """The ``[brokers.<name>]`` section (empty if absent), carrying where its values came from."""
        prefix = f"brokers.{name}."
        overrides = {k.removeprefix(prefix): v for k, v in self._overrides.items() if k.startswith(prefix)}
        return SettingsSection(self.brokers.get(name, {}), name=prefix[:-1], source=self.source, overrides=overrides)


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read ``path`` (if given) and apply ``TRADEBUS_*`` overrides from ``environ``.

    Raises:
        ConfigError: If the file is missing or not valid TOML (with the line), or a key is unknown
            or has a bad value (naming the key and the file or environment variable).
    """
    data: dict[str, Any] = {}
    source = str(path) if path is not None else None
    if path is not None:
        data = _read_toml(path)
    overrides: dict[str, str] = {}
    for key, value in sorted((environ or {}).items()):
        if key.startswith(ENV_PREFIX) and key not in TOOL_VARIABLES:
            keys = key[len(ENV_PREFIX) :].lower().split("__")
            _set_nested(data, keys, value, source=key)
            overrides[".".join(keys)] = key
    _refuse_allow_live(data, source, overrides)
    register_settings(data)  # the secrets and accounts it holds are masked in every log line from now on
    try:
        settings = Settings.model_validate({**data, "source": source})
    except ValidationError as e:
        first = e.errors()[0]
        dotted = ".".join(str(p) for p in first["loc"])
        where = _origin(dotted, overrides) or source or "environment"
        raise ConfigError(problem(first, Settings), key=dotted, source=where) from e
    settings._overrides = overrides
    return settings


LIVE_FROM_SETTINGS = (f"a live (real-money) account cannot be allowed by a settings file or an environment variable; "
                      f"remove {ALLOW_LIVE} and pass {LIVE_FLAG} to tradebus live (or {ALLOW_LIVE}=True in code)")


def _refuse_allow_live(data: Mapping[str, Any], source: str | None, overrides: Mapping[str, str]) -> None:
    # the top level and every broker plug-in's section, whichever broker it is
    brokers = data.get("brokers")
    places: list[tuple[str, Mapping[str, Any]]] = [("", data)]
    if isinstance(brokers, Mapping):
        places += [(f"brokers.{name}.", section) for name, section in brokers.items() if isinstance(section, Mapping)]
    for prefix, section in places:
        for key, value in section.items():
            if key.lower() == ALLOW_LIVE and says_allow(value):
                dotted = prefix + key
                raise ConfigError(LIVE_FROM_SETTINGS, key=dotted, source=_origin(dotted, overrides) or source)


def _origin(dotted: str, overrides: Mapping[str, str]) -> str | None:
    # the variable that set this key, or one of its parents (TRADEBUS_STRATEGY__PARAMS for strategy.params.x)
    for key, variable in overrides.items():
        if dotted == key or dotted.startswith(key + "."):
            return variable
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        msg = f"cannot read settings file: {e.strerror}"
        raise ConfigError(msg, source=str(path)) from e
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"invalid TOML: {e}", source=str(path)) from e


def _set_nested(data: dict[str, Any], keys: list[str], value: str, *, source: str) -> None:
    node = data
    for key in keys[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            msg = f"cannot set a nested value below the plain setting {key!r}"
            raise ConfigError(msg, key=".".join(keys), source=source)
        node = child
    node[keys[-1]] = value
