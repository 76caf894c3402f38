"""apt's candidate versions: the universe apt-get's own resolver sees.

apt's MarkInstall only ever installs a package's candidate version (the newest, all pins being
equal): an alternative or provider whose candidate cannot be installed is passed over for the
next one, even when an older version of it would do, and a dependency only an older version
meets is broken. So for the apt family (`ResolvePolicy.depth_first`) the search runs first on
`candidates_only(...)`; only when that has no answer, where apt-get itself would give up, is
the whole universe searched (an older version is then better than no image).

Pure; which packages are kept does not depend on the universe's order (equal versions of one
name and arch, as two repositories carry, are all kept).
"""
from __future__ import annotations

from collections.abc import Sequence

from bootstrap.types import Dependency, Package, VersionScheme


def candidates_only(universe: Sequence[Package], requests: Sequence[Dependency],
                    scheme: VersionScheme) -> Sequence[Package]:
    """`universe` without the versions that are not their name and arch's newest; every
    version of a name a request asks a version of is kept (`apt-get install foo=1.0` makes
    1.0 the candidate). `universe` itself when nothing is dropped (the common case: one
    version of every name), so the caller can tell by identity."""
    pinned = {alt.name for dep in requests for alt in dep if alt.op is not None}
    first: dict[str, Package] = {}
    several: dict[str, list[Package]] = {}  # only the names with more than one package
    for pkg in universe:
        seen = first.setdefault(pkg.name, pkg)
        if seen is not pkg:
            several.setdefault(pkg.name, [seen]).append(pkg)
    dropped: set[int] = set()
    compare = scheme.compare
    for name, pkgs in several.items():
        if name in pinned:
            continue
        best: dict[str, str] = {}
        for pkg in pkgs:
            if pkg.arch not in best or compare(pkg.version, best[pkg.arch]) > 0:
                best[pkg.arch] = pkg.version
        dropped.update(id(p) for p in pkgs if compare(p.version, best[p.arch]) < 0)
    if not dropped:
        return universe
    return [p for p in universe if id(p) not in dropped]
