"""Frozen configuration models shared by components and strategies.

Each component takes one frozen config in its constructor; unknown keys are refused, so a typo in a
config file is an error naming the key rather than a silently ignored setting.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from zoneinfo import ZoneInfo
from zoneinfo import ZoneInfoNotFoundError

from pydantic import AfterValidator
from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field


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
    """Base of every configuration: immutable, unknown keys refused, defaults validated."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


class StrategyConfig(FrozenConfig):
    """Base of a strategy's typed parameters; subclass it and add fields with defaults."""


class EngineConfig(FrozenConfig):
    """Settings of the :class:`~framework.engine.Engine`.

    Attributes:
        raise_errors: Let handler exceptions propagate (tests) instead of reporting ``HandlerFailed``.
        stale_data_after: Emit ``DataStale`` when a subscribed instrument has had no data this long;
            None disables the check (backtests).
        order_id_prefix: Prefix of generated client order ids; None derives one from the start time,
            which keeps ids unique across restarts.
        require_connected: Deny new orders while the broker is not connected.
    """

    raise_errors: bool = False
    stale_data_after: timedelta | None = None
    order_id_prefix: str | None = Field(default=None, pattern=r"^[A-Za-z0-9]{1,16}$")
    require_connected: bool = True
