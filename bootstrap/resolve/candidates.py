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
                    scheme: VersionScheme) -> list[Package]:
    """`universe` without the versions that are not their name and arch's newest; every
    version of a name a request asks a version of is kept (`apt-get install foo=1.0` makes
    1.0 the candidate)."""
    pinned = {alt.name for dep in requests for alt in dep if alt.op is not None}
    best: dict[tuple[str, str], str] = {}
    compare = scheme.compare
    for pkg in universe:
        key = (pkg.name, pkg.arch)
        seen = best.get(key)
        if seen is None or (seen != pkg.version and compare(pkg.version, seen) > 0):
            best[key] = pkg.version
    return [p for p in universe
            if p.name in pinned or best[(p.name, p.arch)] == p.version
            or compare(p.version, best[(p.name, p.arch)]) == 0]
