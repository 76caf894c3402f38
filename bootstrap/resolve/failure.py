"""Why no installable set exists, told from the search's own refutation.

The SAT core hands over the rules its proof used (a core: unsatisfiable on its own). They are
replayed the way a user reads a dependency problem: requests first, then breadth first down
the dependencies, a rule left with one possible candidate forcing it. The first rule left with
none is the dead end; the message is its chain from a request, the dependency, and why each
candidate is out (`frontend → exim4 → exim4 1.0 conflicts with postfix 1.0 (requested)`,
`libssl-dev → libssl3 → libc6 (>= 2.34) → not found in any enabled repository`). A candidate
is out when it cannot go with a forced package, or when one of its own dependencies in the
core has no candidate left (then the chain goes down through it when it was the only one).
Only a core that needs case splits to see (rare) falls back to naming its rules.
"""
from __future__ import annotations

from collections.abc import Sequence

from bootstrap.errors import ResolveError
from bootstrap.resolve.explain import Blocked, alternative_text, bounded, dead_end, label
from bootstrap.resolve.index import Universe
from bootstrap.resolve.rules import Rule
from bootstrap.types import Package, format_dependency

MAX_DEPTH = 8  # how deep "its own dependency fails" is followed
SHOWN_RULES = 6

_KIND = {"same-name": "chosen", "name": "name"}


class _Replay:
    def __init__(self, u: Universe, core: Sequence[Rule]) -> None:
        self.u = u
        self.core = core
        self.requires: dict[int, list[Rule]] = {}
        self.against: dict[int, list[Rule]] = {}
        for rule in core:
            if rule.kind == "requires" and rule.owner is not None:
                self.requires.setdefault(id(rule.owner), []).append(rule)
            elif rule.owner is not None and rule.other is not None:
                self.against.setdefault(id(rule.owner), []).append(rule)
                self.against.setdefault(id(rule.other), []).append(rule)
        self.forced: dict[int, tuple[str, ...]] = {}
        self.reasons: dict[str, tuple[str, ...]] = {}
        self._memo: dict[int, tuple[Blocked, Rule | None] | None] = {}

    # -- why a candidate is out -------------------------------------------------------------

    def out(self, pkg: Package, depth: int = 0, visiting: frozenset[int] = frozenset()
            ) -> tuple[Blocked, Rule | None] | None:
        """Why `pkg` cannot be installed given the forced packages (and the rule of its own
        that fails, for "needs"), or None."""
        key = id(pkg)
        if key in self._memo:
            return self._memo[key]
        found = self._blocked(pkg)
        if found is None and depth < MAX_DEPTH and key not in visiting:
            for rule in self.requires.get(key, ()):
                if self.fails(rule, depth + 1, visiting | {key}):
                    found = (Blocked(pkg, "needs", detail=self.short(rule, depth + 1)), rule)
                    break
        if depth == 0:
            self._memo[key] = found
        return found

    def _blocked(self, pkg: Package) -> tuple[Blocked, Rule | None] | None:
        for rule in self.against.get(id(pkg), ()):
            other = rule.other if rule.owner is pkg else rule.owner
            if other is None or other is pkg or id(other) not in self.forced:
                continue
            kind = _KIND.get(rule.kind) or _direction(rule, pkg)
            detail = rule.relation.name if rule.relation is not None else ""
            return Blocked(pkg, kind, other, detail), None
        return None

    def fails(self, rule: Rule, depth: int = 0, visiting: frozenset[int] = frozenset()) -> bool:
        """Whether every candidate of `rule` is out while its conditions are all forced."""
        if any(id(c) not in self.forced for c in rule.conditions):
            return False
        return all(self.out(c, depth, visiting) is not None for c in rule.candidates)

    def short(self, rule: Rule, depth: int) -> str:
        """`dep → why` for a failing rule of a candidate (one level, for messages)."""
        dep = format_dependency(rule.dep[:3])
        if not rule.candidates:
            alt = rule.dep[0]
            return f"{dep} → {alternative_text(self.u, alt, (), self.reasons)}"
        first = self.out(rule.candidates[0], depth)
        why = first[0] if first is not None else None
        if why is None or why.other is None:
            return f"{dep} → cannot be installed"
        return f"{dep} → {alternative_text(self.u, rule.dep[0], [why], self.reasons)}"

    # -- the replay -------------------------------------------------------------------------

    def force(self, pkg: Package, chain: tuple[str, ...], queue: list[tuple[Rule, tuple[str, ...]]]) -> None:
        self.forced[id(pkg)] = chain
        name = chain[-1]
        self.reasons.setdefault(name, chain)
        self._memo.clear()
        queue += [(r, chain) for r in self.requires.get(id(pkg), ())]

    def run(self, requests: Sequence[Rule]) -> ResolveError | None:
        queue: list[tuple[Rule, tuple[str, ...]]] = [(r, ()) for r in requests]
        progress = True
        while progress:
            progress = False
            waiting: list[tuple[Rule, tuple[str, ...]]] = []
            while queue:
                rule, chain = queue.pop(0)
                if any(id(c) not in self.forced for c in rule.conditions):
                    waiting.append((rule, chain))
                    continue
                alive = [c for c in rule.candidates if self.out(c) is None]
                if not alive:
                    return self.describe(rule, chain)
                if len(alive) == 1:
                    if id(alive[0]) not in self.forced:
                        self.force(alive[0], chain + (alive[0].name,), queue)
                        progress = True
                else:
                    waiting.append((rule, chain))
            queue = waiting
        return None

    def describe(self, rule: Rule, chain: tuple[str, ...]) -> ResolveError:
        """The message for a rule none of whose candidates can be installed."""
        for _ in range(MAX_DEPTH):
            if len(rule.candidates) != 1:
                break
            why = self.out(rule.candidates[0])
            if why is None or why[1] is None:
                break
            chain, rule = chain + (rule.candidates[0].name,), why[1]
        failures = []
        for alt in [a for a in rule.dep if not a.negated] or list(rule.dep):
            blocked = [b[0] for c in rule.candidates if self.u.matches(alt, c)
                       for b in [self.out(c)] if b is not None]
            failures.append((alt, blocked))
        return dead_end(self.u, chain, rule.dep, failures, self.reasons)


