"""The search: the SAT core (sat.py) over the rules (rules.py), deciding as the families'
package managers would, so the first model found is the one they would install.

Decisions, in this order (the CDCL core undoes and redoes them as conflicts teach it):
1. every request, in the order given, takes its best candidate (requested names first);
2. then each dependency of an installed package that is not met takes its best undecided
   candidate (prefer.pick): newest version, the family's provider order. With `depth_first`
   (apt) the dependencies are walked as apt's MarkInstall walks them (walk.py); else breadth
   first from the requests, and with `defer_choices` (libsolv, apk) a dependency left with
   several names to choose from waits until those with one are decided, so a package needed
   anyway meets it. A rich clause waits until its condition is decided;
3. when every dependency is met, install_if: for each name (sorted) not installed, the newest
   version whose triggers hold (`!name` triggers: no such package) is tried; one that cannot
   be installed is learnt false and an older one tried; none: the name is skipped.
Nothing else is decided: what is left unassigned is not installed (the fewest packages).

A first model with decisions taken best-first in a fixed order is the lexicographically best
one for that order: a decision is only ever reversed when a learnt clause proves that no model
keeps it together with the earlier ones.
"""
from __future__ import annotations

import bisect
from collections.abc import Sequence

from bootstrap.errors import ResolveError
from bootstrap.resolve import prefer
from bootstrap.resolve.explain import bounded
from bootstrap.resolve.index import Universe
from bootstrap.resolve.nameorder import NameOrder
from bootstrap.resolve.rules import Encoder, Rule
from bootstrap.resolve.sat import Sat
from bootstrap.resolve.walk import DepthFirst
from bootstrap.resolve.weak import WeakHints
from bootstrap.types import Dependency, Package


class Unsatisfiable(Exception):
    """No installable set exists; `core` holds the rules of the refutation."""

    def __init__(self, core: list[Rule]) -> None:
        super().__init__("unsatisfiable")
        self.core = core


class Unguessable(Exception):
    """apk: a dependency on a virtual name none of whose providers may be picked."""

    def __init__(self, rule: Rule) -> None:
        super().__init__("unguessable")
        self.rule = rule


