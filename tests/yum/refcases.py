"""tests/resolve_cases/*.case (Scheme: rpm) as reference scenarios (tests/yum/reference.py).

`case_scenario(path)` reads a case's stanzas (the README's format, through the core loader's
`stanzas`) into RpmSpecs, the `dnf install` requests and the system architecture: Debian
spellings become rpm's (`a (>= 1)` → `a >= 1`, `<<` → `<`, `amd64` → `x86_64`, `all` →
`noarch`), and `a | b` alternatives (which plain rpm has not) the rich `(a or b)`.
`expected(path)` is what the case expects, `matches(nevras, expect)` checks a set of installed
`name-evr.arch` against it (each Expect word `name[=version][@arch]` takes one package).
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bootstrap.adapters.yum.version import split_evr
from bootstrap.types import Package
from tests.core.test_resolve import _items, stanzas
from tests.yum.reference import RpmSpec

RPM_ARCHES = {"amd64": "x86_64", "all": "noarch"}
_REL = re.compile(r"^(?P<name>[^\s]+?)\s*(?:\(\s*(?P<op><<|>>|<=|>=|=|<|>)\s*(?P<ver>[^\s)]+)\s*\))?$")
_OPS = {"<<": "<", ">>": ">"}


@dataclass(frozen=True)
class CaseScenario:
    """A case as a reference scenario: the packages, the requests, the `system` arch."""

    specs: tuple[RpmSpec, ...]
    requests: tuple[str, ...]
    arch: str
    expect: dict[str, str]


def items(text: str) -> list[str]:
    """Comma-separated items, commas inside parentheses (rich dependencies) kept."""
    return _items(text)


def rpm_relation(text: str) -> str:
    """`name (op ver)` → `name op ver` (rpm's spelling); a rich text is kept."""
    text = text.strip()
    if text.startswith("("):
        return text
    m = _REL.match(text)
    if m is None:
        raise ValueError(f"bad relation {text!r}")
    return m["name"] if m["op"] is None else f"{m['name']} {_OPS.get(m['op'], m['op'])} {m['ver']}"


def rpm_requirement(item: str) -> str:
    """One Depends item: `a | b` becomes `(a or b)`, a single relation stays plain."""
    if item.startswith("("):
        return item
    alts = [rpm_relation(a) for a in item.split("|")]
    return alts[0] if len(alts) == 1 else "(" + " or ".join(alts) + ")"


def _spec(s: dict[str, str], arch: str) -> RpmSpec:
    epoch, ver, rel = split_evr(s.get("version", "1.0"))
    deps = [rpm_requirement(i) for f in ("pre-depends", "depends") for i in items(s.get(f, ""))]
    return RpmSpec(
        name=s["package"], epoch=epoch, ver=ver, rel=rel or "",
        arch=RPM_ARCHES.get(s.get("architecture", arch), s.get("architecture", arch)),
        requires=tuple(deps), provides=tuple(rpm_relation(i) for i in items(s.get("provides", ""))),
        conflicts=tuple(rpm_relation(i) for f in ("conflicts", "breaks") for i in items(s.get(f, ""))),
        obsoletes=tuple(rpm_relation(i) for i in items(s.get("obsoletes", ""))),
        files=tuple(s.get("files", "").split()),
        **{weak: tuple(rpm_requirement(i) for i in items(s.get(weak, "")))
           for weak in ("recommends", "suggests", "supplements", "enhances")})


def case_scenario(path: Path) -> CaseScenario:
    """The case at `path` as a reference scenario (Request items must be single relations:
    `dnf install` takes no alternatives)."""
    parts = stanzas(path.read_text())
    ctl = next(s for s in parts if "request" in s)
    arches = ctl.get("arches", "amd64 all").split()
    specs = tuple(_spec(s, arches[0]) for s in parts if "package" in s)
    requests = tuple(rpm_relation(i) for i in items(ctl["request"]))
    if any("|" in r for r in requests):
        raise ValueError(f"{path.name}: dnf install takes no alternatives")
    return CaseScenario(specs, requests, RPM_ARCHES.get(arches[0], arches[0]),
                        {k: v for k, v in ctl.items() if k.startswith("expect")})


def case_nevras(packages: Iterable[Package]) -> frozenset[str]:
    """Resolver packages of a case as testsolv names them (case arches renamed to rpm's)."""
    return frozenset(f"{p.name}-{p.version}.{RPM_ARCHES.get(p.arch, p.arch)}" for p in packages)


def matches(installed: Iterable[str], specs: Iterable[RpmSpec], expect: str) -> bool:
    """Whether the installed `name-evr.arch` set is exactly the Expect words."""
    by_nevra = {s.nevra: s for s in specs}
    left = [by_nevra[n] for n in installed]
    for word in expect.split():
        m = re.fullmatch(r"([^=@]+)(?:=([^@]+))?(?:@(.+))?", word)
        if m is None:
            return False
        arch = m[3] and RPM_ARCHES.get(m[3], m[3])
        fits = [s for s in left if s.name == m[1] and m[2] in (None, s.evr) and arch in (None, s.arch)]
        if not fits:
            return False
        left.remove(fits[0])
    return not left
