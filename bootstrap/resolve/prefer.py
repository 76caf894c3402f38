"""Which of the packages that meet a relation to prefer, as each family's own package manager
ranks them (types.ResolvePolicy.provider_order).

- `order()` is the static order of one relation's candidates, best first;
- `pick()` chooses among the candidates of a dependency still undecided in the search, where
  libsolv's ranking depends on which ones are left (an older version is only disliked while a
  newer one of its name exists, policy.c dislike_old_versions).

Everywhere a candidate obsoleted by another candidate of another name goes last (libsolv's
prune_obsoleted; only rpm universes have Obsoletes). Pure; ties end on the name and the
universe's total order, so input order never matters.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Protocol

from bootstrap.resolve.commondep import badness
from bootstrap.types import Package, Relation, ResolvePolicy, VersionScheme


class Ranking(Protocol):
    """What ranking needs of the universe (bootstrap.resolve.index.Universe)."""

    scheme: VersionScheme
    policy: ResolvePolicy
    ranks: dict[str, int]
    native: str
    obsoletes_on: dict[str, list[tuple[Package, Relation]]]

    def prefer(self, a: Package, b: Package) -> int: ...

    def versions(self, name: str) -> list[Package]: ...

    def doomed(self, pkg: Package) -> bool: ...

    def version_ok(self, version: str, rel: Relation) -> bool: ...


def order(u: Ranking, rel: Relation, real: list[Package], others: list[Package]) -> list[Package]:
    """`real` (packages named rel.name, best first) and `others` (providers, file owners) as
    one list, best first, by the family's provider order."""
    if not others and len(real) < 2:
        return real
    how = u.policy.provider_order
    if how == "provided-version":
        ranked = sorted(real + others, key=functools.cmp_to_key(_by_provided(u, (rel.name,))))
    elif how == "by-name":
        ranked = _best_arch_first(u, sorted(real + others, key=functools.cmp_to_key(u.prefer)))
    else:
        ranked = real + _by_provider_priority(u, others)
    return obsoleted_last(u, ranked)


def _by_provider_priority(u: Ranking, pkgs: list[Package]) -> list[Package]:
    """apt (CompareProviders): Essential ones, then the native architecture (or an
    independent one), then higher provider_priority (the Priority field), then the name the
    index named last (apt's package ID), then name; each name's versions newest first."""
    by_name: dict[str, list[Package]] = {}
    for pkg in sorted(pkgs, key=functools.cmp_to_key(u.prefer)):
        by_name.setdefault(pkg.name, []).append(pkg)

    def key(name: str) -> tuple[bool, bool, int, int, str]:
        best = by_name[name][0]
        foreign = best.arch not in u.scheme.arch_independent and best.arch != u.native
        return (not any(p.essential for p in by_name[name]), foreign,
                -max(p.provider_priority for p in by_name[name]), -best.index_order, name)

    return [p for n in sorted(by_name, key=key) for p in by_name[n]]


def _best_arch_first(u: Ranking, pkgs: list[Package]) -> list[Package]:
    """libsolv's prune_to_best_arch: of one name, builds for a lesser architecture than the
    best one there is go after the rest, whatever their version (arch-independent ones stay
    in the running)."""
    independent = u.scheme.arch_independent
    best: dict[str, int] = {}
    for pkg in pkgs:
        if pkg.arch not in independent:
            best[pkg.name] = max(best.get(pkg.name, -1), u.ranks[pkg.arch])
    worse = [p for p in pkgs if p.arch not in independent and u.ranks[p.arch] < best[p.name]]
    if not worse:
        return pkgs
    moved = {id(p) for p in worse}
    return [p for p in pkgs if id(p) not in moved] + worse


def provided_version(pkg: Package, names: Sequence[str], compare: Callable[[str, str], int]) -> str | None:
    """The highest version `pkg` has or provides (with `=`) of any of `names`; None when it
    only provides them without a version (or as a file)."""
    best: str | None = None
    for name in names:
        found = [pkg.version] if pkg.name == name else []
        found += [p.version for p in pkg.provides if p.name == name and p.op == "=" and p.version]
        for version in found:
            if best is None or compare(version, best) > 0:
                best = version
    return best


