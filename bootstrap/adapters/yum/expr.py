"""rpm's `%if` expression language, evaluated after macro expansion.

    evaluate("04 >= 5") -> 0        evaluate('"redhat" == "redhat" && !0') -> 1

Contract: pure; `evaluate(text)` returns an int or a str (a condition holds when the result
is a non-zero int or a non-empty string, as rpm's `%if` reads it) and raises ValueError with a
short reason for anything rpm itself would call a parse error: an empty expression, a bare
word (an undefined macro left in place), mixed int/str comparison, division by zero; and for
parentheses or unary operators nested deeper than MAX_DEPTH (a spec is user input: no
RecursionError).

What it knows (rpm 4.x's expression.c): decimal integers, "strings", ( ), unary ! and -,
* /, + - (strings concatenate with +), == != < <= > >=, && and || (short-circuit, returning
an operand as rpm does). Not rpm 4.16's version literals (v"1.2") nor the ternary `? :`.
"""
from __future__ import annotations

import re
from collections.abc import Callable

Value = int | str

_TOKEN = re.compile(r'\s*(?:(\d+)|"([^"]*)"|(&&|\|\||==|!=|<=|>=|[<>!()+\-*/]))')
# Each operator as a test of the sign of the comparison (-1, 0, 1) of its two operands.
_COMPARE: dict[str, Callable[[int], bool]] = {
    "==": lambda c: c == 0, "!=": lambda c: c != 0, "<": lambda c: c < 0,
    "<=": lambda c: c <= 0, ">": lambda c: c > 0, ">=": lambda c: c >= 0,
}
MAX_DEPTH = 32


def truthy(value: Value) -> bool:
    """rpm's truth: non-zero integers and non-empty strings."""
    return value != 0 and value != ""


def evaluate(text: str) -> Value:
    """The value of the expression `text` (see the module docstring); ValueError if rpm would
    refuse it."""
    parser = _Parser(_tokens(text))
    value = parser.disjunction()
    left = parser.peek()
    if left is not None:
        raise ValueError(f"unexpected {left[1]!r}")
    return value


def _tokens(text: str) -> list[tuple[str, Value]]:
    """(kind, value) pairs: kind is "int", "str" or "op"."""
    out: list[tuple[str, Value]] = []
    pos, text = 0, text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            word = text[pos:].split()[0]
            raise ValueError(f"bare word {word!r} (an undefined macro?)")
        if match.group(1) is not None:
            out.append(("int", int(match.group(1))))
        elif match.group(2) is not None:
            out.append(("str", match.group(2)))
        else:
            out.append(("op", match.group(3)))
        pos = match.end()
    if not out:
        raise ValueError("empty expression")
    return out


class _Parser:
    """Recursive descent over the token list, one method per precedence level."""

    def __init__(self, tokens: list[tuple[str, Value]]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.depth = 0  # open parentheses

    def peek(self) -> tuple[str, Value] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _accept(self, *ops: str) -> str | None:
        token = self.peek()
        if token is not None and token[0] == "op" and token[1] in ops:
            self.pos += 1
            return str(token[1])
        return None

    def disjunction(self) -> Value:
        value = self.conjunction()
        while self._accept("||"):
            right = self.conjunction()
            value = value if truthy(value) else right
        return value

    def conjunction(self) -> Value:
        value = self.comparison()
        while self._accept("&&"):
            right = self.comparison()
            value = right if truthy(value) else value
        return value

    def comparison(self) -> Value:
        value = self.additive()
        while (op := self._accept(*_COMPARE)) is not None:
            right = self.additive()
            value = int(_COMPARE[op](_order(value, right, op)))
        return value

    def additive(self) -> Value:
        value = self.multiplicative()
        while (op := self._accept("+", "-")) is not None:
            right = self.multiplicative()
            if isinstance(value, int) and isinstance(right, int):
                value = value + right if op == "+" else value - right
            elif isinstance(value, str) and isinstance(right, str):
                if op == "-":
                    raise ValueError("- on strings")
                value = value + right
            else:
                raise ValueError(f"{op} between a number and a string")
        return value

    def multiplicative(self) -> Value:
        value = self.unary()
        while (op := self._accept("*", "/")) is not None:
            right = self.unary()
            if not isinstance(value, int) or not isinstance(right, int):
                raise ValueError(f"{op} on strings")
            if op == "/" and right == 0:
                raise ValueError("division by zero")
            value = value * right if op == "*" else _divide(value, right)
        return value

    def unary(self) -> Value:
        # A loop, not recursion: `!!!!…1` is as deep as it is long.
        ops: list[str] = []
        while (op := self._accept("!", "-")) is not None:
            ops.append(op)
        value = self.primary()
        for op in reversed(ops):  # the innermost operator applies first
            if op == "!":
                value = int(not truthy(value))
            elif not isinstance(value, int):
                raise ValueError("- on a string")
            else:
                value = -value
        return value

    def primary(self) -> Value:
        if self._accept("("):
            if self.depth >= MAX_DEPTH:
                raise ValueError(f"parentheses nested deeper than {MAX_DEPTH} levels")
            self.depth += 1
            value = self.disjunction()
            self.depth -= 1
            if not self._accept(")"):
                raise ValueError("missing )")
            return value
        token = self.peek()
        if token is None or token[0] == "op":
            raise ValueError("operand expected" if token is None else f"unexpected {token[1]!r}")
        self.pos += 1
        return token[1]


def _order(left: Value, right: Value, op: str) -> int:
    """-1, 0 or 1 as `left` sorts before, with or after `right`, both numbers or both strings."""
    if isinstance(left, int) and isinstance(right, int):
        return (left > right) - (left < right)
    if isinstance(left, str) and isinstance(right, str):
        return (left > right) - (left < right)
    raise ValueError(f"{op} between a number and a string")


def _divide(left: int, right: int) -> int:
    """C's division (rpm's), truncating toward zero, exact at any size (a float is not)."""
    quotient = abs(left) // abs(right)
    return quotient if (left < 0) == (right < 0) else -quotient
