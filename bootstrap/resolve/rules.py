"""Requests and packages as clauses over "this package is installed" literals, each clause kept
with the reason it exists (a Rule), which the search decides on and error messages read back.

Rule kinds:
- "request": one candidate of a request is installed (rpm: an obsoleter stands in for an
  obsoleted name, as `yum install oldtool` installs what obsoletes it);
- "requires": `owner` installed → one candidate of `dep` installed. An rpm rich clause may
  also hold negated relations: `(¬owner ∨ A ∨ ¬b)` asks for A only once b is installed;
- "conflicts" (Conflicts, Breaks, apk `!name`), "obsoletes", "same-name" (one version per
  name, Multi-Arch: same aside), "name" (two packages answering to one name where the family
  allows one): `owner` and `other` never together; `declarer` wrote `relation`.

Clauses are made lazily (the SAT core's `expand`): a package's rules exist once it is first
installed in the search, so a resolution never encodes the 60,000 packages it does not touch.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from bootstrap.resolve import prefer
from bootstrap.resolve.index import Universe
from bootstrap.types import Dependency, Package, Relation

# A rich clause with several negated relations expands into the product of their candidates;
# real ones have one condition with a handful. Past this many clauses the rest are dropped.
MAX_PRODUCT = 256


@dataclass(eq=False)
class Rule:
    """One clause and why it is there (see the module docstring for the kinds)."""

    kind: str
    owner: Package | None = None
    dep: Dependency = ()
    other: Package | None = None
    declarer: Package | None = None
    relation: Relation | None = None
    lits: tuple[int, ...] = ()  # the clause: candidates first, best first
    candidates: tuple[Package, ...] = ()  # the packages of its positive literals, same order
    conditions: tuple[Package, ...] = ()  # a rich clause's negated ones: it holds while one is out
    guess: frozenset[int] | None = None  # positive literals the search may choose (None: all)


def deps_of(pkg: Package) -> Sequence[Dependency]:
    """Pre-Depends and Depends, once each. Adapters repeat Pre-Depends in depends as the same
    objects, so identity tells the repeats (hashing every Relation would cost more)."""
    if not pkg.pre_depends:
        return pkg.depends
    seen: set[int] = set()
    out: list[Dependency] = []
    for dep in pkg.pre_depends + pkg.depends:
        if id(dep) not in seen:
            seen.add(id(dep))
            out.append(dep)
    return out


class Encoder:
    """Variables for packages, and the rules of requests and of installed packages."""

    def __init__(self, universe: Universe, requested: Collection[str], *, strict_exclude: bool,
                 new_var: Callable[[], int]) -> None:
        self.u = universe
        self.requested = frozenset(requested)
        self.arch_free: set[str] = set()  # names a request selects (see _lockstep)
        self.request_rules: list[Rule] = []
        self.reach: set[int] | None = None
        self.strict = strict_exclude
        self.new_var = new_var
        self.var_of: dict[int, int] = {}
        self.pkg_of: dict[int, Package] = {}
        self.requires: dict[int, list[Rule]] = {}
        self.dropped: dict[int, list[tuple[Dependency, list[Package]]]] = {}

    def var(self, pkg: Package) -> int:
        var = self.var_of.get(id(pkg))
        if var is None:
            var = self.var_of[id(pkg)] = self.new_var()
            self.pkg_of[var] = pkg
        return var

    # -- requests ---------------------------------------------------------------------------

    def request(self, dep: Dependency) -> Rule:
        """The rule of one request; `candidates` is empty when nothing installable meets it."""
        u = self.u
        found: dict[int, Package] = {}
        for alt in dep:
            cands = u.candidates(alt, u.native)
            if not u.policy.exclusive_names:
                # apt and dnf install the package of the name asked for when there is one,
                # not another that provides it; apk reads a request like any dependency.
                cands = [p for p in cands if p.name == alt.name] or cands
            for pkg in cands:
                found.setdefault(id(pkg), pkg)
            if alt.op is None and u.obsoletes_on:
                # dnf: the obsoleters of the newest build per arch only (hawkey's
                # _get_best_selectors, latest_per_arch_by_priority), any of them meeting it.
                for pkg in [p for p in u.candidates(alt, u.native) if p.name == alt.name and u.is_candidate(p)]:
                    for other in u.obsoleters(pkg):
                        found.setdefault(id(other), other)
        usable = prefer.obsoleted_last(u, [p for p in found.values() if not u.is_excluded(p)])
        self.arch_free.update(p.name for p in usable)  # a request's selection: SETARCH
        lits = tuple(2 * self.var(p) for p in usable)
        rule = Rule("request", dep=dep, lits=lits, candidates=tuple(usable), guess=self._guess(dep, usable))
        self.request_rules.append(rule)
        return rule

    # -- one package ------------------------------------------------------------------------

    def expand(self, var: int) -> list[tuple[tuple[int, ...], Rule]]:
        """Every rule of the package of `var` (see the SAT core's `expand`)."""
        pkg = self.pkg_of[var]
        rules: list[Rule] = []
        ref = self.u.ref_arch(pkg)
        for dep in deps_of(pkg):
            rules += self._requirement(pkg, var, dep, ref)
        if self.u.scheme.arch_color is not None and pkg.name not in self.arch_free:
            rules += self._lockstep(pkg, var)
        if pkg.conflict_clauses:
            rules += _not_self([r for dep in pkg.conflict_clauses for r in self._requirement(pkg, var, dep, ref)],
                               pkg)
        self.requires[var] = [r for r in rules if r.kind == "requires"]
        rules += self._exclusions(pkg, var)
        return [(r.lits, r) for r in rules]

    def _lockstep(self, pkg: Package, var: int) -> list[Rule]:
        """libsolv's infarch rule (rules.c solver_addinfarchrules): a build of a lesser arch
        than the best one its name has goes only with the best arch's build of the same
        version (nothing of the kind: it cannot be installed). The names a request selects
        are free of it (dnf's jobs carry SETARCH: solver.c jobtodisablelist)."""
        u = self.u
        independent = u.scheme.arch_independent
        if pkg.arch in independent:
            return []
        reach = self._reachable()
        ranked = [p for p in u.versions(pkg.name) if p.arch not in independent and id(p) in reach]
        if not ranked:
            return []
        best = max(u.ranks[p.arch] for p in ranked)
        if u.ranks[pkg.arch] >= best:
            return []
        partners = [p for p in ranked if u.ranks[p.arch] == best and p.version == pkg.version]
        dep: Dependency = (Relation(pkg.name, "=", pkg.version),)
        return [Rule("requires", owner=pkg, dep=dep, candidates=tuple(partners),
                     lits=tuple(2 * self.var(p) for p in partners) + (2 * var + 1,))]

    def _reachable(self) -> set[int]:
        """The packages libsolv makes rules for (its addedmap): the requests' candidates and,
        again and again, every candidate of their requirements. Made on first use."""
        if self.reach is None:
            u = self.u
            todo = [p for rule in self.request_rules for p in rule.candidates]
            self.reach = {id(p) for p in todo}
            while todo:
                pkg = todo.pop()
                ref = u.ref_arch(pkg)
                for dep in (*pkg.depends, *pkg.conflict_clauses):
                    for alt in dep:
                        if alt.negated:
                            continue
                        for cand in u.candidates(alt, ref):
                            if id(cand) not in self.reach:
                                self.reach.add(id(cand))
                                todo.append(cand)
        return self.reach

    def _requirement(self, pkg: Package, var: int, dep: Dependency, ref: str) -> list[Rule]:
        u = self.u
        conditions: list[list[Package]] = []
        if len(dep) == 1 and not dep[0].negated:  # by far the most common: no merging needed
            found = u.candidates(dep[0], ref)
            cands = [c for c in found if c.name not in u.exclude] if u.exclude else found
            excluded = [c for c in found if c.name in u.exclude] if len(cands) < len(found) else []
        else:
            merged, excluded = self._alternatives(dep, ref, conditions)
            if merged is None:
                return []  # "unless something installed meets alt": always so
            cands = merged
        if u.policy.depth_first and len(cands) > 1:
            cands = self._candidates_first(cands)
        if not cands and not conditions and excluded and not self.strict:
            # debootstrap's --exclude: the dependency is dropped, with a warning.
            self.dropped.setdefault(var, []).append((dep, excluded))
            return []
        base = tuple(2 * self.var(c) for c in cands) + (2 * var + 1,)
        guess = self._guess(dep, cands)
        if not conditions:
            return [Rule("requires", owner=pkg, dep=dep, lits=base, candidates=tuple(cands), guess=guess)]
        combos = itertools.islice(itertools.product(*conditions), MAX_PRODUCT)
        return [Rule("requires", owner=pkg, dep=dep, lits=base + tuple(2 * self.var(c) + 1 for c in combo),
                     candidates=tuple(cands), conditions=tuple(combo), guess=guess) for combo in combos]

    def _candidates_first(self, cands: list[Package]) -> list[Package]:
        """apt's MarkInstall tries only each name's candidate (its newest version, per arch)
        for the alternatives and providers of a dependency, in order; older versions come
        after all of them (apt would give up there: the search goes on)."""
        newest = [c for c in cands if self.u.is_candidate(c)]
        if len(newest) == len(cands):
            return cands
        first = {id(c) for c in newest}
        return newest + [c for c in cands if id(c) not in first]

    def _alternatives(self, dep: Dependency, ref: str, conditions: list[list[Package]]
                      ) -> tuple[list[Package] | None, list[Package]]:
        """The candidates of several alternatives, merged; negated ones go to `conditions`.
        None when a negated alternative can never be false (nothing meets it)."""
        u = self.u
        positives: dict[int, Package] = {}
        excluded: list[Package] = []
        # A name the user asked for wins over an earlier alternative (apt does the same).
        for alt in sorted(dep, key=lambda a: a.name not in self.requested):
            if alt.negated:
                met = u.matching(alt)
                if not met:
                    return None, []
                conditions.append(met)
                continue
            for cand in u.candidates(alt, ref):
                if u.is_excluded(cand):
                    excluded.append(cand)
                else:
                    positives.setdefault(id(cand), cand)
        return list(positives.values()), excluded

    def _exclusions(self, pkg: Package, var: int) -> list[Rule]:
        """The rules keeping `pkg` apart from what it cannot be installed with."""
        u = self.u
        rules: list[Rule] = []
        seen: set[int] = set()

        def add(other: Package, kind: str, declarer: Package | None, rel: Relation | None) -> None:
            if other is pkg or u.is_excluded(other):
                return
            other_var = self.var(other)
            if other_var not in seen:
                seen.add(other_var)
                rules.append(Rule(kind, owner=pkg, other=other, declarer=declarer, relation=rel,
                                  lits=(2 * var + 1, 2 * other_var + 1)))

        for rel in pkg.conflicts:
            for other in u.matching(rel):
                if other is pkg and u.policy.exclusive_names:
                    # apk: a conflict with a name the package itself has breaks it
                    # (solver.c apply_constraint counts the package among the providers).
                    rules.append(Rule("conflicts", owner=pkg, other=pkg, declarer=pkg, relation=rel,
                                      lits=(2 * var + 1,)))
                add(other, "conflicts", pkg, rel)
        for name in dict.fromkeys((pkg.name, *(p.name for p in pkg.provides), *pkg.files)):
            for other, rel in u.naming(u.conflicts_on, name):
                if other.arch in u.ranks and u.matches(rel, pkg) and u.named_arch(rel, pkg):
                    add(other, "conflicts", other, rel)
        for rel in pkg.obsoletes:
            for other in u.versions(rel.name):
                if other.name != pkg.name and u.version_ok(other.version, rel):
                    add(other, "obsoletes", pkg, rel)
        for other, rel in u.naming(u.obsoletes_on, pkg.name):
            if other.name != pkg.name and other.arch in u.ranks and u.version_ok(pkg.version, rel):
                add(other, "obsoletes", other, rel)
        for other in u.versions(pkg.name):
            if other is not pkg and not u.coinstallable(pkg, other):
                add(other, "same-name", None, None)
        if u.policy.exclusive_names:
            for name, versioned in _names(pkg).items():
                for other in _holders(u, name):
                    if other.name != pkg.name and (versioned or _names(other).get(name, False)):
                        add(other, "name", None, Relation(name))
        return rules

    def _guess(self, dep: Dependency, cands: Sequence[Package]) -> frozenset[int] | None:
        """apk: which candidates the search may pick. A provider of an unversioned virtual
        name with several providers needs a provider_priority (apk's select_package)."""
        if not self.u.policy.refuse_unranked_virtual:
            return None
        allowed = [c for c in cands if any(_guessable(self.u, alt, c) for alt in dep)]
        return None if len(allowed) == len(cands) else frozenset(2 * self.var(c) for c in allowed)


def _not_self(rules: list[Rule], pkg: Package) -> list[Rule]:
    """A package's rich-Conflicts rules as libsolv keeps them. A rule only the package itself
    breaks is no conflict (add_complex_deprules skips the block `-p`). libsolv looks for
    that block after simplifying the expression, a name nothing provides being false: when
    a rule is left to the package alone because its other terms have no candidates, the
    rules that simplification folds into it (those with the package among the conditions)
    go with it."""
    def alone(rule: Rule) -> bool:
        return not rule.candidates and bool(rule.conditions) and all(c is pkg for c in rule.conditions)

    folded = any(alone(r) and any(not alt.negated for alt in r.dep) for r in rules)
    return [r for r in rules if not alone(r) and not (folded and any(c is pkg for c in r.conditions))]


def _names(pkg: Package) -> dict[str, bool]:
    """The names a package answers to, each with whether it has it with a version."""
    names = {pkg.name: True}
    for prov in pkg.provides:
        names[prov.name] = names.get(prov.name, False) or prov.op is not None
    return names


def _holders(u: Universe, name: str) -> list[Package]:
    """Every installable package that has `name`, as its name or a provide."""
    found = {id(p): p for p in u.versions(name)}
    for pkg, _ in u.providers.get(name, ()):
        if pkg.arch in u.ranks:
            found.setdefault(id(pkg), pkg)
    return sorted(found.values(), key=u.order)


def _guessable(u: Universe, alt: Relation, cand: Package) -> bool:
    if alt.negated or not u.matches(alt, cand):
        return False
    if cand.name == alt.name or cand.provider_priority > 0 or _names(cand).get(alt.name, False):
        return True
    return len(_holders(u, alt.name)) < 2
