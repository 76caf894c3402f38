"""Why a dependency cannot be met, in the words a user of apt, yum or apk expects.

Messages name the chain from the request: `gcc-c++ → libstdc++-devel (= 3.4.5) → not found in
any enabled repository`, `foo → libbar (>= 2) → only 1.5 available`; conflicts name both
packages and why the other one is there.
"""
from __future__ import annotations

import difflib
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bootstrap.errors import ResolveError
from bootstrap.resolve.index import Universe
from bootstrap.types import Dependency, Package, Relation, format_dependency

NOT_FOUND = "not found in any enabled repository"
# A message is one line a user reads: a dependency with 10,000 alternatives (an index can say
# so) must not print 10,000 of them. At most SHOWN alternatives are named, then "… and N more";
# the whole message is cut at MAX_MESSAGE characters.
SHOWN = 5
MAX_MESSAGE = 1000


@dataclass(frozen=True)
class Blocked:
    """A candidate that cannot be installed: `kind` says how `other` (chosen) stands in the
    way, or ("needs") which of its own dependencies fails (`detail`)."""

    candidate: Package
    kind: str  # "chosen" | "conflicts" | "conflicted" | "obsoletes" | "obsoleted" | "name" | "needs"
    other: Package | None = None
    detail: str = ""


def label(pkg: Package) -> str:
    return f"{pkg.name} {pkg.version}"


def _blocked_text(block: Blocked, reasons: Mapping[str, tuple[str, ...]]) -> str:
    cand = label(block.candidate)
    if block.other is None:
        return f"{cand} → {block.detail}"
    other = label(block.other)
    chain = reasons.get(block.other.name, ())
    tail = ("" if not chain else " (requested)" if len(chain) == 1
            else f" (chosen for {' → '.join(chain[:-1])})")
    text = {
        "chosen": f"{cand} is wanted but {other} is already chosen",
        "conflicts": f"{cand} conflicts with {other}",
        "conflicted": f"{other} conflicts with {cand}",
        "obsoletes": f"{cand} obsoletes {other}",
        "obsoleted": f"{cand} is obsoleted by {other}",
        "name": f"{cand} and {other} both provide {block.detail}",
    }[block.kind]
    return text + tail


def _versions(universe: Universe, pkgs: Sequence[Package]) -> str:
    order = functools.cmp_to_key(universe.scheme.compare)
    versions = sorted({p.version for p in pkgs}, key=order, reverse=True)
    shown = ", ".join(versions[:5]) + (", ..." if len(versions) > 5 else "")
    return shown


def _missing_text(universe: Universe, alt: Relation) -> str:
    """Why no installable package meets `alt` at all."""
    real = universe.by_name.get(alt.name, [])
    if real:
        fitting = [p for p in real if universe.version_ok(p.version, alt)]
        if not fitting:
            return f"only {_versions(universe, real)} available"
        arches = sorted({p.arch for p in fitting})
        return f"no package of a matching architecture (found {', '.join(arches)})"
    provided = universe.providers.get(alt.name, [])
    if provided:
        names = sorted({p.name for p, _ in provided})
        return f"only provided by {', '.join(names[:5])} in no matching version"
    if alt.name in universe.foreign_only:
        arches = sorted({p.arch for p in universe.foreign_only[alt.name]})
        return f"only for {', '.join(arches)} (not installable on this architecture)"
    if alt.is_file:
        return "no package in any enabled repository contains this file"
    return NOT_FOUND


def alternative_text(universe: Universe, alt: Relation, blocked: Sequence[Blocked],
                     reasons: Mapping[str, tuple[str, ...]]) -> str:
    """One alternative's failure: what blocked its candidates, or why there were none."""
    if blocked:
        seen: dict[str, None] = {}
        for block in blocked:
            seen[_blocked_text(block, reasons)] = None
            if len(seen) == 3:  # no more are shown
                break
        return "; ".join(seen)
    found = universe.candidates(alt, universe.native)
    if found and all(universe.is_excluded(p) for p in found):
        names = sorted({p.name for p in found})
        return f"only excluded packages ({', '.join(names[:SHOWN])}) can satisfy it"
    return _missing_text(universe, alt)


def dead_end(universe: Universe, chain: tuple[str, ...], dep: Dependency,
             failures: Sequence[tuple[Relation, Sequence[Blocked]]],
             reasons: Mapping[str, tuple[str, ...]]) -> ResolveError:
    """The error for `dep` (reached through `chain`) when no alternative could be chosen."""
    if len(failures) == 1:
        alt, blocked = failures[0]
        reason = alternative_text(universe, alt, blocked, reasons)
    else:
        reason = "; ".join(f"{alt.name}: {alternative_text(universe, alt, blocked, reasons)}"
                           for alt, blocked in failures[:SHOWN]) + _more(len(failures))
    shown = format_dependency(dep[:SHOWN]) + (_more(len(dep)) if len(dep) > SHOWN else "")
    message = " → ".join((*chain, shown, reason))
    return ResolveError(bounded(message), hint=bounded(_hint(universe, failures)))


def _more(count: int) -> str:
    return f" … and {count - SHOWN} more" if count > SHOWN else ""


def bounded(text: str, limit: int = MAX_MESSAGE) -> str:
    """`text` on one line, cut to `limit` characters (with "…" where it was cut)."""
    text = " ".join(text.splitlines())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _hint(universe: Universe, failures: Sequence[tuple[Relation, Sequence[Blocked]]]) -> str:
    if any(b.other is not None for _, blocked in failures for b in blocked):
        return ("these packages cannot be installed together: leave one of them out of the "
                "package list, or --exclude the one a dependency brings in")
    if failures and all(not blocked and alternative_text(universe, alt, (), {}).startswith("only excluded")
                        for alt, blocked in failures):
        return ("an exact package set (--variant custom) keeps excluded packages out: drop "
                "that --exclude, or --include another package that meets the dependency")
    missing = [alt.name for alt, _ in failures
               if not alt.is_file and _missing_text(universe, alt) == NOT_FOUND]
    if missing:
        close = suggest(universe, missing[0])
        if close:
            return f"did you mean: {', '.join(close)}?"
        return "check the package name, and that the repository holding it is enabled"
    return "an older or newer release of the distribution, or another repository, may have it"


def suggest(universe: Universe, name: str) -> list[str]:
    """Names close to `name` among every package and provided name (difflib)."""
    return difflib.get_close_matches(name, universe.all_names(), n=3, cutoff=0.6)
