"""Seeded random small rpm universes for the libsolv reference test (tests/yum/reference.py).

`scenario(seed)` is deterministic: names a..f, each with one to three builds (epochs, releases,
x86_64 or noarch; with `multilib` also i686 and x86_64 + i686 pairs of one EVR), virtual names v and
w, versioned and unversioned provides, conflicts, obsoletes (often with the matching provide,
as package renames do), file provides (/usr/bin/v) and rich dependencies of every operator
(and, or, if, if-else, unless, unless-else, with, without), requests of one to three names.
"""
from __future__ import annotations

import random
from dataclasses import replace

from tests.yum.reference import RpmSpec

NAMES = ("a", "b", "c", "d", "e", "f")
VIRTUAL = ("v", "w")
FILE = "/usr/bin/v"
# (epoch, version, release) of builds; relation EVRs with and without epoch or release.
BUILDS = (("", "1", "1"), ("", "1", "2"), ("", "2", "1"), ("", "1.0", "1"), ("1", "0.5", "1"), ("", "3", "1"))
EVRS = ("1", "2", "1-1", "1-2", "2-1", "0.5", "1:0.5", "1:0.5-1", "3")
OPS = (None, None, None, None, None, ">=", ">=", ">", "<", "<=", "=")


def _relation(rng: random.Random, names: tuple[str, ...] = NAMES + VIRTUAL) -> str:
    op = rng.choice(OPS)
    name = rng.choice(names)
    return name if op is None else f"{name} {op} {rng.choice(EVRS)}"


def _narrow(rng: random.Random) -> str:
    """An operand of with/without: a package relation, or a `with` of two (an and/or inside
    `with` is left out: libsolv's pool_addrelproviders reads `and` there as a union, rpm's
    rpmrichParse does not take it)."""
    if rng.random() < 0.85:
        return _relation(rng)
    return f"({_relation(rng)} with {_relation(rng)})"


def _rich(rng: random.Random, depth: int = 0) -> str:
    """A rich expression `( ... )` of at most two levels."""
    def operand() -> str:
        return _rich(rng, depth + 1) if depth < 1 and rng.random() < 0.3 else _relation(rng)

    kind = rng.choice(["and", "or", "or", "if", "if-else", "unless", "unless-else", "with", "without"])
    if kind in ("with", "without"):
        return f"({_relation(rng)} {kind} {_narrow(rng)})"
    if kind.endswith("-else"):
        return f"({operand()} {kind[:-5]} {operand()} else {operand()})"
    if kind in ("if", "unless"):
        return f"({operand()} {kind} {operand()})"
    return f"({f' {kind} '.join(operand() for _ in range(rng.randint(2, 3)))})"


def _requires(rng: random.Random) -> tuple[str, ...]:
    out: list[str] = []
    for _ in range(rng.choice([0, 0, 0, 1, 1, 1, 2, 2])):
        roll = rng.random()
        out.append(FILE if roll < 0.08 else _rich(rng) if roll < 0.3 else _relation(rng))
    return tuple(dict.fromkeys(out))


def _provides(rng: random.Random, evr: str) -> tuple[str, ...]:
    out: list[str] = []
    for _ in range(rng.choice([0, 0, 0, 1, 1, 2])):
        name = rng.choice(VIRTUAL + VIRTUAL + NAMES)
        roll = rng.random()
        out.append(name if roll < 0.4 else f"{name} = {evr}" if roll < 0.7 else f"{name} = {rng.choice(EVRS)}")
    return tuple(dict.fromkeys(out))


def _build(rng: random.Random, name: str, build: tuple[str, str, str], arch: str) -> RpmSpec:
    epoch, ver, rel = build
    spec = RpmSpec(name=name, epoch=epoch, ver=ver, rel=rel, arch=arch, requires=_requires(rng))
    evr = spec.evr
    provides = list(_provides(rng, evr))
    obsoletes: list[str] = []
    if rng.random() < 0.15:
        old = rng.choice([n for n in NAMES if n != name])
        bound = rng.choice(EVRS)
        obsoletes.append(rng.choice([old, f"{old} < {bound}", f"{old} <= {bound}"]))
        if rng.random() < 0.6:
            provides.append(f"{old} = {bound}")
    conflicts: tuple[str, ...] = ()
    if rng.random() < 0.12:
        conflicts = (_relation(rng),)
    elif rng.random() < 0.05:
        conflicts = (_rich(rng),)
    files = (FILE,) if rng.random() < 0.25 else ()
    return replace(spec, provides=tuple(dict.fromkeys(provides)), obsoletes=tuple(obsoletes),
                   conflicts=conflicts, files=files)


def scenario(seed: int, multilib: bool = False) -> tuple[list[RpmSpec], list[str]]:
    """(packages, requests) of random scenario `seed`; i686 builds only with `multilib`."""
    rng = random.Random(f"ref-rpm-{seed}")
    specs: list[RpmSpec] = []
    for name in rng.sample(NAMES, rng.randint(3, len(NAMES))):
        for build in rng.sample(BUILDS, rng.choice([1, 1, 2, 2, 3])):
            arch = rng.choice(["x86_64", "x86_64", "noarch", "i686" if multilib else "x86_64"])
            spec = _build(rng, name, build, arch)
            specs.append(spec)
            if multilib and arch == "x86_64" and rng.random() < 0.2:
                specs.append(replace(spec, arch="i686"))
    present = sorted({s.name for s in specs})
    pool = present + (list(VIRTUAL) if rng.random() < 0.3 else [])
    requests = rng.sample(pool, rng.randint(1, min(3, len(pool))))
    return specs, requests
