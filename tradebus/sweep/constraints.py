"""Constraints between sweep parameters: ``fast < slow``, parsed from text, never evaluated as Python.

Grammar: ``OPERAND OP OPERAND``, where an operand is a parameter name or a number and ``OP`` is one
of ``<``, ``<=``, ``>``, ``>=``, ``==``, ``!=``. A set of parameters is run only when every
constraint holds. From Python, a constraint may also be any callable taking the parameter dict.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from collections.abc import Collection
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from framework.errors import ConfigError
from tradebus.sweep.grid import Params
from tradebus.sweep.grid import parse_value

_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "<=": operator.le, ">=": operator.ge, "==": operator.eq, "!=": operator.ne, "<": operator.lt, ">": operator.gt,
}
_OPERAND = r"([A-Za-z_][A-Za-z0-9_]*|-?[0-9.]+)"
_PATTERN = re.compile(rf"^\s*{_OPERAND}\s*(<=|>=|==|!=|<|>)\s*{_OPERAND}\s*$")

Constraint = Callable[[Params], bool]
"""A test on one parameter set: True to run it."""


@dataclass(frozen=True)
class Comparison:
    """A parsed ``left OP right``; operands are parameter names (str) or numbers.

    Attributes:
        text: The constraint as written.
        left: A parameter name or a number.
        op: The operator's symbol.
        right: A parameter name or a number.
    """

    text: str
    left: str | int | Decimal
    op: str
    right: str | int | Decimal

    def names(self) -> set[str]:
        """The parameter names the comparison reads."""
        return {o for o in (self.left, self.right) if isinstance(o, str)}

    def __call__(self, params: Params) -> bool:
        """Whether ``params`` satisfy the comparison (numbers compare as numbers, other values as given)."""
        left, right = self._value(self.left, params), self._value(self.right, params)
        try:
            return _OPERATORS[self.op](left, right)
        except TypeError as e:
            msg = f"cannot compare {left!r} and {right!r} in {self.text!r}"
            raise ConfigError(msg, key="--where") from e

    @staticmethod
    def _value(operand: str | int | Decimal, params: Params) -> Any:
        value = params[operand] if isinstance(operand, str) else operand
        return Decimal(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def parse_constraint(text: str) -> Comparison:
    """Parse ``"fast < slow"`` (or ``"slow >= 2"``).

    Raises:
        ConfigError: If ``text`` is not ``name-or-number OP name-or-number`` (naming ``--where``).
    """
    match = _PATTERN.match(text)
    if match is None:
        ops = " ".join(sorted(_OPERATORS))
        msg = f"{text!r} must be NAME OP NAME or NAME OP NUMBER, with OP one of {ops} (e.g. 'fast < slow')"
        raise ConfigError(msg, key="--where")
    left, op, right = (match.group(i) for i in (1, 2, 3))
    operands = [parse_value(o) if not o[0].isalpha() and o[0] != "_" else o for o in (left, right)]
    if any(isinstance(o, str) and not (o[0].isalpha() or o[0] == "_") for o in operands):
        msg = f"{text!r}: not a number: {left if isinstance(operands[0], str) else right!r}"
        raise ConfigError(msg, key="--where")
    return Comparison(text.strip(), operands[0], op, operands[1])


def check_names(constraints: Iterable[Constraint], names: Collection[str]) -> None:
    """Check that every parsed comparison reads only swept or fixed parameters.

    Raises:
        ConfigError: Naming the constraint and the unknown name.
    """
    for constraint in constraints:
        if isinstance(constraint, Comparison):
            unknown = sorted(constraint.names() - set(names))
            if unknown:
                msg = (f"{constraint.text!r} reads {', '.join(unknown)}, which is not swept or given "
                       f"(parameters: {', '.join(names) or 'none'})")
                raise ConfigError(msg, key="--where")


def all_of(constraints: Iterable[Constraint]) -> Constraint | None:
    """One test that passes when every constraint does (None when there are none)."""
    tests = list(constraints)
    if not tests:
        return None
    return lambda params: all(test(params) for test in tests)
