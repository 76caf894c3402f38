"""apt's order of decisions: depth first, as pkgDepCache::MarkInstall marks packages.

apt-get marks every requested package first, then walks each one's dependencies in order,
depth first: a dependency already met by a package marked so far is skipped; otherwise the
first candidate apt prefers (the real package, then providers by CompareProviders) is marked
and its own dependencies walked before the next one. So which alternative or provider a
dependency gets depends on what the walk has marked *before* it, not on everything the
search knows must be installed: `Depends: littler` takes the real transitional littler
when r-cran-littler, which provides it, only comes later in the walk.

`DepthFirst.next()` replays that walk over the search's current assignment and returns the
literal apt would mark next, or None once the walk is done. A package the walk would mark and
the search already set true is simply marked; one it has not is a decision (possibly on a
dependency another true package already meets: apt installs both). After the walk, installed
packages it never reached are walked too, so every installed package's rules are met. A
backjump restarts the walk (`reset`).
"""
from __future__ import annotations

from collections.abc import Sequence

from bootstrap.resolve.rules import Encoder, Rule


class DepthFirst:
    """The walk's state between decisions."""

    def __init__(self, enc: Encoder, requests: Sequence[Rule]) -> None:
        self.enc = enc
        self.requests = requests
        self.reset()

    def reset(self) -> None:
        self.stuck: Rule | None = None  # a dependency only unpickable candidates could meet
        self.marked: set[int] = set()
        self.stack: list[list[int]] = []  # [var, index of its next rule]
        self.rooted = False
        self.swept = 0  # trail entries checked for packages the walk did not reach

    def next(self, value: list[int], trail: Sequence[int]) -> int | None:
        """The next literal to decide, or None when the walk is complete."""
        if not self.rooted:
            lit = self._roots(value)
            if lit is not None:
                return lit
        while True:
            lit = self._descend(value)
            if lit is not None:
                return lit
            if not self._sweep(trail):
                return None

    def _roots(self, value: list[int]) -> int | None:
        """Every request marked before any dependency is walked (apt-get's first pass)."""
        found = []
        for rule in self.requests:
            var = _first_true(rule, value)
            if var is None:
                lit = _choice(rule, value)
                if lit is None:
                    self.stuck = self.stuck or rule
                    continue
                return lit
            found.append(var)
        for var in reversed(found):
            self._push(var)
        self.rooted = True
        return None

    def _push(self, var: int) -> None:
        if var not in self.marked:
            self.marked.add(var)
            self.stack.append([var, 0])

    def _descend(self, value: list[int]) -> int | None:
        while self.stack:
            top = self.stack[-1]
            rules = self.enc.requires.get(top[0], ())
            if top[1] >= len(rules):
                self.stack.pop()
                continue
            rule = rules[top[1]]
            if _waiting(rule, value) or any(
                    value[lit] == 1 and lit >> 1 in self.marked for lit in rule.lits if not lit & 1):
                top[1] += 1
                continue
            for lit in rule.lits:
                if lit & 1 or (rule.guess is not None and lit not in rule.guess):
                    continue
                if value[lit] == 0:
                    return lit  # decided: the rule is looked at again once it propagated
                if value[lit] == 1:
                    top[1] += 1
                    self._push(lit >> 1)
                    break
            else:
                top[1] += 1  # nothing it may pick: apk's refusal to guess (see Search)
                if any(value[lit] == 0 for lit in rule.lits if not lit & 1):
                    self.stuck = self.stuck or rule
        return None

    def _sweep(self, trail: Sequence[int]) -> bool:
        """Push the first installed package the walk has not reached; False when none is left."""
        while self.swept < len(trail):
            lit = trail[self.swept]
            self.swept += 1
            if not lit & 1 and lit >> 1 not in self.marked:
                self._push(lit >> 1)
                return True
        return False


def _first_true(rule: Rule, value: list[int]) -> int | None:
    return next((lit >> 1 for lit in rule.lits if not lit & 1 and value[lit] == 1), None)


def _choice(rule: Rule, value: list[int]) -> int | None:
    return next((lit for lit in rule.lits if not lit & 1 and value[lit] == 0
                 and (rule.guess is None or lit in rule.guess)), None)


def _waiting(rule: Rule, value: list[int]) -> bool:
    """A rich clause whose condition is undecided, or already met by it."""
    return any(lit & 1 and value[lit] != -1 for lit in rule.lits[len(rule.candidates) + 1:])
