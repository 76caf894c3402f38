"""libsolv's sort_by_common_dep (policy.c), for the by-name provider order: among candidates
that provide the same names with `=` versions, those providing lower versions are worse.

Every `name = EVR` provide of the candidates (a package's own `name = version` included, as
rpm headers list it) is an entry; per name the entries are sorted highest first, comparing as
libsolv's EVRCMP_MATCH_RELEASE does (a side without release equals every release of its
version); walking them, each strict drop below the entry before (of another candidate) adds
one to the badness of the name, and every entry adds the name's badness so far to its
package. An EVR of four or more hex digits alone is taken for a hash and ignored. Pure.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence

from bootstrap.types import Package, VersionScheme

_HASH = re.compile(r"[0-9a-f]{4,}")


def badness(pkgs: Sequence[Package], scheme: VersionScheme) -> list[int]:
    """The badness of each of `pkgs` (same order); all 0 when no entry is shared."""
    entries: list[tuple[str, str, int]] = []
    for i, pkg in enumerate(pkgs):
        own = False
        for prov in pkg.provides:
            if prov.op == "=" and prov.version and not _HASH.fullmatch(prov.version):
                entries.append((prov.name, prov.version, i))
                own = own or prov.name == pkg.name
        if not own:
            entries.append((pkg.name, pkg.version, i))
    bad = [0] * len(pkgs)
    compare = _match_release(scheme)
    by_name: dict[str, list[tuple[str, int]]] = {}  # name → (version, candidate)
    for name, version, i in entries:
        by_name.setdefault(name, []).append((version, i))
    for found in by_name.values():
        if len({i for _, i in found}) < 2:
            continue
        found.sort(key=functools.cmp_to_key(_highest_first(compare)))
        drops = 0
        for n, (version, i) in enumerate(found):
            if n and found[n - 1][1] != i and compare(found[n - 1][0], version) > 0:
                drops += 1
            bad[i] += drops
    return bad


def _highest_first(compare: Callable[[str, str], int]) -> Callable[[tuple[str, int], tuple[str, int]], int]:
    return lambda a, b: compare(b[0], a[0])


def _match_release(scheme: VersionScheme) -> Callable[[str, str], int]:
    def compare(a: str, b: str) -> int:
        c = scheme.compare(a, b)
        if c and (scheme.matches(a, "=", b) or scheme.matches(b, "=", a)):
            return 0
        return c
    return compare
