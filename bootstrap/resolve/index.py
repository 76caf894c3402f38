"""The universe, indexed once: packages by name, by provided name and by file path.

Contract: pure (no disk, no network). Every list it hands out is in a deterministic preference
order that does not depend on the order of the input sequence, so the resolver that walks these
lists gives the same answer however the adapters happened to concatenate their repositories.
"""
from __future__ import annotations

import functools
from collections.abc import Collection, Iterable, Sequence

from bootstrap.types import Package, Relation, VersionScheme

# Architecture words that mean "any machine": Debian's `all`, rpm's and apk's `noarch`. Such a
# package counts as native for Debian's arch qualifiers, as dpkg treats Architecture: all.


class Universe:
    """Indexes over the installable packages, plus what error messages need about the rest.

    `by_name[name]` lists installable packages of that name, newest first (then best arch rank,
    then higher provider_priority). `providers[name]` lists (package, provide relation) pairs;
    `owners[path]` the packages whose `files` contain `path`. Excluded names stay in the
    indexes (flagged by `excluded`) so the resolver can tell "only an excluded package fits".
    """

    def __init__(self, packages: Sequence[Package], scheme: VersionScheme,
                 exclude: Collection[str] = ()) -> None:
        self.scheme = scheme
        self.exclude = frozenset(exclude)
        self.ranks: dict[str, int] = {}
        self.foreign_only: dict[str, list[Package]] = {}
        self.by_name: dict[str, list[Package]] = {}
        self.providers: dict[str, list[tuple[Package, Relation]]] = {}
        self.owners: dict[str, list[Package]] = {}
        self.install_if_names: list[str] = []
        self._candidates: dict[tuple[Relation, str], list[Package]] = {}
        self._matched: dict[tuple[str, str, str], bool] = {}
        self._index(packages)
        # Debian's Multi-Arch rules only mean something in a universe that speaks them; rpm and
        # apk have several installable arches (i386..i686) that are all "the same machine".
        self.multiarch = any(p.multi_arch for p in packages)
        arches = [a for a in self.ranks if a not in self.scheme.arch_independent]
        self.native = min(arches, key=lambda a: (-self.ranks[a], a)) if arches else ""

    def _index(self, packages: Sequence[Package]) -> None:
        unknown: dict[str, int | None] = {}
        for pkg in packages:
            rank = self.ranks.get(pkg.arch)
            if rank is None:
                if pkg.arch not in unknown:
                    unknown[pkg.arch] = self.scheme.arch_rank(pkg.arch)
                rank = unknown[pkg.arch]
                if rank is None:
                    self.foreign_only.setdefault(pkg.name, []).append(pkg)
                    continue
                self.ranks[pkg.arch] = rank
            self.by_name.setdefault(pkg.name, []).append(pkg)
            for prov in pkg.provides:
                self.providers.setdefault(prov.name, []).append((pkg, prov))
            for path in pkg.files:
                self.owners.setdefault(path, []).append(pkg)
        order = functools.cmp_to_key(self._prefer)
        for name, pkgs in self.by_name.items():
            if len(pkgs) > 1:
                pkgs.sort(key=order)
            if any(p.install_if for p in pkgs):
                self.install_if_names.append(name)
        self.install_if_names.sort()
        for pairs in self.providers.values():
            if len(pairs) > 1:
                pairs.sort(key=lambda pair: order(pair[0]))
        for owners in self.owners.values():
            if len(owners) > 1:
                owners.sort(key=order)

    def _prefer(self, a: Package, b: Package) -> int:
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
        `=` provide whose version matches (Debian policy 7.5; rpm and apk provide with `=`)."""
        if prov.name != rel.name:
            return False
        if rel.op is None:
            return True
        return prov.op == "=" and prov.version is not None and self.version_ok(prov.version, rel)

    def matches(self, rel: Relation, pkg: Package) -> bool:
        """Whether `pkg` itself, one of its provides or one of its files meets `rel` (arch
        qualifiers aside): how conflicts, install_if and already-chosen checks test a package."""
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

    def ref_arch(self, dependent: Package | None) -> str:
        """The arch an unqualified dependency of `dependent` is read against."""
        if dependent is None or dependent.arch in self.scheme.arch_independent:
            return self.native
        return dependent.arch

    # -- candidates -------------------------------------------------------------------------

    def candidates(self, rel: Relation, ref_arch: str) -> list[Package]:
        """Every installable package that meets `rel` (excluded ones included), best first:
        real packages of the name, then providers and file owners ordered by higher
        provider_priority, then name, then the `_prefer` order. Cached per (relation, arch)."""
        key = (rel, ref_arch)
        found = self._candidates.get(key)
        if found is None:
            found = self._compute(rel, ref_arch)
            self._candidates[key] = found
        return found

    def _compute(self, rel: Relation, ref_arch: str) -> list[Package]:
        real = [p for p in self.by_name.get(rel.name, ())
                if self.version_ok(p.version, rel) and self.arch_ok(rel, p, ref_arch)]
        others: dict[int, Package] = {}
        for pkg, prov in self.providers.get(rel.name, ()):
            if pkg.name != rel.name and self.provide_ok(prov, rel) and self.arch_ok(rel, pkg, ref_arch):
                others.setdefault(id(pkg), pkg)
        if rel.is_file:
            for pkg in self.owners.get(rel.name, ()):
                others.setdefault(id(pkg), pkg)
        return real + self._by_provider_priority(others.values())

    def _by_provider_priority(self, pkgs: Iterable[Package]) -> list[Package]:
        order = functools.cmp_to_key(self._prefer)
        by_name: dict[str, list[Package]] = {}
        for pkg in sorted(pkgs, key=order):
            by_name.setdefault(pkg.name, []).append(pkg)
        names = sorted(by_name, key=lambda n: (-max(p.provider_priority for p in by_name[n]), n))
        return [p for n in names for p in by_name[n]]

    # -- what messages need -----------------------------------------------------------------

    def all_names(self) -> list[str]:
        """Every package name and provided name, installable or not (for "did you mean")."""
        names = set(self.by_name) | set(self.providers) | set(self.foreign_only)
        return sorted(n for n in names if not n.startswith("/"))

    def is_excluded(self, pkg: Package) -> bool:
        return pkg.name in self.exclude
