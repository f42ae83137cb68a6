"""Parameter values with units, parsed by a small grammar: no ``eval`` of file content, ever.

Neuron files (``equations/*.toml``) and parameter settings give values as text, e.g. ``"50*ms"``,
``"-70 * mV"``, ``"1/(2*second)"``, ``"0.1"``. This module reads exactly this grammar::

    sum     := product (("+" | "-") product)*
    product := unary (("*" | "/") unary)*
    unary   := ("-" | "+") unary | power
    power   := atom ("**" unary)?            (right-associative, as in Python)
    atom    := NUMBER | UNIT | "(" sum ")"

``NUMBER`` is a decimal number (``1``, ``0.5``, ``2e-3``); ``UNIT`` is the name of one of Brian2's
units (``ms``, ``mV``, ``nA``, ``second``, ``Hz``, ...). Nothing else is accepted: no names of
Python objects, no attributes, calls, subscripts or strings. Evaluation uses floats and Brian2
quantities only, so it cannot run code; the text length, the nesting depth and the size of
exponents are bounded so that it cannot hang or exhaust memory either (``9**9**9`` is an overflow
error, at once). Every problem is a :class:`ValueError` with a one-line reason.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

MAX_TEXT = 200
"""Longest value text accepted, in characters."""

MAX_DEPTH = 16
"""Deepest nesting of parentheses and unary signs."""

MAX_EXPONENT = 64.0
"""Largest magnitude of an exponent applied to a quantity with units."""

_TOKEN = re.compile(r"\s*(?:(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
                    r"|(?P<op>\*\*|[-+*/()]))")


@lru_cache(maxsize=1)
def unit_table() -> dict:
    """Brian2's units by name (``ms``, ``mV``, ``second``, ...): the only names values may use."""
    import brian2
    from brian2.units.fundamentalunits import Unit

    return {name: value for name, value in vars(brian2).items() if isinstance(value, Unit)}


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise ValueError(f"unexpected character {text[position:].lstrip()[:1]!r} at position {position + 1}")
        kind = match.lastgroup
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], units: dict):
        self.tokens, self.position, self.units, self.depth = tokens, 0, units, 0

    def peek(self) -> str | None:
        return self.tokens[self.position][1] if self.position < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        if self.position >= len(self.tokens):
            raise ValueError("the expression ends too early")
        token = self.tokens[self.position]
        self.position += 1
        return token

    def nested(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ValueError(f"nested more than {MAX_DEPTH} levels deep")

    def sum(self):
        value = self.product()
        while self.peek() in ("+", "-"):
            op = self.take()[1]
            right = self.product()
            value = value + right if op == "+" else value - right
        return value

    def product(self):
        value = self.unary()
        while self.peek() in ("*", "/"):
            op = self.take()[1]
            right = self.unary()
            if op == "/" and _is_zero(right):
                raise ValueError("division by zero")
            value = value * right if op == "*" else value / right
        return value

    def unary(self):
        if self.peek() in ("-", "+"):
            op = self.take()[1]
            self.nested()
            value = self.unary()
            self.depth -= 1
            return -value if op == "-" else value
        return self.power()

    def power(self):
        base = self.atom()
        if self.peek() != "**":
            return base
        self.take()
        self.nested()
        exponent = self.unary()
        self.depth -= 1
        if _has_units(exponent):
            raise ValueError("an exponent must be a plain number")
        exponent = float(exponent)
        if _has_units(base):
            if abs(exponent) > MAX_EXPONENT:
                raise ValueError(f"exponent {exponent:g} of a unit is larger than {MAX_EXPONENT:g}")
            return base ** exponent
        base = float(base)
        if base < 0 and exponent != int(exponent):
            raise ValueError("a negative number raised to a fractional power")
        if base == 0 and exponent < 0:
            raise ValueError("division by zero")
        try:
            return math.pow(base, exponent)
        except OverflowError:
            raise ValueError("the value is too large") from None

    def atom(self):
        kind, text = self.take()
        if kind == "number":
            return float(text)
        if kind == "name":
            if text not in self.units:
                raise ValueError(f"{text!r} is not a Brian2 unit")
            return self.units[text]
        if text == "(":
            self.nested()
            value = self.sum()
            self.depth -= 1
            if self.peek() != ")":
                raise ValueError("a '(' is not closed")
            self.take()
            return value
        raise ValueError(f"unexpected {text!r}")


def _is_zero(value) -> bool:
    import numpy as np

    return bool(np.asarray(value, dtype=float) == 0)


def _has_units(value) -> bool:
    from brian2.units.fundamentalunits import Quantity

    return isinstance(value, Quantity) and not value.is_dimensionless


def parse_quantity(text):
    """The value of ``text`` (a number or a Brian2 quantity) under the module's grammar.

    Parameters
    ----------
    text : str, int or float
        A TOML value: text in the grammar above, or a plain number.

    Returns
    -------
    float or brian2.Quantity

    Raises
    ------
    ValueError
        With a one-line reason, for anything outside the grammar, a non-finite value, a value
        too large, a text too long or too deeply nested.
    """
    if isinstance(text, bool):
        raise ValueError("true/false is not a quantity")
    if isinstance(text, (int, float)):
        value = float(text)
    elif isinstance(text, str):
        if len(text) > MAX_TEXT:
            raise ValueError(f"longer than {MAX_TEXT} characters")
        tokens = _tokens(text)
        if not tokens:
            raise ValueError("empty")
        import warnings

        import numpy as np
        from brian2 import DimensionMismatchError

        parser = _Parser(tokens, unit_table())
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                value = parser.sum()
        except DimensionMismatchError as err:
            raise ValueError(f"units do not match ({err.desc})") from None
        except (OverflowError, ZeroDivisionError, FloatingPointError):
            raise ValueError("the value is too large") from None
        except RecursionError:  # pragma: no cover - MAX_DEPTH keeps it far away
            raise ValueError(f"nested more than {MAX_DEPTH} levels deep") from None
        if parser.position != len(tokens):
            raise ValueError(f"unexpected {tokens[parser.position][1]!r} after the value")
    else:
        raise ValueError(f"a {type(text).__name__} is not a quantity")
    import numpy as np

    if not np.all(np.isfinite(np.asarray(value, dtype=float))):
        raise ValueError("the value is not finite")
    return value
