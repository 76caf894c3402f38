"""A small CDCL SAT core: two watched literals, first-UIP learning, non-chronological backjumps.

Written here rather than taken from python-sat: the resolver needs three things a general
solver does not give (a decision chosen by the caller at each step, clauses added lazily while
searching, and the original clauses behind a refutation for the error message), the problems
are small (the packages one resolution touches, thousands of clauses), and a pure-Python core
keeps the tool free of a compiled dependency.

Contract:
- variables are ints from 1 (`new_var`); a literal is `2*var` (true) or `2*var + 1` (false),
  so `lit ^ 1` negates it; `value[lit]` is 1 (true), -1 (false) or 0 (unassigned);
- `expand(var)` (given to `propagate`) is called once, when `var` is first assigned true, and
  returns the clauses
  (literals, origin) that only matter once it is: each holds `var`'s negative literal. That is
  what keeps the watches sound although clauses arrive mid-search: such a clause always has a
  literal of the current decision level, so it is either conflicting or watched correctly;
- the caller loops: `propagate()`; on a conflict `learn(conflict)` (False: unsatisfiable,
  `core()` then holds the origins of the original clauses of the refutation); else it
  `decide(lit)` on a literal of its choice, or stops when it has none left. Unassigned
  variables at the end are false. Complete: every decision is a literal of an unassigned
  variable, and learnt clauses (implied by the original ones) make every conflict shrink the
  space left, so the loop ends with a model if there is one and a refutation if not.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

Expand = Callable[[int], Iterable[tuple[Sequence[int], object]]]


class Sat:
    """The solver state; see the module contract."""

    def __init__(self) -> None:
        self.value: list[int] = [0, 0]
        self.level: list[int] = [0]
        self.reason: list[int] = [-1]
        self.expanded: list[bool] = [False]
        self.trail: list[int] = []
        self.limits: list[int] = []  # trail length where each decision level starts
        self.head = 0
        self.clauses: list[list[int]] = []
        self.origins: list[object] = []
        self.watches: list[list[int]] = [[], []]
        self.derived: dict[int, list[tuple[int, bool]]] = {}  # learnt clause -> what it came from
        self.final = -1  # the conflicting clause at level 0, once unsatisfiable
        # Unit clauses added above level 0: a backjump can undo their assignment, and having
        # no watches they would never be seen again.
        self.units: list[int] = []

    # -- state ------------------------------------------------------------------------------

    def new_var(self) -> int:
        self.value += (0, 0)
        self.level.append(0)
        self.reason.append(-1)
        self.expanded.append(False)
        self.watches += ([], [])
        return len(self.level) - 1

    @property
    def decision_level(self) -> int:
        return len(self.limits)

    def is_true(self, var: int) -> bool:
        return self.value[2 * var] == 1

    def _assign(self, lit: int, reason: int) -> None:
        self.value[lit] = 1
        self.value[lit ^ 1] = -1
        var = lit >> 1
        self.level[var] = len(self.limits)
        self.reason[var] = reason
        self.trail.append(lit)

    def decide(self, lit: int) -> None:
        """Open a decision level and assign `lit` (its variable must be unassigned)."""
        self.limits.append(len(self.trail))
        self._assign(lit, -1)

    # -- clauses ----------------------------------------------------------------------------

    def add_clause(self, lits: Sequence[int], origin: object) -> int:
        """Add an original clause under the current assignment; it propagates if unit. Returns
        the clause's index when it is conflicting, else -1 (see the contract for when clauses
        may be added)."""
        lits = list(dict.fromkeys(lits))
        assert lits, "an empty clause: the caller refuses those before searching"
        ci = len(self.clauses)
        self.clauses.append(lits)
        self.origins.append(origin)
        value = self.value
        if len(lits) == 1:
            # No watches: a unit clause is rechecked by every propagate() (see `units`).
            if self.limits:
                self.units.append(ci)
            if value[lits[0]] == -1:
                return ci
            if value[lits[0]] == 0:
                self._assign(lits[0], ci)
            return -1
        # Watch the two best literals: true or unassigned first, else the latest-assigned false.
        if value[lits[0]] == -1 or value[lits[1]] == -1:
            level = self.level
            lits.sort(key=lambda lit: (value[lit] == -1, -level[lit >> 1] if value[lit] == -1 else 0))
        self.watches[lits[0]].append(ci)
        self.watches[lits[1]].append(ci)
        if value[lits[0]] == -1:
            return ci
        if value[lits[1]] == -1 and value[lits[0]] == 0:
            self._assign(lits[0], ci)
        return -1

    # -- propagation ------------------------------------------------------------------------

    def propagate(self, expand: Expand) -> int:
        """Unit propagation to a fixpoint; returns a conflicting clause's index, or -1."""
        value, clauses, watches, trail = self.value, self.clauses, self.watches, self.trail
        for ci in self.units:
            lit = clauses[ci][0]
            if value[lit] == -1:
                return ci
            if value[lit] == 0:
                self._assign(lit, ci)
        while self.head < len(trail):
            lit = trail[self.head]
            self.head += 1
            if not lit & 1 and not self.expanded[lit >> 1]:
                conflict = self._expand(lit >> 1, expand)
                if conflict >= 0:
                    return conflict
            false = lit ^ 1
            pending = watches[false]
            kept: list[int] = []
            watches[false] = kept
            for k, ci in enumerate(pending):
                c = clauses[ci]
                if c[0] == false:
                    c[0], c[1] = c[1], false
                first = c[0]
                if value[first] == 1:
                    kept.append(ci)
                    continue
                for i in range(2, len(c)):
                    other = c[i]
                    if value[other] != -1:
                        c[1], c[i] = other, false
                        watches[other].append(ci)
                        break
                else:
                    kept.append(ci)
                    if value[first] == -1:
                        kept.extend(pending[k + 1:])
                        return ci
                    self._assign(first, ci)
        return -1

    def _expand(self, var: int, expand: Expand) -> int:
        """Add the clauses `var` brings; all of them, then the first conflicting one."""
        self.expanded[var] = True
        conflict = -1
        for lits, origin in expand(var):
            ci = self.add_clause(lits, origin)
            if ci >= 0 and conflict < 0:
                conflict = ci
        return conflict

    # -- conflicts --------------------------------------------------------------------------

    def learn(self, conflict: int) -> bool:
        """Analyse a conflict, backjump and assert the learnt clause. False when the conflict
        holds at level 0: no model exists (see `core`)."""
        # A clause that arrived conflicting may have no literal of the current level.
        self.backjump(max((self.level[lit >> 1] for lit in self.clauses[conflict]), default=0))
        if self.decision_level == 0:
            self.final = conflict
            return False
        learnt, used = self._analyse(conflict)
        back = max((self.level[lit >> 1] for lit in learnt[1:]), default=0)
        self.backjump(back)
        ci = len(self.clauses)
        self.clauses.append(learnt)
        self.origins.append(None)
        self.derived[ci] = used
        if len(learnt) > 1:
            # learnt[1] is the literal of the backjump level: the clause is unit there.
            j = max(range(1, len(learnt)), key=lambda i: self.level[learnt[i] >> 1])
            learnt[1], learnt[j] = learnt[j], learnt[1]
            self.watches[learnt[0]].append(ci)
            self.watches[learnt[1]].append(ci)
        self._assign(learnt[0], ci)
        return True

    def _analyse(self, conflict: int) -> tuple[list[int], list[tuple[int, bool]]]:
        """First-UIP clause; `used` lists the clauses it was resolved from, and the reasons of
        the level-0 literals it dropped (flagged True), for `core`."""
        level, reason, trail = self.level, self.reason, self.trail
        current = self.decision_level
        seen: set[int] = set()
        learnt = [0]
        used: list[tuple[int, bool]] = [(conflict, False)]
        pending = 0
        index = len(trail) - 1
        clause = self.clauses[conflict]
        lit = -1
        while True:
            for q in clause:
                var = q >> 1
                if q == lit or var in seen:
                    continue
                seen.add(var)
                if level[var] == current:
                    pending += 1
                elif level[var] > 0:
                    learnt.append(q)
                elif reason[var] >= 0:
                    used.append((reason[var], True))
            while trail[index] >> 1 not in seen:
                index -= 1
            lit = trail[index]
            index -= 1
            pending -= 1
            if pending == 0:
                break
            clause = self.clauses[reason[lit >> 1]]
            used.append((reason[lit >> 1], False))
        learnt[0] = lit ^ 1
        return learnt, used

    def backjump(self, level: int) -> None:
        """Undo every assignment above decision level `level`."""
        if self.decision_level <= level:
            return
        start = self.limits[level]
        for lit in self.trail[start:]:
            self.value[lit] = self.value[lit ^ 1] = 0
            self.reason[lit >> 1] = -1
        del self.trail[start:]
        del self.limits[level:]
        self.head = min(self.head, start)

    def core(self) -> list[object]:
        """The origins of the original clauses the final refutation rests on (after `learn`
        returned False), in clause order."""
        found: set[int] = set()
        done: set[tuple[int, bool]] = set()
        stack: list[tuple[int, bool]] = [(self.final, True)]
        while stack:
            item = stack.pop()
            if item in done:
                continue
            done.add(item)
            ci, as_reason = item
            if as_reason:  # its other literals are false at level 0: their reasons count
                for lit in self.clauses[ci]:
                    r = self.reason[lit >> 1]
                    if self.value[lit] == -1 and r >= 0 and r != ci:
                        stack.append((r, True))
            if ci in self.derived:
                stack.extend(self.derived[ci])
            else:
                found.add(ci)
        return [self.origins[ci] for ci in sorted(found)]