class Search:
    """One resolution's search state; `run()` returns the installed packages."""

    def __init__(self, universe: Universe, requests: Sequence[Dependency], *,
                 strict_exclude: bool) -> None:
        self.u = universe
        requested = {dep[0].name for dep in requests if len(dep) == 1}
        self.sat = Sat()
        self.enc = Encoder(universe, requested, strict_exclude=strict_exclude,
                           new_var=self.sat.new_var)
        self.requests = [self.enc.request(tuple(dep)) for dep in requests]
        self.open: list[Rule] = []  # requests, then the rules of installed packages, BFS order
        self.open_at: list[int] = []  # the trail position each open rule came from
        self.seen = 0  # trail entries already turned into open rules
        self.done = 0  # open rules before this one are all met
        self.defer = universe.policy.defer_choices
        self.walk = DepthFirst(self.enc, self.requests) if universe.policy.depth_first else None
        self.armed: set[str] = set(universe.trigger_index()[1]) if universe.install_if_names else set()
        self.armed_seen = 0
        self.armed_stale = False
        self.have: set[str] = set()  # the names installed packages answer to
        self.weak = WeakHints(universe) if universe.policy.weak_hints else None
        self.minimize = universe.policy.minimize
        self.names = NameOrder(universe) if universe.policy.decide_by_name else None
        self.discovered = (self.names.discovered([a.name for dep in requests for a in dep if not a.negated])
                           if self.names is not None and universe.install_if_names else None)
        # The choices made among several names: (level, literal chosen, the other names'
        # best candidates not yet tried there); see _minimized.
        self.branches: list[tuple[int, int, tuple[int, ...]]] = []
        self.branch: tuple[int, ...] | None = None

    # -- the loop ---------------------------------------------------------------------------

    def run(self) -> list[Package]:
        """The installed packages of the first model; raises Unsatisfiable or Unguessable."""
        sat = self.sat
        for rule in self.requests:
            self.open.append(rule)
            self.open_at.append(-1)
            conflict = sat.add_clause(rule.lits, rule)
            if conflict >= 0 and not sat.learn(conflict):
                raise Unsatisfiable(self._core())
        while True:
            conflict = sat.propagate(self.enc.expand)
            if conflict >= 0:
                if not sat.learn(conflict):
                    raise Unsatisfiable(self._core())
                self._backjumped()
                continue
            lit = self._next()
            if lit is None:
                lit = self._minimized()
                if lit is None:
                    break
                self._backjumped()
            sat.decide(lit)
            if self.branch is not None:
                self.branches.append((sat.decision_level, lit, self.branch))
                self.branch = None
        return [self.enc.pkg_of[lit >> 1] for lit in sat.trail if not lit & 1]

    def _minimized(self) -> int | None:
        """libsolv's auto-minimization (solver.c solver_run_sat): once every rule is met, the
        earliest choice one of whose other candidates got installed later anyway is taken
        back and that candidate decided there instead (each alternative once), so what the
        first choice alone pulled in goes. Returns the literal to decide (the search is
        back at the choice's level), or None when no choice can be minimized."""
        if not self.minimize:
            return None
        sat = self.sat
        for n, (level, _lit, alternatives) in enumerate(self.branches):
            later = [a for a in alternatives if sat.value[a] == 1 and sat.level[a >> 1] >= level]
            if later:
                sat.backjump(level - 1)
                del self.branches[n:]
                self.branch = tuple(a for a in alternatives if a != later[0])
                return later[0]
        return None

    def _core(self) -> list[Rule]:
        return [o for o in self.sat.core() if isinstance(o, Rule)]

    def _backjumped(self) -> None:
        """Forget the open rules of packages no longer installed; recheck the rest."""
        size = len(self.sat.trail)
        keep = bisect.bisect_left(self.open_at, size)
        del self.open[keep:], self.open_at[keep:]
        self.seen = min(self.seen, size)
        self.done = 0
        if self.walk is not None:
            self.walk.reset()
        self.armed_stale = self.armed_stale or self.armed_seen > size
        if self.weak is not None:
            self.weak.reset()
        while self.branches and self.branches[-1][0] > self.sat.decision_level:
            self.branches.pop()

    def _extend(self) -> None:
        trail = self.sat.trail
        for pos in range(self.seen, len(trail)):
            lit = trail[pos]
            if not lit & 1:
                for rule in self.enc.requires.get(lit >> 1, ()):
                    self.open.append(rule)
                    self.open_at.append(pos)
        self.seen = len(trail)

    # -- decisions --------------------------------------------------------------------------

    def _next(self) -> int | None:
        """The next literal to decide, or None when every rule is met (see the module doc)."""
        if self.walk is not None:
            lit = self.walk.next(self.sat.value, self.sat.trail)
            if lit is None:
                lit = self._install_if()
            if lit is None and self.walk.stuck is not None:
                raise Unguessable(self.walk.stuck)
            return lit
        self._extend()
        if self.names is not None:
            return self._next_by_name()
        value = self.sat.value
        deferred: int | None = None
        stuck: Rule | None = None
        i = self.done
        while i < len(self.open):
            rule = self.open[i]
            i += 1
            state = _state(rule, value)
            if state == "met":
                if i - 1 == self.done:
                    self.done = i
                continue
            if state == "waiting":
                continue
            choices = _choices(rule, value)
            if not choices:
                stuck = stuck or rule
                continue
            if self.defer and rule.kind != "request" and len(self._names(choices)) > 1:
                deferred = deferred if deferred is not None else self._pick(rule, choices)
                continue
            return self._pick(rule, choices)
        if deferred is not None:
            return deferred
        lit = self._install_if()
        if lit is None and stuck is not None:
            raise Unguessable(stuck)
        return lit

    def _next_by_name(self) -> int | None:
        """apk's order (nameorder.py): of the open rules, one on a name with a single option
        left, else the least by compare_name_dequeue's key, the rule added last winning ties;
        then install_if."""
        assert self.names is not None
        value = self.sat.value
        best: tuple[tuple[int, int], Rule, list[int]] | None = None
        stuck: Rule | None = None
        for i in range(len(self.open) - 1, self.done - 1, -1):
            rule = self.open[i]
            state = _state(rule, value)
            if state != "open":
                continue
            choices = _choices(rule, value)
            if not choices:
                stuck = stuck or rule
                continue
            # apk's has_options counts every provider still possible, guessable or not.
            if len(choices) == 1 and sum(1 for lit in rule.lits if not lit & 1 and value[lit] == 0) == 1:
                return choices[0]
            name = next((alt.name for alt in rule.dep if not alt.negated), "")
            key = self.names.key(name)
            if best is None or key < best[0]:
                best = (key, rule, choices)
        if best is not None:
            return self._pick(best[1], best[2])
        lit = self._install_if()
        if lit is None and stuck is not None:
            raise Unguessable(stuck)
        return lit

    def _names(self, lits: list[int]) -> set[str]:
        return {self.enc.pkg_of[lit >> 1].name for lit in lits}

    def _pick(self, rule: Rule, choices: list[int]) -> int:
        pkgs = [self.enc.pkg_of[lit >> 1] for lit in choices]
        names = [alt.name for alt in rule.dep if not alt.negated]
        hints = None
        if self.weak is not None and len(pkgs) > 1:
            self.weak.update(self.sat.trail, self.enc.pkg_of)
            hints = self.weak.rank
        chosen = prefer.pick(self.u, names, pkgs, hints)
        if self.minimize:  # the branch: the other names' builds pick() weighed
            others = [p for name, p in prefer.best_builds(self.u, pkgs).items() if name != chosen.name]
            self.branch = tuple(2 * self.enc.var(p) for p in others) or None
        return 2 * self.enc.var(chosen)

    def _armed(self) -> list[str]:
        """The install_if names some version of which has every positive trigger's name
        installed (kept up with the trail: apk indexes have a thousand install_if names, a
        build meets a few); whether the triggers really hold is `_triggered`'s to say."""
        on, always = self.u.trigger_index()
        trail = self.sat.trail
        if self.armed_stale:  # a backjump took back packages that armed names
            self.armed, self.armed_seen, self.armed_stale = set(always), 0, False
            self.have = set()
        for pos in range(self.armed_seen, len(trail)):
            lit = trail[pos]
            if not lit & 1:
                pkg = self.enc.pkg_of[lit >> 1]
                for name in self._trigger_names(pkg):
                    if name not in self.have:
                        self.have.add(name)
                        self.armed.update(n for n, needed in on.get(name, ()) if needed <= self.have)
        self.armed_seen = len(trail)
        return sorted(self.armed)

    def _trigger_names(self, pkg: Package) -> tuple[str, ...]:
        """The names by which an installed package can meet install_if triggers: its own,
        provides and files; apk only its own (solver.c generate_changeset follows
        `pkg->name->rinstall_if` alone)."""
        if self.u.policy.exclusive_names:
            return (pkg.name,)
        return (pkg.name, *(p.name for p in pkg.provides), *pkg.files)

    def _install_if(self) -> int | None:
        u, value = self.u, self.sat.value
        if not u.install_if_names:
            return None
        for name in self._armed():
            if name in u.exclude or (self.discovered is not None and name not in self.discovered):
                continue
            versions = u.versions(name)
            if any(value[2 * self.enc.var_of.get(id(p), 0)] == 1 for p in versions):
                continue
            for pkg in versions:
                if pkg.install_if and self._triggered(pkg):
                    lit = 2 * self.enc.var(pkg)
                    if value[lit] == 0:
                        return lit
        return None

    def _triggered(self, pkg: Package) -> bool:
        """Whether every install_if trigger holds now (a `!name` one: nothing meets it)."""
        value = self.sat.value
        own = self.u.policy.exclusive_names  # apk: a trigger is met by the name's own package
        for rel in pkg.install_if:
            met = any(value[2 * self.enc.var_of.get(id(p), 0)] == 1 for p in self.u.matching(rel)
                      if not own or p.name == rel.name)
            if met == rel.negated:
                return False
        return True


