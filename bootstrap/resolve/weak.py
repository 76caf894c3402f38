"""libsolv's use of weak dependencies when it chooses (policy.c), for `ResolvePolicy.weak_hints`.

Weak dependencies are never installed for their own sake (the tool installs no Recommends),
but libsolv still reads them to choose among a dependency's candidates (policy_filter_unwanted,
POLICY_MODE_CHOOSE):
- prune_to_recommended: if some candidates are recommended by an installed package, or
  supplement installed packages (every clause of their Supplements met), only those remain;
- prefer_suggested: candidates suggested by an installed package, or enhancing one, go first.
glibc `Suggests: glibc-minimal-langpack` is why dnf meets `Requires: glibc-langpack` with the
minimal langpack, not glibc-all-langpacks (which sorts first by name).

`WeakHints.rank(pkg)` is (not recommended-or-supplementing, not suggested-or-enhancing): lower
is better, a key to put before the family's own order. It follows the search's trail; after a
backjump the search calls `reset` and the trail is read again.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from bootstrap.resolve.index import Universe
from bootstrap.types import Dependency, Package


class WeakHints:
    """What the installed packages recommend and suggest (see the module docstring)."""

    def __init__(self, universe: Universe) -> None:
        self.u = universe
        self.read = 0
        self.recommended: set[int] = set()
        self.suggested: set[int] = set()
        self.installed: set[int] = set()

    def reset(self) -> None:
        """Forget what was read (the search backjumped)."""
        self.read = 0
        self.recommended.clear()
        self.suggested.clear()
        self.installed.clear()

    def update(self, trail: Sequence[int], pkg_of: Mapping[int, Package]) -> None:
        """Catch up with the search's trail (literals; even ones install `pkg_of[lit >> 1]`),
        unchanged since the last call but for what was added at its end, or `reset` since."""
        for lit in trail[self.read:]:
            if not lit & 1:
                pkg = pkg_of[lit >> 1]
                self.installed.add(id(pkg))
                self._mark(pkg.recommends, self.recommended)
                self._mark(pkg.suggests, self.suggested)
        self.read = len(trail)

    def _mark(self, deps: Sequence[Dependency], into: set[int]) -> None:
        for dep in deps:
            for alt in dep:
                if not alt.negated:
                    into.update(id(p) for p in self.u.matching(alt))

    def _met(self, dep: Dependency) -> bool:
        return any((not alt.negated) == any(id(p) in self.installed for p in self.u.matching(alt))
                   for alt in dep)

    def rank(self, pkg: Package) -> tuple[int, int]:
        """(0 if recommended or supplementing, else 1; 0 if suggested or enhancing, else 1)."""
        rec = id(pkg) in self.recommended or (bool(pkg.supplements) and all(map(self._met, pkg.supplements)))
        sug = id(pkg) in self.suggested or any(self._met((alt,)) for dep in pkg.enhances for alt in dep
                                               if not alt.negated)
        return (0 if rec else 1, 0 if sug else 1)
