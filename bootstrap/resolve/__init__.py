"""The resolver: from requests to the packages to install, knowing no distribution.

    resolve(universe, requests, scheme, *, exclude=(), reporter=None) -> Resolution

Contract: pure (no disk, no network) and deterministic: the same packages and requests give the
same Resolution whatever order the universe lists them in. Versions are compared only through
`scheme.matches`/`scheme.compare`, architectures only through `scheme.arch_rank` (None: not
installable). Behaviour, as apt/debootstrap, yum and apk users expect it:

- each request and dependency is a list of alternatives; one already chosen or requested meets
  it, else the first alternative with an installable candidate that conflicts with nothing
  chosen. A name's candidate is its newest version (then best arch, then provider_priority);
  virtual names go to the provider already chosen, else the highest provider_priority, else the
  first name; versioned dependencies only take `=` provides of a matching version;
- file dependencies (`/bin/sh`) are met by a package whose `files` hold the path;
- conflicts (Conflicts + Breaks) are checked both ways; an obsoleted chosen package is dropped
  for its obsoleter unless it is essential; install_if packages join once their triggers are in;
- `exclude`d names are never chosen; a dependency only they could meet is dropped with a
  warning (debootstrap --exclude);
- when a dependency cannot be met, the chosen packages in its way are demoted and the walk
  starts again, a few times at most; then ResolveError names the chain
  (`foo → libbar (>= 2) → only 1.5 available`) with a hint (close names for unknown ones).

`Resolution.packages` is in install order: Pre-Depends strictly first, then Depends, cycles
broken deterministically.
"""
from __future__ import annotations

from collections.abc import Collection, Sequence

from bootstrap.errors import ResolveError
from bootstrap.resolve.index import Universe
from bootstrap.resolve.result import Reporter, Resolution
from bootstrap.resolve.solver import DeadEnd, Solver
from bootstrap.types import Dependency, Package, VersionScheme

__all__ = ["Reporter", "Resolution", "ResolveError", "resolve"]

# Each restart demotes at least one more package; real dead ends show up within a few.
MAX_RESTARTS = 8


def resolve(universe: Sequence[Package], requests: Sequence[Dependency], scheme: VersionScheme, *,
            exclude: Collection[str] = (), reporter: Reporter | None = None) -> Resolution:
    """The packages to install for `requests` out of `universe` (see the module contract).
    Raises ResolveError when they cannot be met: the first dead end met is the one reported,
    as it is the one the user's request ran into."""
    reporter = reporter or Reporter()
    index = Universe(universe, scheme, exclude)
    reporter.starting()
    demoted: frozenset[str] = frozenset()
    first: ResolveError | None = None
    for _ in range(MAX_RESTARTS + 1):
        solver = Solver(index, requests, demoted=demoted, reporter=reporter)
        try:
            solver.run()
        except DeadEnd as end:
            first = first or end.error
            if end.culprits <= demoted:
                break
            demoted |= end.culprits
            continue
        result = solver.resolution()
        reporter.ending()
        return result
    reporter.ending()
    assert first is not None
    raise first
