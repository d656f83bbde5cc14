"""Frozen configuration models shared by components and strategies.

Each component takes one frozen config in its constructor; unknown keys are refused, so a typo in a
config file is an error naming the key rather than a silently ignored setting.
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Mapping
from datetime import timedelta
from enum import StrEnum
from typing import Annotated
from typing import Any
from typing import Literal
from typing import Protocol
from typing import TypeVar
from typing import get_args
from typing import runtime_checkable
from zoneinfo import ZoneInfo
from zoneinfo import ZoneInfoNotFoundError

from pydantic import AfterValidator
from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from framework.errors import ConfigError
from framework.redaction import is_account_setting
from framework.redaction import is_secret_setting
from framework.redaction import masked

C = TypeVar("C", bound=BaseModel)


def check_time_zone(value: str) -> str:
    """Return ``value`` if it names an IANA time zone (``America/New_York``).

    Raises:
        ValueError: If no such zone is known.
    """
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as e:
        msg = f"unknown time zone {value!r}"
        raise ValueError(msg) from e
    return value


TimeZoneName = Annotated[str, AfterValidator(check_time_zone)]
"""A config field holding an IANA time zone name, refused at load time when unknown."""


class FrozenConfig(BaseModel):
    """Base of every configuration: immutable, unknown keys refused, defaults validated.

    Its repr and str never show a secret: a field (or a mapping key within one) named like a
    password, token, secret or key shows ``***``, and one named like an account id shows it masked
    (see :func:`framework.redaction.masked`), so a configuration can be logged or printed.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, value if name is None else masked(name, value)


class DegradedPolicy(FrozenConfig):
    """What happens to a strategy's order commands while the broker cannot take them.

    The broker cannot take orders while it is not connected (a websocket blip, a re-authentication,
    a rate-limit penalty, a restarted gateway) or while its reports are not trusted (one contradicted
    its order). Commands that arrive then, or that the broker gives back unsent, are either *held*
    (sent in order once the broker is connected again, or denied with a reason when ``hold_for`` has
    passed) or *denied* at once with a reason. See docs/architecture.md, "Degraded brokers".

    Attributes:
        reducing: Orders that only reduce an open position (and modifications that keep an order
            so): ``"hold"`` (default) or ``"deny"``. An order still counts as reducing when it is
            released; one that would open or grow a position by then is denied.
        cancels: Cancels: ``"hold"`` (default) or ``"deny"`` (``OrderCancelRejected``).
        new_exposure: Orders that open or grow a position: ``"deny"`` (default) or ``"hold"``.
        hold_for: Longest a command waits; then it is denied (an order: ``OrderDenied``; a cancel or
            modification: ``OrderCancelRejected``), naming how long the broker was unavailable.
    """

    reducing: Literal["hold", "deny"] = "hold"
    cancels: Literal["hold", "deny"] = "hold"
    new_exposure: Literal["deny", "hold"] = "deny"
    hold_for: timedelta = Field(default=timedelta(seconds=120), gt=timedelta(0))


class StrategyConfig(FrozenConfig):
    """Base of a strategy's typed parameters; subclass it and add fields with defaults.

    Attributes:
        degraded: This strategy's degraded-order policy; None uses the engine's
            (:attr:`EngineConfig.degraded`).
    """

    degraded: DegradedPolicy | None = None


class ErrorPolicy(StrEnum):
    """What the engine does when a strategy's hook raises (see :mod:`framework.supervision`).

    Every error is logged once, with its traceback, and published as ``StrategyFailed``.
    """

    STOP_STRATEGY = "stop-strategy"
    """Stop the failing strategy: unsubscribe it, cancel its working orders, keep its positions; the
    other strategies go on (when none is left, the run ends), and the run ends as failed (the CLI exits 1)."""
    STOP_RUN = "stop-run"
    """Stop the failing strategy as above, then end the whole run (a backtest stops at that bar and
    its results are marked partial); the run ends as failed."""
    CONTINUE = "continue"
    """Log the error and keep delivering events to the strategy; the run is not failed by it."""


