"""One pass of the resolver: a breadth-first walk from the requests, apt-style.

Each dependency (a list of alternatives) is met by what is already chosen if possible, else by
the first alternative that has an installable candidate not in the way of anything chosen
(conflicts both ways, obsoletes, one version per name). Breadth-first keeps the reasons short
(the chain from the nearest request) and lets every request be chosen before any dependency
is looked at, so `a | b` takes `b` when the user asked for `b`. When nothing fits, `DeadEnd`
carries the user-facing error and the chosen packages that stood in the way, which
`resolve()` demotes before trying again (the "limited backtracking").
"""
from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import NamedTuple

from bootstrap.errors import ResolveError
from bootstrap.resolve.explain import Blocked, dead_end
from bootstrap.resolve.index import Universe
from bootstrap.resolve.order import install_order
from bootstrap.resolve.result import Reporter, Resolution
from bootstrap.types import Dependency, Package, Relation, format_dependency


class _Job(NamedTuple):
    dep: Dependency
    chain: tuple[str, ...]
    owner: Package | None  # the package whose dependency this is (None: a request)


class DeadEnd(Exception):
    """A dependency no alternative can meet; `culprits` are keys of chosen packages to demote."""

    def __init__(self, error: ResolveError, culprits: frozenset[str]) -> None:
        super().__init__(error.message)
        self.error = error
        self.culprits = culprits


def _deps(pkg: Package) -> list[Dependency]:
    """Pre-Depends and Depends, once each (adapters usually repeat Pre-Depends in depends)."""
    return list(dict.fromkeys(pkg.pre_depends + pkg.depends))


