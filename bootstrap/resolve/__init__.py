"""The resolver: from requests to the packages to install, knowing no distribution.

    resolve(universe, requests, scheme, *, exclude=(), strict_exclude=False, reporter=None)
        -> Resolution

Contract: pure (no disk, no network) and deterministic: the same packages and requests give the
same Resolution whatever order the universe lists them in. Versions are compared only through
`scheme.matches`/`scheme.compare`, architectures only through `scheme.arch_rank` (None: not
installable), and what differs between families comes from `scheme.policy` (ResolvePolicy).

Complete: if an installable set exists it is found, and if none does the error says why from
the search's own refutation. The search is CDCL over "package installed" literals (sat.py,
rules.py, solver.py) whose decisions follow the families' preferences, in this order:
requested names first; the newest version of each name (apt: candidate versions only,
older ones only where apt-get would give up); among providers of a name the family's order
(apt: the real package, Essential, Priority, then the name its index named last; apk: the
highest provided version, then provider_priority; libsolv: recommended and suggested ones,
not obsoleted, provider_priority, sort_by_common_dep, then name); then the fewest packages
(nothing is installed unless a rule asks for it, libsolv/apk defer a choice between names
until the others are made, libsolv takes back a choice another package made needless, apk
decides names in apk-tools' order).

Rules, as apt/debootstrap, yum/dnf and apk users expect them:
- each request and dependency is a list of alternatives; rpm rich dependencies come as
  clauses that may hold negated relations (`A if B`: A once B is installed) and narrowed ones
  (`A with B`); file dependencies (`/bin/sh`) are met by a package whose `files` hold the path;
  versioned dependencies only take `=` provides of a matching version (rpm: also provides
  without a version);
- Conflicts (+ Breaks, apk `!name`) are checked both ways; a package never conflicts with
  itself (apk: a conflict on its own name or provides breaks it); Obsoletes keep obsoleter
  and obsoleted apart, and a request for an obsoleted name installs its obsoleter when it
  obsoletes the newest build (`yum install oldtool`); one version per name, except
  Multi-Arch: same packages of one version for two architectures; apk: one package per name, unless both
  provide it without a version, and a virtual name with several providers and no
  provider_priority is an error naming them;
- install_if packages (apk) join once their triggers hold, met by the trigger name's own
  package (`!name`: once nothing provides name), falling back to an older version when the
  newest cannot be installed, skipped when none can (apk 2.12.9 fails there instead);
- `exclude`d names are never chosen; a dependency only they could meet is dropped with a
  warning (debootstrap --exclude), or with `strict_exclude` (an exact set: --variant custom)
  it is an error naming the dependent; an excluded name no package has is a warning too
  (`--exclude nosuchpkg: no such package in any repository`), a typo excludes nothing;
- errors are ResolveError naming the shortest chain of requests and dependencies that cannot
  be met (`foo → libbar (>= 2) → only 1.5 available`) with a hint.

`Resolution.packages` is in install order: Pre-Depends strictly first, then Depends, cycles
broken deterministically; `Resolution.why(name)` is the chain that brought a package in.
"""
from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace

from bootstrap.collector import paused
from bootstrap.errors import ResolveError
from bootstrap.resolve.answer import answer
from bootstrap.resolve.candidates import candidates_only
from bootstrap.resolve.explain import dead_end
from bootstrap.resolve.failure import explain
from bootstrap.resolve.index import Universe
from bootstrap.resolve.result import Reporter, Resolution
from bootstrap.resolve.solver import Search, Unguessable, Unsatisfiable, unguessable_error
from bootstrap.types import Dependency, Package, VersionScheme

__all__ = ["Reporter", "Resolution", "ResolveError", "resolve"]


def resolve(universe: Sequence[Package], requests: Sequence[Dependency], scheme: VersionScheme, *,
            exclude: Collection[str] = (), strict_exclude: bool = False,
            reporter: Reporter | None = None) -> Resolution:
    """The packages to install for `requests` out of `universe` (see the module contract).
    Raises ResolveError when no installable set meets them."""
    reporter = reporter or Reporter()
    reporter.starting()
    try:
        with paused():
            result = _resolve(universe, requests, scheme, exclude, strict_exclude, reporter)
    finally:
        reporter.ending()
    unknown = unknown_excludes(universe, exclude)
    return replace(result, warnings=(*result.warnings, *unknown)) if unknown else result


def unknown_excludes(universe: Sequence[Package], exclude: Collection[str]) -> list[str]:
    """A warning for each `exclude`d name (in the order given) that no package of `universe`
    is named: it excluded nothing. A name only provided is said so, since --exclude drops
    packages by their own name."""
    names = {p.name for p in universe} if exclude else set()
    missing = [n for n in dict.fromkeys(exclude) if n not in names]
    if not missing:
        return []
    provided: dict[str, list[str]] = {}
    for pkg in universe:
        for rel in pkg.provides:
            if rel.name in missing:
                provided.setdefault(rel.name, []).append(pkg.name)
    warnings = []
    for name in missing:
        by = sorted(set(provided.get(name, ())))
        if by:
            shown = ", ".join(by[:3]) + (", ..." if len(by) > 3 else "")
            warnings.append(f"--exclude {name}: no package is named so, it is only provided (by {shown}); "
                            "exclude those by name")
        else:
            warnings.append(f"--exclude {name}: no such package in any repository")
    return warnings


def _resolve(universe: Sequence[Package], requests: Sequence[Dependency], scheme: VersionScheme,
             exclude: Collection[str], strict_exclude: bool, reporter: Reporter) -> Resolution:
    if scheme.policy.depth_first:  # apt: its candidate versions first (candidates.py)
        newest = candidates_only(universe, requests, scheme)
        if newest is not universe:
            try:
                return _search(newest, requests, scheme, exclude, strict_exclude, reporter)
            except ResolveError:
                pass  # where apt-get gives up: older versions may still make an answer
    return _search(universe, requests, scheme, exclude, strict_exclude, reporter)


def _search(universe: Sequence[Package], requests: Sequence[Dependency], scheme: VersionScheme,
            exclude: Collection[str], strict_exclude: bool, reporter: Reporter) -> Resolution:
    # Everything made here is freed when this returns, before the collector is back on.
    index = Universe(universe, scheme, exclude)
    search = Search(index, requests, strict_exclude=strict_exclude)
    for rule in search.requests:
        if not rule.candidates:
            raise dead_end(index, (), rule.dep, [(alt, []) for alt in rule.dep], {})
    try:
        installed = search.run()
    except Unsatisfiable as exc:
        raise explain(index, exc.core, search.requests) from None
    except Unguessable as exc:
        owner = exc.rule.owner
        chain: tuple[str, ...] = ()
        if owner is not None:
            partial = [search.enc.pkg_of[lit >> 1] for lit in search.sat.trail if not lit & 1]
            chain = answer(index, search.enc, search.requests, partial, Reporter()).why(owner.name)
        raise unguessable_error(exc, chain) from None
    return answer(index, search.enc, search.requests, installed, reporter)