class EngineConfig(FrozenConfig):
    """Settings of the :class:`~framework.engine.Engine`.

    Attributes:
        raise_errors: Let handler exceptions propagate (tests) instead of isolating them.
        on_strategy_error: What to do when a strategy's hook raises (a strategy's own
            ``error_policy`` wins over it).
        stale_data_after: Emit ``DataStale`` when a subscribed instrument has had no data this long;
            None disables the check (backtests).
        order_id_prefix: Prefix of generated client order ids; None derives one from the start time,
            which keeps ids unique across restarts.
        require_connected: Apply the degraded-order policy while the broker is not connected or not
            trusted; False sends every command whatever the broker's state (for adapters without a
            connection state).
        degraded: The degraded-order policy of strategies that set none of their own.
    """

    raise_errors: bool = False
    on_strategy_error: ErrorPolicy = ErrorPolicy.STOP_STRATEGY
    stale_data_after: timedelta | None = None
    order_id_prefix: str | None = Field(default=None, pattern=r"^[A-Za-z0-9]{1,16}$")
    require_connected: bool = True
    degraded: DegradedPolicy = DegradedPolicy()


@runtime_checkable
class SectionSource(Protocol):
    """A settings section that knows where each of its values came from (a file, a variable)."""

    def source_of(self, key: str) -> str | None:
        """The file or environment variable that set ``key`` (dotted, within the section)."""
        ...


def validate_section(config_type: type[C], values: Mapping[str, Any], *, section: str) -> C:
    """Validate one settings section (``[brokers.ibkr]``) into its config type.

    Args:
        config_type: The component's frozen config model.
        values: The section; when it is a :class:`SectionSource` (the application's settings
            sections are), errors name the file or environment variable a bad value came from.
        section: Dotted name of the section, the prefix of every key in an error.

    Returns:
        The validated config.

    Raises:
        ConfigError: Naming ``<section>.<key>`` and, when ``values`` knows it, the file or
            environment variable the bad value came from.
    """
    try:
        return config_type.model_validate(dict(values))
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        source = None
        if isinstance(values, SectionSource):
            source = values.source_of(loc)  # an empty key names the section's file
        raise ConfigError(problem(first, config_type), key=f"{section}.{loc}" if loc else section, source=source) from e


def problem(error: ErrorDetails, model: type[BaseModel]) -> str:
    """One validation error of ``model`` as a sentence a user can act on (the key is named by the caller).

    An unknown key lists the keys its section takes; a bad value is quoted (unless the key holds a
    secret or an account id); a validator's own sentence loses pydantic's ``Value error,`` tag.
    """
    loc = [str(p) for p in error["loc"]]
    if error["type"] == "extra_forbidden":
        known = _keys_at(model, loc[:-1])
        return "unknown key" + (f"; expected one of {', '.join(known)}" if known else "")
    if error["type"] == "missing":
        return "required, and not given"
    message = error["msg"].removeprefix("Value error, ")
    value = error.get("input")
    private = any(is_secret_setting(p) or is_account_setting(p) for p in loc)
    if isinstance(value, str | int | float) and not isinstance(value, bool) and not private:
        message += f" (got {value!r})"
    return message


def _keys_at(model: type[BaseModel], path: list[str]) -> list[str]:
    # the fields of the (nested) model ``path`` leads to; none when it leads into a mapping or a list
    current: Any = model
    for part in path:
        field = current.model_fields.get(part) if isinstance(current, type) and issubclass(current, BaseModel) else None
        if field is None:
            return []
        current = next((a for a in (field.annotation, *get_args(field.annotation)) if isinstance(a, type)
                        and issubclass(a, BaseModel)), None)
    return list(current.model_fields) if isinstance(current, type) and issubclass(current, BaseModel) else []