class Solver:
    """The state of one pass; `run()` then `resolution()`."""

    def __init__(self, universe: Universe, requests: Sequence[Dependency], *,
                 demoted: frozenset[str], reporter: Reporter) -> None:
        self.u = universe
        self.requests = [tuple(dep) for dep in requests]
        self.requested = {dep[0].name for dep in self.requests if len(dep) == 1}
        self.demoted = demoted
        self.reporter = reporter
        self.chosen: dict[str, Package] = {}
        self.reasons: dict[str, tuple[str, ...]] = {}
        self.flexible: set[str] = set()  # chosen while other options existed
        self.provided: dict[str, list[tuple[Package, Relation]]] = {}
        self.conflicting: dict[str, list[tuple[Package, Relation]]] = {}
        self.obsoleting: dict[str, list[tuple[Package, Relation]]] = {}
        self.warnings: list[str] = []
        self.queue: deque[_Job] = deque(_Job(dep, (), None) for dep in self.requests)
        self.dropped = False

    def run(self) -> None:
        """Choose until every dependency is met and no install_if package is left to add."""
        while True:
            while self.queue:
                self._process(self.queue.popleft())
            if self.dropped:
                # Something was obsoleted away: whatever it met must be met again.
                self.dropped = False
                self.queue.extend(_Job(dep, (), None) for dep in self.requests)
                for name, pkg in list(self.chosen.items()):
                    self.queue.extend(_Job(dep, self.reasons[name], pkg) for dep in _deps(pkg))
                continue
            if not self._install_if():
                return

    # -- what is already there --------------------------------------------------------------

    def satisfier(self, alt: Relation, ref: str) -> Package | None:
        """The chosen package that meets `alt` (read against arch `ref`), if any."""
        u = self.u
        pkg = self.chosen.get(alt.name)
        if pkg is not None and u.version_ok(pkg.version, alt) and u.arch_ok(alt, pkg, ref):
            return pkg
        for prov_pkg, prov in self.provided.get(alt.name, ()):
            if u.provide_ok(prov, alt) and u.arch_ok(alt, prov_pkg, ref):
                return prov_pkg
        if alt.is_file:
            for owner in u.owners.get(alt.name, ()):
                if self.chosen.get(owner.name) is owner:
                    return owner
        return None

    def _chosen_matching(self, rel: Relation) -> list[Package]:
        """Chosen packages a conflict relation hits (by name, provides or file)."""
        u = self.u
        found = []
        pkg = self.chosen.get(rel.name)
        if pkg is not None and u.version_ok(pkg.version, rel):
            found.append(pkg)
        found += [p for p, prov in self.provided.get(rel.name, ()) if u.provide_ok(prov, rel)]
        if rel.is_file:
            found += [p for p in u.owners.get(rel.name, ()) if self.chosen.get(p.name) is p]
        return found

    def _blocker(self, cand: Package) -> Blocked | None:
        """What chosen package keeps `cand` out, if any. A package never conflicts with itself,
        which is what makes Debian's Conflicts+Provides+Replaces on a virtual name work."""
        other = self.chosen.get(cand.name)
        if other is not None:
            return Blocked(cand, "chosen", other)
        for rel in cand.conflicts:
            for other in self._chosen_matching(rel):
                if other is not cand:
                    return Blocked(cand, "conflicts", other)
        for name in (cand.name, *(prov.name for prov in cand.provides)):
            for other, rel in self.conflicting.get(name, ()):
                if other is not cand and self.u.matches(rel, cand):
                    return Blocked(cand, "conflicted", other)
        for other, rel in self.obsoleting.get(cand.name, ()):
            if other is not cand and self.u.version_ok(cand.version, rel):
                return Blocked(cand, "obsoleted", other)
        for rel in cand.obsoletes:
            other = self.chosen.get(rel.name)
            if other is not None and other.essential and self.u.version_ok(other.version, rel):
                return Blocked(cand, "essential", other)
        return None

    # -- choosing ---------------------------------------------------------------------------

    def _process(self, job: _Job) -> None:
        if job.owner is not None and self.chosen.get(job.owner.name) is not job.owner:
            return  # its package was obsoleted away meanwhile
        ref = self.u.ref_arch(job.owner)
        if any(self.satisfier(alt, ref) is not None for alt in job.dep):
            return
        # A name the user asked for wins over an earlier alternative (apt does the same).
        alts = sorted(job.dep, key=lambda a: a.name not in self.requested)
        failures: list[tuple[Relation, list[Blocked]]] = [(alt, []) for alt in alts]
        options = [[c for c in self.u.candidates(alt, ref) if not self.u.is_excluded(c)]
                   for alt in alts]
        flexible = sum(len(o) for o in options) > 1
        for demoted_pass in (False, True):
            for (alt, blocked), usable in zip(failures, options, strict=True):
                usable = [c for c in usable if (c.key in self.demoted) == demoted_pass]
                if usable:
                    self.reporter.choosing(alt.name, usable)
                for cand in usable:
                    block = self._blocker(cand)
                    if block is None:
                        self._choose(cand, job.chain + (cand.name,), flexible)
                        return
                    blocked.append(block)
        blocks = [b for _, blocked in failures for b in blocked]
        if blocks and all(b.kind == "obsoleted" for b in blocks):
            # rpm: asking for an obsoleted package gets its obsoleter, which is already there.
            if job.owner is None:
                self.warnings.append(f"{blocks[0].candidate.name} is obsoleted by "
                                     f"{blocks[0].other.name}, which is installed instead")
            return
        if not any(options) and any(self.u.candidates(alt, ref) for alt in alts):
            names = sorted({c.name for alt in alts for c in self.u.candidates(alt, ref)})
            where = " → ".join((*job.chain, format_dependency(job.dep)))
            self.warnings.append(f"{where}: only excluded packages ({', '.join(names)}) "
                                 "can satisfy it; dependency dropped")
            return
        raise self._dead_end(job, failures)

    def _dead_end(self, job: _Job, failures: list[tuple[Relation, list[Blocked]]]) -> DeadEnd:
        error = dead_end(self.u, job.chain, job.dep, failures, self.reasons)
        culprits = {b.other.key for _, blocked in failures for b in blocked}
        if not culprits:
            # Nothing chosen is in the way: the last choice that had other options led here.
            for name in reversed(job.chain):
                if name in self.flexible and name in self.chosen:
                    culprits.add(self.chosen[name].key)
                    break
        return DeadEnd(error, frozenset(culprits))

    def _choose(self, pkg: Package, chain: tuple[str, ...], flexible: bool) -> None:
        for rel in pkg.obsoletes:
            other = self.chosen.get(rel.name)
            if other is not None and other.name != pkg.name and self.u.version_ok(other.version, rel):
                self._drop(other)
        self.chosen[pkg.name] = pkg
        self.reasons[pkg.name] = chain
        if flexible:
            self.flexible.add(pkg.name)
        for prov in pkg.provides:
            self.provided.setdefault(prov.name, []).append((pkg, prov))
        for rel in pkg.conflicts:
            self.conflicting.setdefault(rel.name, []).append((pkg, rel))
        for rel in pkg.obsoletes:
            self.obsoleting.setdefault(rel.name, []).append((pkg, rel))
        self.reporter.chose(pkg, chain)
        self.queue.extend(_Job(dep, chain, pkg) for dep in _deps(pkg))

    def _drop(self, pkg: Package) -> None:
        """Take out a package an obsoleter replaces (rpm's Obsoletes)."""
        del self.chosen[pkg.name]
        del self.reasons[pkg.name]
        self.flexible.discard(pkg.name)
        for table in (self.provided, self.conflicting, self.obsoleting):
            for name in list(table):
                table[name] = [pair for pair in table[name] if pair[0] is not pkg]
        self.dropped = True

    def _install_if(self) -> bool:
        """apk's install_if: add the best package of each name whose every install_if
        relation the chosen set meets. True when something was added."""
        added = False
        native = self.u.native
        for name in self.u.install_if_names:
            if name in self.chosen or name in self.u.exclude:
                continue
            best = next(p for p in self.u.by_name[name] if p.install_if)
            triggers = [self.satisfier(rel, native) for rel in best.install_if]
            if all(t is not None for t in triggers) and self._blocker(best) is None:
                first = triggers[0]
                chain = self.reasons.get(first.name, ()) if first is not None else ()
                self._choose(best, chain + (best.name,), False)
                added = True
        return added

    # -- the answer -------------------------------------------------------------------------

    def resolution(self) -> Resolution:
        """The chosen set in install order, with reasons and warnings."""
        strong: dict[str, set[str]] = {}
        weak: dict[str, set[str]] = {}
        for name, pkg in self.chosen.items():
            ref = self.u.ref_arch(pkg)
            strong[name] = self._met_by(pkg.pre_depends, ref)
            weak[name] = self._met_by(pkg.depends, ref)
        order = install_order(strong, weak)
        return Resolution(packages=tuple(self.chosen[n] for n in order),
                          reasons={n: self.reasons[n] for n in order},
                          warnings=tuple(self.warnings))

    def _met_by(self, deps: Sequence[Dependency], ref: str) -> set[str]:
        names = set()
        for dep in deps:
            for alt in dep:
                pkg = self.satisfier(alt, ref)
                if pkg is not None:
                    names.add(pkg.name)
                    break
        return names
