"""rpm's rich (boolean) dependencies, `(a or (b and c))`, as the resolver's Dependency lists. Pure.

The resolver's model is a conjunction of clauses, each clause a list of alternatives; an
alternative may be negated ("no installed package meets it") or narrowed ("the same package
also meets…"), see types.Relation. Every form rpm 4.14+ accepts converts exactly, to
conjunctive normal form:

- `a and b` → two clauses; `a or b` → one clause (nested and/or distribute into clauses);
- `a if b` ≡ `a or not b`: one clause, met by a, or while nothing provides b;
- `a if b else c` ≡ `(a or not b) and (c or b)`;
- `a unless b` ≡ `a and not b`; `a unless b else c` ≡ `(a and not b) or (c and b)` (rpm's
  lib/depends.c and libsolv's cplxdeps.c both read it so: `unless` is no `or`);
- `a with b`: one package meeting both → one alternative `a` narrowed by `b`; `a without b`
  → `a` narrowed by `not b`. Their operands are package relations, possibly combined with
  and/or/with/without (distributed: `a with (b or c)` is `(a with b) or (a with c)`).

Conflicts are requirements of the negation (`conflict`): `Conflicts: (a and b)` ≡ a clause
`not a or not b`; a clause of one negated relation is an ordinary conflict. `conflict_atoms`
(Obsoletes) keeps only the atoms of a pure `or`.

Every malformed text raises RichDepError (a ValueError), including nesting deeper than
MAX_DEPTH and a normal form past MAX_CLAUSES clauses: the text comes from a repository, and
neither may cost unbounded stack or memory.
"""
from __future__ import annotations

import re
from dataclasses import replace

from bootstrap.types import Dependency, Relation

_OPS = {"<": "<", "<=": "<=", "=": "=", "==": "=", ">=": ">=", ">": ">", "=<": "<=", "=>": ">="}
_KEYWORDS = {"and", "or", "if", "else", "unless", "with", "without"}
# A name may hold one level of parentheses (`perl(Foo::Bar)`, `python3dist(x)`,
# `libc.so.6(GLIBC_2.34)(64bit)`); a parenthesis that starts a token opens a group.
_TOKEN = re.compile(r"\(|\)|[^\s()]+(?:\([^\s()]*\)[^\s()]*)*")

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


def to_clauses(expr: Expr, positive: bool = True) -> Clauses:
    """The CNF of `expr` (of its negation when `positive` is False); see the module docstring."""
    if isinstance(expr, Relation):
        return [(expr if positive else replace(expr, negated=True),)]
    op, args = expr
    if op in ("and", "or"):
        parts = [to_clauses(a, positive) for a in args]
        return _conjoin(parts) if (op == "and") == positive else _disjoin(parts)
    if op in ("with", "without"):
        atoms = _narrowed(expr)
        return [tuple(atoms)] if positive else [(replace(a, negated=True),) for a in atoms]
    if op in ("if", "unless"):
        return _conditional(op, args, positive)
    raise RichDepError(f"unknown rich operator {op!r}")


def _conditional(op: str, args: list[Expr], positive: bool) -> Clauses:
    """`then if cond [else other]` ≡ (then ∨ ¬cond) [∧ (other ∨ cond)];
    `then unless cond [else other]` ≡ (then ∧ ¬cond) [∨ (other ∧ cond)]."""
    then, cond = args[0], args[1]
    other = args[2] if len(args) == 3 else None
    if op == "if":
        if positive:
            parts = [_disjoin([to_clauses(then), to_clauses(cond, False)])]
            if other is not None:
                parts.append(_disjoin([to_clauses(other), to_clauses(cond)]))
            return _conjoin(parts)
        # ¬… ≡ (cond ∧ ¬then) [∨ (¬cond ∧ ¬other)]
        broken = [_conjoin([to_clauses(cond), to_clauses(then, False)])]
        if other is not None:
            broken.append(_conjoin([to_clauses(cond, False), to_clauses(other, False)]))
        return _disjoin(broken)
    if positive:
        held = [_conjoin([to_clauses(then), to_clauses(cond, False)])]
        if other is not None:
            held.append(_conjoin([to_clauses(other), to_clauses(cond)]))
        return _disjoin(held)
    # ¬… ≡ (¬then ∨ cond) [∧ (¬other ∨ ¬cond)]
    parts = [_disjoin([to_clauses(then, False), to_clauses(cond)])]
    if other is not None:
        parts.append(_disjoin([to_clauses(other, False), to_clauses(cond, False)]))
    return _conjoin(parts)


def _conjoin(parts: list[Clauses]) -> Clauses:
    clauses = [c for part in parts for c in part]
    if len(clauses) > MAX_CLAUSES:
        raise RichDepError(f"rich dependency expands to more than {MAX_CLAUSES} clauses")
    return clauses


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
    # `b or not b` always holds: such a clause says nothing (`a unless b else c` makes one).
    return [tuple(clause) for clause in result
            if not any(r.negated and r.positive in clause for r in clause)]


def _narrowed(expr: Expr) -> list[Relation]:
    """A `with`/`without` expression as the alternatives of one package: each a relation
    narrowed by the others its package must (not) meet too."""
    out = []
    for conj in _package_dnf(expr, True):
        base = next((r for r in conj if not r.negated), None)
        if base is None:
            raise RichDepError("'with'/'without' needs a package relation to narrow")
        rest = tuple(r for r in conj if r is not base)
        out.append(replace(base, narrow=base.narrow + rest))
    return out


def _package_dnf(expr: Expr, positive: bool) -> list[list[Relation]]:
    """What one package must meet, as a disjunction of conjunctions of relations."""
    if isinstance(expr, Relation):
        return [[expr if positive else replace(expr, negated=True)]]
    op, args = expr
    if op in ("and", "with", "or"):
        parts = [_package_dnf(a, positive) for a in args]
        return _product(parts) if (op != "or") == positive else [c for p in parts for c in p]
    if op == "without":
        parts = [_package_dnf(args[0], positive), _package_dnf(args[1], not positive)]
        return _product(parts) if positive else [c for p in parts for c in p]
    raise RichDepError(f"'{op}' cannot go inside 'with'/'without'")


def _product(parts: list[list[list[Relation]]]) -> list[list[Relation]]:
    result: list[list[Relation]] = [[]]
    for part in parts:
        if len(result) * len(part) > MAX_CLAUSES:
            raise RichDepError(f"rich dependency expands to more than {MAX_CLAUSES} alternatives")
        result = [left + right for left in result for right in part]
    return result


def requirement(text: str) -> list[Dependency]:
    """A rich requirement as resolver dependencies."""
    return to_clauses(parse_rich(text))


def conflict(text: str) -> tuple[list[Relation], list[Dependency]]:
    """A rich Conflicts: (the relations conflicted with outright, the clauses that remain),
    from the CNF of its negation."""
    plain: list[Relation] = []
    clauses: list[Dependency] = []
    for clause in to_clauses(parse_rich(text), positive=False):
        if len(clause) == 1 and clause[0].negated:
            plain.append(clause[0].positive)
        else:
            clauses.append(clause)
    return plain, clauses


def conflict_atoms(text: str) -> list[Relation]:
    """The relations a rich Obsoletes (or Conflicts) names, when it is a plain `or` (else none)."""
    expr = parse_rich(text)
    if isinstance(expr, Relation):
        return [expr]
    op, args = expr
    atoms = [a for a in args if isinstance(a, Relation)]
    return atoms if op == "or" and len(atoms) == len(args) else []
