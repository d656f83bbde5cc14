"""Errors raised by the framework.

Hierarchy (each class also subclasses the matching built-in, so ``except ValueError`` works)::

    FrameworkError
    ├── ConfigError (ValueError)            bad configuration: names the key and, if any, the file
    │   └── SubscriptionError               a strategy asked for bars no data can give
    ├── StrategyLoadError (ImportError)     a strategy path that cannot be imported
    ├── BrokerError
    │   ├── BrokerConnectionError (ConnectionError)   transport down, session lost
    │   └── OrderError (ValueError)                   an order the broker cannot act on
    ├── IllegalTransitionError (RuntimeError)         an order event out of sequence
    └── DataError (ValueError)              bad market data: names the file, line and reason

Rejections by a venue are events (``OrderRejected``), not exceptions.
"""

from __future__ import annotations


class FrameworkError(Exception):
    """Root of every error raised by tradebus."""


class ConfigError(FrameworkError, ValueError):
    """Invalid configuration.

    Attributes:
        key: The offending key, dotted (``risk.max_order_quantity``), if known.
        source: The file or environment variable it came from, if any.
    """

    def __init__(self, message: str, *, key: str | None = None, source: str | None = None) -> None:
        self.key = key
        self.source = source
        where = f" ({source})" if source else ""
        prefix = f"{key}: " if key else ""
        message = message.removeprefix("Value error, ")  # pydantic's tag on a validator's own sentence
        super().__init__(f"{prefix}{message}{where}")


class SubscriptionError(ConfigError):
    """A strategy subscribed to bars its data cannot give.

    A symbol without data, bars finer than the data, or a size that is not a whole multiple of the
    data's bars. Raised from ``on_start`` and not treated as a strategy failure: the run does not start (the CLI
    prints the one line and exits with code 2).

    Attributes:
        strategy_id: The strategy that subscribed.
        symbol: The symbol asked for.
    """

    def __init__(self, message: str, *, strategy_id: str, symbol: str) -> None:
        self.strategy_id = strategy_id
        self.symbol = symbol
        super().__init__(message)


class StrategyLoadError(FrameworkError, ImportError):
    """A strategy could not be found or imported from the given path."""


class BrokerError(FrameworkError):
    """Root of errors raised by broker adapters."""


class BrokerConnectionError(BrokerError, ConnectionError):
    """The broker cannot be reached or its session is not usable."""


class OrderError(BrokerError, ValueError):
    """An order request the broker cannot act on (unknown id, already final)."""


class IllegalTransitionError(FrameworkError, RuntimeError):
    """An order event arrived that its current state does not allow."""


class DataError(FrameworkError, ValueError):
    """Market data that fails validation.

    Attributes:
        source: The file (or other source) holding the bad data.
        line: The 1-based line number, if known.
        reason: What is wrong.
    """

    def __init__(self, reason: str, *, source: str | None = None, line: int | None = None) -> None:
        self.source = source
        self.line = line
        self.reason = reason
        where = source or "data"
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {reason}")