def _by_provided(u: Ranking, names: Sequence[str]) -> Callable[[Package, Package], int]:
    """apk's compare_providers: the highest provided version of the name asked for (a provide
    without version ties with any: apk_version_compare_blob gives neither LESS nor GREATER
    against a null version), then the newest of one name, then provider_priority, then the
    universe's order."""
    compare = u.scheme.compare

    def cmp(a: Package, b: Package) -> int:
        va, vb = provided_version(a, names, compare), provided_version(b, names, compare)
        if va != vb and va is not None and vb is not None:
            c = compare(vb, va)
            if c:
                return c
        if a.name == b.name:
            c = compare(b.version, a.version)
            if c:
                return c
        if a.provider_priority != b.provider_priority:
            return b.provider_priority - a.provider_priority
        return u.prefer(a, b)

    return cmp


def obsoleted_last(u: Ranking, pkgs: list[Package]) -> list[Package]:
    """`pkgs` with those another of them (of another name) obsoletes moved to the end."""
    if not u.obsoletes_on or len(pkgs) < 2:
        return pkgs
    gone = _obsoleted(u, pkgs)
    return pkgs if not gone else [p for p in pkgs if id(p) not in gone] + [p for p in pkgs if id(p) in gone]


def _obsoleted(u: Ranking, pkgs: Sequence[Package]) -> set[int]:
    present = {id(p) for p in pkgs}
    gone: set[int] = set()
    for pkg in pkgs:
        if pkg.essential:
            continue
        for other, rel in u.obsoletes_on.get(pkg.name, ()):
            if id(other) in present and other.name != pkg.name and u.version_ok(pkg.version, rel):
                gone.add(id(pkg))
                break
    return gone


def best_builds(u: Ranking, pkgs: Sequence[Package]) -> dict[str, Package]:
    """Each name's best build among `pkgs`, whichever alternative named it: libsolv makes one
    rule of a clause's candidates (prune_to_best_arch, prune_to_best_version)."""
    best: dict[str, Package] = {}
    for pkg in _best_arch_first(u, sorted(pkgs, key=functools.cmp_to_key(u.prefer))):
        best.setdefault(pkg.name, pkg)
    return best


def pick(u: Ranking, names: Sequence[str], undecided: Sequence[Package],
         hints: Callable[[Package], tuple[int, int]] | None = None) -> Package:
    """The candidate to try first among `undecided` (in `order()`'s order) for a dependency on
    `names`. apt and apk take the first. libsolv (by-name) ranks each name's best package by:
    not obsoleted by another, higher provider_priority, lower badness over the versions they
    provide (commondep.py: sort_by_common_dep), not an old version while a newer one of its name exists
    (dislike_old_versions), then name; with `hints` (weak.WeakHints.rank) recommended, then
    suggested, ones before all that."""
    if u.policy.provider_order != "by-name" or len(undecided) == 1:
        return undecided[0]
    # What can never be installed is no candidate to libsolv (its rules rule it out first).
    undecided = [p for p in undecided if not u.doomed(p)] or undecided
    best = best_builds(u, undecided)
    if len(best) == 1:
        return next(iter(best.values()))
    compare = u.scheme.compare
    gone = _obsoleted(u, list(best.values()))
    bad = dict(zip(best, badness(list(best.values()), u.scheme), strict=True))
    # prune_to_best_arch over every candidate, whatever its name, before anything else; an
    # arch-independent build stays in the running.
    independent = u.scheme.arch_independent
    top = max((u.ranks[p.arch] for p in best.values() if p.arch not in independent), default=0)

    def key(name: str) -> tuple[int, int, int, int, int, int, int, str]:
        pkg, worse = best[name], bad[name]
        lesser = int(pkg.arch not in independent and u.ranks[pkg.arch] < top)
        newest = next((p for p in u.versions(name) if p.arch == pkg.arch), pkg)
        old = int(compare(newest.version, pkg.version) > 0)
        weak = hints(pkg) if hints is not None else (0, 0)
        return (lesser, *weak, int(id(pkg) in gone), -pkg.provider_priority, worse, old, name)

    return best[min(best, key=key)]