def _direction(rule: Rule, pkg: Package) -> str:
    """How `pkg` reads a conflicts/obsoletes rule: it declared it, or the other one did."""
    if rule.kind == "obsoletes":
        return "obsoletes" if rule.declarer is pkg else "obsoleted"
    return "conflicts" if rule.declarer is pkg else "conflicted"


def explain(u: Universe, core: Sequence[Rule], requests: Sequence[Rule]) -> ResolveError:
    """The ResolveError for an unsatisfiable set of requests, from the refutation's rules."""
    replay = _Replay(u, core)
    in_core = {id(r) for r in core}
    error = replay.run([r for r in requests if id(r) in in_core])
    return error if error is not None else _fallback(core)


def _fallback(core: Sequence[Rule]) -> ResolveError:
    texts = list(dict.fromkeys(_rule_text(r) for r in core))
    shown = "; ".join(texts[:SHOWN_RULES]) + (f"; … and {len(texts) - SHOWN_RULES} more"
                                              if len(texts) > SHOWN_RULES else "")
    return ResolveError(bounded(f"no set of packages meets these together: {shown}"),
                        hint="these packages cannot be installed together: leave one of them out "
                             "of the package list, or --exclude the one a dependency brings in")


def _rule_text(rule: Rule) -> str:
    if rule.kind == "request":
        return f"{format_dependency(rule.dep)} (requested)"
    if rule.kind == "requires" and rule.owner is not None:
        return f"{label(rule.owner)} needs {format_dependency(rule.dep)}"
    if rule.owner is not None and rule.other is not None:
        if rule.kind in ("conflicts", "obsoletes") and rule.declarer is not None:
            other = rule.other if rule.declarer is rule.owner else rule.owner
            return f"{label(rule.declarer)} {rule.kind} {label(other)}"
        return f"{label(rule.owner)} or {label(rule.other)}, not both"
    return rule.kind
