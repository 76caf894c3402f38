"""rpm's rich (boolean) dependencies, `(a or (b and c))`, as the resolver's Dependency lists. Pure.

The resolver's model is a conjunction of clauses, each clause a list of positive alternatives
(conjunctive normal form without negation). Each rich expression is converted to that form:

- `a and b`, `a with b` → two dependencies (`with` also asks that one package meets both;
  the model cannot say "the same package", so any packages meeting each side are accepted);
- `a or b` → one dependency with alternatives (nested and/or distribute into clauses);
- `a unless b` ≡ `b or a` → one dependency with both alternatives (b first would pull in
  the condition, so a is listed first: the consequent is what the packager wanted installed);
- `a if b` ≡ `not b or a` has no positive form: it is dropped (limit: a conditional
  requirement whose condition package ends up installed is not enforced);
- `a if b else c` → `a or c` (one of the two outcomes; which one the condition would pick
  is not checked), `a unless b else c` → `a or c` likewise;
- `a without b` → `a` (the exclusion is not expressible).

For Conflicts/Obsoletes (`conflict_atoms`), only the atoms of pure `or` expressions are kept:
conflicting with `(a or b)` is conflicting with each.

Every malformed text raises RichDepError (a ValueError), including nesting deeper than
MAX_DEPTH and an `or` of `and`s whose normal form would exceed MAX_CLAUSES clauses: the
text comes from a repository, and neither may cost unbounded stack or memory.
"""
from __future__ import annotations

import re

from bootstrap.types import Dependency, Relation

_OPS = {"<": "<", "<=": "<=", "=": "=", "==": "=", ">=": ">=", ">": ">", "=<": "<=", "=>": ">="}
_KEYWORDS = {"and", "or", "if", "else", "unless", "with", "without"}
_TOKEN = re.compile(r"\(|\)|[^\s()]+")

Expr = Relation | tuple[str, list["Expr"]]  # Relation, or (keyword, [Expr, ...])
# Real rich dependencies nest 3 or 4 levels and expand to a handful of clauses.
MAX_DEPTH = 32
MAX_CLAUSES = 1024


class RichDepError(ValueError):
    """The text is not a well-formed rich dependency."""


def parse_rich(text: str) -> Expr:
    """Parse `(…)` into an expression tree: a Relation, or (op, [operands]).
    `if`/`unless` with `else` give (op, [then, cond, else])."""
    tokens = _TOKEN.findall(text)
    expr, pos = _group(tokens, 0, 0)
    if pos != len(tokens):
        raise RichDepError(f"trailing text in rich dependency {text!r}")
    return expr


def _group(tokens: list[str], pos: int, depth: int) -> tuple[Expr, int]:
    """The parenthesised group starting at tokens[pos], and the position after it."""
    if pos >= len(tokens) or tokens[pos] != "(":
        raise RichDepError("rich dependency must start with '('")
    if depth >= MAX_DEPTH:
        raise RichDepError(f"rich dependency nested deeper than {MAX_DEPTH} levels")
    pos += 1
    operands: list[Expr] = []
    ops: list[str] = []
    while True:
        if pos >= len(tokens):
            raise RichDepError("unbalanced parentheses in rich dependency")
        if tokens[pos] == "(":
            sub, pos = _group(tokens, pos, depth + 1)
            operands.append(sub)
        else:
            words = []
            while pos < len(tokens) and tokens[pos] not in ("(", ")") and tokens[pos] not in _KEYWORDS:
                words.append(tokens[pos])
                pos += 1
            operands.append(_atom(words))
        if pos >= len(tokens):  # the text ended inside the group: `(a` or `(a or b`
            raise RichDepError("unbalanced parentheses in rich dependency")
        if tokens[pos] == ")":
            return _combine(ops, operands), pos + 1
        if tokens[pos] not in _KEYWORDS:
            raise RichDepError(f"expected an operator, found {tokens[pos]!r}")
        ops.append(tokens[pos])
        pos += 1


def _atom(words: list[str]) -> Relation:
    if len(words) == 1:
        return Relation(words[0])
    if len(words) == 3 and words[1] in _OPS:
        return Relation(words[0], _OPS[words[1]], words[2])
    raise RichDepError(f"malformed rich dependency atom {' '.join(words)!r}")


def _combine(ops: list[str], operands: list[Expr]) -> Expr:
    if not ops:
        return operands[0]
    first = ops[0]
    if first in ("if", "unless"):
        if ops == [first]:
            return (first, operands)
        if ops == [first, "else"]:
            return (first, operands)
        raise RichDepError(f"'{first}' takes one condition and at most one else")
    if any(op != first for op in ops):
        raise RichDepError(f"mixed operators {' '.join(sorted(set(ops)))} need parentheses")
    return (first, operands)


Clauses = list[tuple[Relation, ...]]


def to_clauses(expr: Expr) -> Clauses:
    """The positive CNF of a requirement (see the module docstring for each operator)."""
    if isinstance(expr, Relation):
        return [(expr,)]
    op, args = expr
    if op in ("and", "with"):
        return [c for arg in args for c in to_clauses(arg)]
    if op == "without":
        return to_clauses(args[0])
    if op == "or":
        return _disjoin([to_clauses(a) for a in args])
    if op == "unless":
        rest = args[2] if len(args) == 3 else args[1]
        return _disjoin([to_clauses(args[0]), to_clauses(rest)])
    if op == "if":
        return _disjoin([to_clauses(args[0]), to_clauses(args[2])]) if len(args) == 3 else []
    raise RichDepError(f"unknown rich operator {op!r}")


def _disjoin(parts: list[Clauses]) -> Clauses:
    """(A1 ∧ A2) ∨ (B1) … distributed into clauses; an empty part means "always true".
    Each clause is built as an ordered set (a dict), extended in place by a one-clause part
    (the common `a or b or c …`), copied only when a part of several clauses multiplies
    them: linear in the alternatives, not quadratic."""
    if any(not p for p in parts):
        return []
    result: list[dict[Relation, None]] = [{}]
    for part in parts:
        if len(result) * len(part) > MAX_CLAUSES:
            raise RichDepError(f"rich dependency expands to more than {MAX_CLAUSES} alternatives")
        if len(part) == 1:
            for left in result:
                left.update(dict.fromkeys(part[0]))
        else:
            result = [{**left, **dict.fromkeys(right)} for left in result for right in part]
    return [tuple(clause) for clause in result]


def requirement(text: str) -> list[Dependency]:
    """A rich requirement as resolver dependencies."""
    return to_clauses(parse_rich(text))


def conflict_atoms(text: str) -> list[Relation]:
    """The relations a rich Conflicts/Obsoletes names, when it is a plain `or` (else none)."""
    expr = parse_rich(text)
    if isinstance(expr, Relation):
        return [expr]
    op, args = expr
    atoms = [a for a in args if isinstance(a, Relation)]
    return atoms if op == "or" and len(atoms) == len(args) else []
