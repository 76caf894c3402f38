"""The universe, indexed once: packages by name, by provided name, by file path, and by the names
other packages conflict with or obsolete.

Contract: pure (no disk, no network). Every list it hands out is in a deterministic order that
does not depend on the order of the input sequence, so the resolver gives the same answer however
the adapters happened to concatenate their repositories. Lists are sorted when first asked for:
a 64,000-package index is read in one pass, and a resolution looks at a few hundred names.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Sequence
from typing import Any

from bootstrap.resolve import prefer
from bootstrap.types import Package, Relation, VersionScheme

Pairs = list[tuple[Package, Relation]]


class Universe:
    """Indexes over the installable packages, plus what error messages need about the rest.

    `versions(name)` lists installable packages of that name, newest first (then best arch
    rank, then higher provider_priority). `providers[name]` holds (package, provide relation)
    pairs, `owners[path]` the packages whose `files` contain `path`, `conflicts_on[name]` and
    `obsoletes_on[name]` the (package, relation) pairs that name it. Excluded names stay in the
    indexes (see `is_excluded`) so the resolver can tell "only an excluded package fits".
    """

    def __init__(self, packages: Sequence[Package], scheme: VersionScheme,
                 exclude: Collection[str] = ()) -> None:
        self.scheme = scheme
        self.policy = scheme.policy
        self.exclude = frozenset(exclude)
        self.ranks: dict[str, int] = {}
        self.foreign_only: dict[str, list[Package]] = {}
        self.by_name: dict[str, list[Package]] = {}
        self.providers: dict[str, Pairs] = {}
        self.owners: dict[str, list[Package]] = {}
        self.conflicts_on: dict[str, Pairs] = {}
        self.obsoletes_on: dict[str, Pairs] = {}
        self._sorted: set[str] = set()
        self._candidates: dict[tuple[Relation, str], list[Package]] = {}
        self._by_id: dict[tuple[int, str], tuple[Relation, list[Package]]] = {}
        self._matching: dict[Relation, list[Package]] = {}
        self._matched: dict[tuple[str, str, str], bool] = {}
        self._triggers: tuple[dict[str, list[tuple[str, frozenset[str]]]], list[str]] | None = None
        self._sorted_pairs: set[tuple[int, str]] = set()
        self._doomed: dict[int, bool] = {}
        self.install_if_names = self._index(packages)
        # Debian's Multi-Arch rules only mean something in a universe that speaks them; rpm and
        # apk have several installable arches (i386..i686) that are all "the same machine".
        self.multiarch = any(p.multi_arch for p in packages)
        arches = [a for a in self.ranks if a not in self.scheme.arch_independent]
        self.native = min(arches, key=lambda a: (-self.ranks[a], a)) if arches else ""

    def _index(self, packages: Sequence[Package]) -> list[str]:
        """One pass over the packages; returns the names that have install_if packages."""
        unknown: dict[str, int | None] = {}
        install_if: set[str] = set()
        by_name, ranks = self.by_name, self.ranks
        # The hot loop of a resolve on a full index: the empty fields (most of them) are
        # skipped before any method is looked up.
        for pkg in packages:
            if pkg.arch not in ranks:
                if pkg.arch not in unknown:
                    unknown[pkg.arch] = self.scheme.arch_rank(pkg.arch)
                rank = unknown[pkg.arch]
                if rank is None:
                    self.foreign_only.setdefault(pkg.name, []).append(pkg)
                    continue
                ranks[pkg.arch] = rank
            same = by_name.get(pkg.name)
            if same is None:
                by_name[pkg.name] = [pkg]
            else:
                same.append(pkg)
            if pkg.provides:
                _pairs(self.providers, pkg, pkg.provides)
            if pkg.files:
                for path in pkg.files:
                    self.owners.setdefault(path, []).append(pkg)
            if pkg.conflicts:
                _pairs(self.conflicts_on, pkg, pkg.conflicts)
            if pkg.obsoletes:
                _pairs(self.obsoletes_on, pkg, pkg.obsoletes)
            if pkg.install_if:
                install_if.add(pkg.name)
        return sorted(install_if)

    def prefer(self, a: Package, b: Package) -> int:
        """Newest version first, then best arch rank, then higher provider_priority; the rest
        (name, repo, location) only makes the order total, hence independent of input order."""
        if a.name == b.name:
            c = self.scheme.compare(b.version, a.version)
            if c:
                return c
        else:
            return -1 if a.name < b.name else 1
        x = (-self.ranks[a.arch], -a.provider_priority, a.repo, a.location, a.key)
        y = (-self.ranks[b.arch], -b.provider_priority, b.repo, b.location, b.key)
        return -1 if x < y else 1 if x > y else 0

    def versions(self, name: str) -> list[Package]:
        """The installable packages named `name`, best first (see `prefer`)."""
        pkgs = self.by_name.get(name)
        if pkgs is None:
            return []
        if name not in self._sorted:
            self._sorted.add(name)
            if len(pkgs) > 1:
                pkgs.sort(key=self.order)
        return pkgs

    def doomed(self, pkg: Package) -> bool:
        """Whether a requirement of `pkg` has no candidate at all (no alternative negated): it
        can never be installed, as libsolv's rules say before any choice is made. Cached."""
        found = self._doomed.get(id(pkg))
        if found is None:
            ref = self.ref_arch(pkg)
            found = any(all(not alt.negated and not self.candidates(alt, ref) for alt in dep)
                        for dep in pkg.depends)
            self._doomed[id(pkg)] = found
        return found

    def is_candidate(self, pkg: Package) -> bool:
        """Whether `pkg` is the best version of its name for its architecture (apt's
        candidate version)."""
        return next(p for p in self.versions(pkg.name) if p.arch == pkg.arch) is pkg

    @property
    def order(self) -> Callable[[Package], Any]:
        """A sort key for `prefer` (made on demand: stored, it would tie the universe in a
        reference cycle that only the cycle collector frees)."""
        return functools.cmp_to_key(self.prefer)

    # -- matching ---------------------------------------------------------------------------

    def version_ok(self, version: str, rel: Relation) -> bool:
        """Whether a package's own version meets `rel`'s constraint."""
        if rel.op is None:
            return True
        # Memoised: a universe asks the same few thousand questions over and over, and a
        # family's comparison (dpkg's, rpm's) is costly in pure Python.
        key = (version, rel.op, rel.version or "")
        found = self._matched.get(key)
        if found is None:
            found = self._matched[key] = self.scheme.matches(*key)
        return found

    def provide_ok(self, prov: Relation, rel: Relation) -> bool:
        """A provide meets `rel` when unversioned asks meet anything, versioned asks only an
        `=` provide whose version matches (Debian policy 7.5; rpm and apk provide with `=`),
        or, in rpm, a provide without a version (`unversioned_provides_all`)."""
        if prov.name != rel.name:
            return False
        if rel.op is None:
            return True
        if prov.op is None:
            return self.policy.unversioned_provides_all
        return prov.op == "=" and prov.version is not None and self.version_ok(prov.version, rel)

    def matches(self, rel: Relation, pkg: Package) -> bool:
        """Whether `pkg` itself, one of its provides or one of its files meets `rel` (arch
        qualifiers and `negated` aside; `narrow` included)."""
        if not self._meets(rel, pkg):
            return False
        return all(self._meets(sub, pkg) != sub.negated for sub in rel.narrow)

    def _meets(self, rel: Relation, pkg: Package) -> bool:
        if rel.name == pkg.name and self.version_ok(pkg.version, rel):
            return True
        if rel.is_file and rel.name in pkg.files:
            return True
        return any(self.provide_ok(prov, rel) for prov in pkg.provides)

    def arch_ok(self, rel: Relation, pkg: Package, ref_arch: str) -> bool:
        """Debian's arch qualifiers. `ref_arch` is the depending package's arch (native for a
        request or an arch-independent dependent): without qualifier, a package of another
        arch only serves when Multi-Arch: foreign; `:any` also takes Multi-Arch: allowed."""
        qual = rel.arch
        if pkg.arch in self.scheme.arch_independent:
            return qual in (None, "any", "native") or qual == self.native
        if qual is None:
            return not self.multiarch or pkg.arch == ref_arch or pkg.multi_arch == "foreign"
        if qual == "any":
            return pkg.arch == ref_arch or pkg.multi_arch in ("allowed", "foreign")
        if qual == "native":
            return pkg.arch == self.native
        return pkg.arch == qual

    def named_arch(self, rel: Relation, pkg: Package) -> bool:
        """How Conflicts and Breaks read an arch qualifier: none (or `:any`) names every
        architecture, `libc6-i386:x32` only that one (dpkg)."""
        qual = rel.arch
        if qual is None or qual == "any":
            return True
        return pkg.arch == (self.native if qual == "native" else qual)

    def ref_arch(self, dependent: Package | None) -> str:
        """The arch an unqualified dependency of `dependent` is read against."""
        if dependent is None or dependent.arch in self.scheme.arch_independent:
            return self.native
        return dependent.arch

    def coinstallable(self, a: Package, b: Package) -> bool:
        """Two packages of one name: only Multi-Arch: same instances of one version for two
        architectures (dpkg's rule); with `scheme.arch_color` (rpm) builds for different word
        sizes; everything else is one version per name."""
        color = self.scheme.arch_color
        if color is not None:  # rpm: builds for another word size coexist (pool_colormatch)
            ca, cb = color(a.arch), color(b.arch)
            return bool(ca and cb and ca != cb)
        return (a.multi_arch == b.multi_arch == "same" and a.arch != b.arch
                and a.version == b.version)

    # -- candidates -------------------------------------------------------------------------

    def candidates(self, rel: Relation, ref_arch: str) -> list[Package]:
        """Every installable package that meets `rel` read against `ref_arch` (excluded ones
        included), in the family's order of preference (prefer.order). Cached."""
        # By identity first: a dependency is asked about again and again, and hashing a
        # Relation (a dataclass) each time cost more than the lookup it serves.
        hit = self._by_id.get((id(rel), ref_arch))
        if hit is not None and hit[0] is rel:
            return hit[1]
        key = (rel, ref_arch)
        found = self._candidates.get(key)
        if found is None:
            found = self._candidates[key] = self._compute(rel, ref_arch)
        self._by_id[(id(rel), ref_arch)] = (rel, found)
        return found

    def _compute(self, rel: Relation, ref_arch: str) -> list[Package]:
        real = [p for p in self.versions(rel.name)
                if self.version_ok(p.version, rel) and self.arch_ok(rel, p, ref_arch)]
        others: dict[int, Package] = {}
        own: set[int] = set()  # a package providing its own name meets what its version does not
        for pkg, prov in self.providers.get(rel.name, ()):
            if self.provide_ok(prov, rel) and self.arch_ok(rel, pkg, ref_arch):
                if pkg.name != rel.name:
                    others.setdefault(id(pkg), pkg)
                else:
                    own.add(id(pkg))
        if own:
            met = own | {id(p) for p in real}
            real = [p for p in self.versions(rel.name) if id(p) in met]
        if rel.is_file:
            for pkg in self.owners.get(rel.name, ()):
                if pkg.name != rel.name:
                    others.setdefault(id(pkg), pkg)
        if rel.narrow:
            real = [p for p in real if self.matches(rel, p)]
            others = {k: p for k, p in others.items() if self.matches(rel, p)}
        return prefer.order(self, rel, real, list(others.values()))

    def matching(self, rel: Relation) -> list[Package]:
        """Every installable package `rel` names (how Conflicts, Obsoletes and install_if
        triggers read it): by name, provides, files, of any arch unless it names one
        (`named_arch`); negation ignored. Cached."""
        rel = rel.positive
        found = self._matching.get(rel)
        if found is None:
            seen: dict[int, Package] = {id(p): p for p in self.versions(rel.name)
                                        if self.version_ok(p.version, rel)}
            for pkg, prov in self.providers.get(rel.name, ()):
                if self.provide_ok(prov, rel):
                    seen.setdefault(id(pkg), pkg)
            if rel.is_file:
                for pkg in self.owners.get(rel.name, ()):
                    seen.setdefault(id(pkg), pkg)
            found = sorted((p for p in seen.values() if self.matches(rel, p) and self.named_arch(rel, p)),
                           key=self.order)
            self._matching[rel] = found
        return found

    def naming(self, table: dict[str, Pairs], name: str) -> Pairs:
        """`conflicts_on[name]` or `obsoletes_on[name]` in the universe's order, not the input's
        (the order clauses are made in steers the search). Sorted once, in place."""
        pairs = table.get(name)
        if not pairs:
            return []
        if len(pairs) > 1 and (id(table), name) not in self._sorted_pairs:
            self._sorted_pairs.add((id(table), name))
            key = self.order
            pairs.sort(key=lambda pair: key(pair[0]))
        return pairs

    def trigger_index(self) -> tuple[dict[str, list[tuple[str, frozenset[str]]]], list[str]]:
        """(trigger name → (install_if name, every name one of its versions' positive triggers
        are on), the install_if names with negated triggers only). Made on first use."""
        if self._triggers is None:
            on: dict[str, list[tuple[str, frozenset[str]]]] = {}
            always: list[str] = []
            for name in self.install_if_names:
                for pkg in self.versions(name):
                    if not pkg.install_if:
                        continue
                    needed = frozenset(r.name for r in pkg.install_if if not r.negated)
                    for trigger in sorted(needed):
                        on.setdefault(trigger, []).append((name, needed))
                    if not needed and name not in always:
                        always.append(name)
            self._triggers = (on, always)
        return self._triggers

    def obsoleters(self, pkg: Package) -> list[Package]:
        """The packages of another name whose Obsoletes name `pkg` (rpm matches obsoletes
        against package names and versions only, as libsolv's default). None for an
        essential package: it is never replaced (it conflicts with them all the same)."""
        if pkg.essential:
            return []
        return sorted((other for other, rel in self.obsoletes_on.get(pkg.name, ())
                       if other.name != pkg.name and other.arch in self.ranks
                       and self.version_ok(pkg.version, rel)), key=self.order)

    # -- what messages need -----------------------------------------------------------------

    def all_names(self) -> list[str]:
        """Every package name and provided name, installable or not (for "did you mean")."""
        names = set(self.by_name) | set(self.providers) | set(self.foreign_only)
        return sorted(n for n in names if not n.startswith("/"))

    def is_excluded(self, pkg: Package) -> bool:
        return pkg.name in self.exclude


def _pairs(table: dict[str, Pairs], pkg: Package, rels: Sequence[Relation]) -> None:
    for rel in rels:
        found = table.get(rel.name)
        if found is None:
            table[rel.name] = [(pkg, rel)]
        else:
            found.append((pkg, rel))