def _choices(rule: Rule, value: list[int]) -> list[int]:
    """The undecided candidates of an open rule the search may pick (apk: `guess`)."""
    return [lit for lit in rule.lits if not lit & 1 and value[lit] == 0
            and (rule.guess is None or lit in rule.guess)]


def _state(rule: Rule, value: list[int]) -> str:
    """"met" (a literal is true), "waiting" (a condition of a rich clause is undecided) or
    "open" (one of its candidates must be chosen)."""
    waiting = False
    for lit in rule.lits:
        v = value[lit]
        if v == 1:
            return "met"
        if v == 0 and lit & 1:
            waiting = True
    return "waiting" if waiting else "open"


def unguessable_error(exc: Unguessable, chain: tuple[str, ...]) -> ResolveError:
    """apk's "unable to select packages: NAME (virtual)" in one line."""
    rule = exc.rule
    names = sorted({p.name for p in rule.candidates})
    virtual = " | ".join(alt.name for alt in rule.dep)
    where = " → ".join((*chain, virtual)) if chain else virtual
    return ResolveError(bounded(f"{where} → a virtual name provided by {', '.join(names[:5])}"
                                f"{' …' if len(names) > 5 else ''}, none with a provider_priority"),
                        hint=bounded("name the one to install in the package list "
                                     f"(--include {names[0] if names else 'NAME'})"))
