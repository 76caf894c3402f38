"""The resolver, one scenario per tests/resolve_cases/*.case (format: resolve_cases/README.md),
plus the Reporter hooks and a 60,000-package universe (Debian main's size) for speed."""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from debian.debian_support import version_compare

from bootstrap.errors import ResolveError
from bootstrap.resolve import Reporter, Resolution, resolve
from bootstrap.types import Dependency, Package, Relation, VersionScheme

CASES = Path(__file__).resolve().parent.parent / "resolve_cases"
_REL = re.compile(r"^(?P<name>[^\s:(]+)(?::(?P<arch>[^\s(]+))?\s*"
                  r"(?:\(\s*(?P<op><<|>>|<=|>=|=|<|>|~)\s*(?P<ver>[^\s)]+)\s*\))?$")
_OPS = {"<<": "<", ">>": ">"}


def relation(text: str) -> Relation:
    m = _REL.match(text.strip())
    assert m, f"bad relation {text!r}"
    op = m["op"] and _OPS.get(m["op"], m["op"])
    return Relation(m["name"], op, m["ver"], m["arch"])


def relations(text: str) -> tuple[Relation, ...]:
    return tuple(relation(t) for t in text.split(",") if t.strip())


def dependencies(text: str) -> tuple[Dependency, ...]:
    return tuple(tuple(relation(a) for a in d.split("|")) for d in text.split(",") if d.strip())


def scheme(arches: list[str]) -> VersionScheme:
    """dpkg's ordering; `~` as apk's fuzzy match (version starts with the wanted one); arches
    ranked best first."""
    ranks = {a: len(arches) - i for i, a in enumerate(arches)}

    def satisfies(version: str, op: str, wanted: str) -> bool:
        if op == "~":
            return version == wanted or version.startswith(wanted + ".")
        c = version_compare(version, wanted)
        return {"<": c < 0, "<=": c <= 0, "=": c == 0, ">=": c >= 0, ">": c > 0}[op]

    return VersionScheme(compare=version_compare, arch_rank=ranks.get, satisfies=satisfies,
                         arch_independent=frozenset({"all", "noarch"}))


def stanzas(text: str) -> list[dict[str, str]]:
    """deb822-ish: `Field: value`, continuation lines start with a space, `#` comments."""
    result: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last = ""
    for line in text.splitlines() + [""]:
        if line.startswith("#"):
            continue
        if not line.strip():
            if current:
                result.append(current)
            current, last = {}, ""
        elif line[0] in " \t":
            current[last] += "\n" + line.strip()
        else:
            key, _, value = line.partition(":")
            last = key.strip().lower()
            current[last] = value.strip()
    return result


@dataclass
class Case:
    universe: list[Package]
    requests: list[Dependency]
    arches: list[str]
    exclude: list[str] = field(default_factory=list)
    expect: dict[str, str] = field(default_factory=dict)


def package(s: dict[str, str], arch: str) -> Package:
    pre = dependencies(s.get("pre-depends", ""))
    return Package(
        name=s["package"], version=s.get("version", "1.0"), arch=s.get("architecture", arch),
        depends=pre + dependencies(s.get("depends", "")), pre_depends=pre,
        provides=relations(s.get("provides", "")),
        conflicts=relations(s.get("conflicts", "")) + relations(s.get("breaks", "")),
        obsoletes=relations(s.get("obsoletes", "")),
        install_if=relations(s.get("install-if", "")),
        files=tuple(s.get("files", "").split()), essential=s.get("essential") == "yes",
        multi_arch=s.get("multi-arch", ""), provider_priority=int(s.get("provider-priority", 0)),
        repo=s.get("repo", ""))


def load(path: Path) -> Case:
    parts = stanzas(path.read_text())
    control = [s for s in parts if "request" in s]
    assert len(control) == 1, f"{path.name}: exactly one stanza with Request:"
    ctl = control[0]
    arches = ctl.get("arches", "amd64 all").split()
    return Case(universe=[package(s, arches[0]) for s in parts if "package" in s],
                requests=list(dependencies(ctl["request"])), arches=arches,
                exclude=ctl.get("exclude", "").split(),
                expect={k: v for k, v in ctl.items() if k.startswith("expect")})


def run(case: Case, universe: list[Package]) -> Resolution:
    return resolve(universe, case.requests, scheme(case.arches), exclude=case.exclude)


def _outcome(case: Case, universe: list[Package]) -> tuple[object, ...]:
    try:
        r = run(case, universe)
    except ResolveError as e:
        return ("error", e.message, e.hint)
    return ([p.key for p in r.packages], dict(r.reasons), r.warnings)


def check_chosen(r: Resolution, expect: dict[str, str]) -> None:
    if "expect" in expect:
        # name[=version][@arch]: `@` because Debian versions may hold a colon (epochs)
        chosen = {p.name: p for p in r.packages}
        names: list[str] = []
        for word in expect["expect"].split():
            m = re.fullmatch(r"([^=@]+)(?:=([^@]+))?(?:@(.+))?", word)
            assert m is not None, word
            names.append(m[1])
            assert m[1] in chosen, (word, sorted(chosen))
            assert m[2] in (None, chosen[m[1]].version), (word, chosen[m[1]].version)
            assert m[3] in (None, chosen[m[1]].arch), (word, chosen[m[1]].arch)
        assert sorted(chosen) == sorted(names)
    if "expect-order" in expect:
        order = expect["expect-order"].split()
        assert [p.name for p in r.packages if p.name in order] == order, r.packages
    for line in expect.get("expect-why", "").splitlines():
        name, _, chain = line.partition(":")
        assert r.why(name.strip()) == tuple(chain.split()), (name, r.why(name.strip()))
    warnings = "\n".join(r.warnings)
    if "expect-warning" in expect:
        assert expect["expect-warning"] in warnings, warnings
    else:
        assert not r.warnings


@pytest.mark.parametrize("path", sorted(CASES.glob("*.case")), ids=lambda p: p.stem)
def test_case(path: Path) -> None:
    case = load(path)
    expect = case.expect
    if "expect-error" in expect:
        with pytest.raises(ResolveError) as info:
            run(case, case.universe)
        assert expect["expect-error"] in info.value.message, info.value.message
        assert expect.get("expect-hint", "") in (info.value.hint or ""), info.value.hint
    else:
        check_chosen(run(case, case.universe), expect)
    # Deterministic whatever the universe's order.
    reference = _outcome(case, case.universe)
    shuffled = list(case.universe)
    random.Random(path.stem).shuffle(shuffled)
    assert _outcome(case, list(reversed(case.universe))) == reference
    assert _outcome(case, shuffled) == reference


def test_enough_cases() -> None:
    assert len(list(CASES.glob("*.case"))) >= 25


class Recorder(Reporter):
    def __init__(self) -> None:
        self.events: list[tuple[str, ...]] = []

    def starting(self) -> None:
        self.events.append(("starting",))

    def choosing(self, name: str, candidates: object) -> None:
        self.events.append(("choosing", name))

    def chose(self, pkg: Package, reason: tuple[str, ...]) -> None:
        self.events.append(("chose", pkg.name, *reason))

    def ending(self) -> None:
        self.events.append(("ending",))


def test_reporter_hooks() -> None:
    universe = [Package("app", "1", "amd64", depends=((Relation("lib"),),)),
                Package("lib", "1", "amd64")]
    rec = Recorder()
    r = resolve(universe, [(Relation("app"),)], scheme(["amd64", "all"]), reporter=rec)
    assert [p.name for p in r.packages] == ["lib", "app"]
    assert rec.events == [("starting",), ("choosing", "app"), ("chose", "app", "app"),
                          ("choosing", "lib"), ("chose", "lib", "app", "lib"), ("ending",)]
    assert r.why("lib") == ("app", "lib") and r.why("absent") == ()


def test_plain_reporter_and_no_requests() -> None:
    r = resolve([Package("a", "1", "amd64")], [], scheme(["amd64"]), reporter=Reporter())
    assert r.packages == () and r.warnings == ()


def synthetic_universe(n: int) -> list[Package]:
    """Debian-main-sized: n packages, each depending on a few below it (so no cycles), with
    alternatives, virtual names, versions and conflicts sprinkled in."""
    rng = random.Random(42)
    pkgs = []
    for i in range(n):
        deps: list[Dependency] = []
        if i >= 100:
            for _ in range(rng.randint(1, 4)):
                j = rng.randrange(max(0, i - 2000), i - 50)
                # virt{k} is provided by pkg{11k} and pkg{11k+1}, both below pkg{j}+2 < pkg{i}
                alt = (Relation(f"virt{j // 11}"),) if j % 7 == 0 else ()
                deps.append((Relation(f"pkg{j}", ">=", "1.0"),) + alt)
        provides = (Relation(f"virt{i // 11}"),) if i % 11 < 2 else ()
        conflicts = (Relation(f"pkg{i + 1}", "<", "0.5"),) if i % 13 == 0 else ()
        pkgs.append(Package(f"pkg{i}", f"1.{i % 5}", "amd64" if i % 3 else "all",
                            depends=tuple(deps), provides=provides, conflicts=conflicts))
    return pkgs


def test_speed_60k_universe() -> None:
    universe = synthetic_universe(60_000)
    requests = [(Relation(f"pkg{i}"),) for i in range(59_000, 60_000, 10)]
    r = resolve(universe, requests, scheme(["amd64", "all"]))
    chosen = {p.name for p in r.packages}
    assert len(chosen) > 1000
    position = {p.name: i for i, p in enumerate(r.packages)}
    for pkg in r.packages:  # the synthetic graph has no cycles: every dependency comes first
        for dep in pkg.depends:
            met = [a.name for a in dep if a.name in chosen]
            if met:
                assert position[met[0]] < position[pkg.name]


REAL_PACKAGES = (Path(__file__).resolve().parent.parent
                 / "data/apt/debian/dists/bookworm-updates/main/binary-amd64/Packages")


def _bookworm_updates() -> list[Package]:
    """The real bookworm-updates index (38 packages), through the apt adapter's own parser."""
    from bootstrap.adapters.apt.packages import parse_packages

    return parse_packages(REAL_PACKAGES.read_bytes(), base_url="file:///mirror/", repo_id="updates")


def test_real_index_names_the_chain() -> None:
    from bootstrap.adapters.apt.packages import debian_version_scheme

    with pytest.raises(ResolveError) as info:
        resolve(_bookworm_updates(), [(Relation("libssl-dev"),)], debian_version_scheme("amd64"))
    assert info.value.message == ("libssl-dev → libssl3 → libc6 (>= 2.34) → "
                                  "not found in any enabled repository")


def test_real_index_resolves_with_its_base() -> None:
    from bootstrap.adapters.apt.packages import debian_version_scheme

    base = [Package("libc6", "2.36-9+deb12u10", "amd64"), Package("debconf", "1.5.82", "all")]
    r = resolve(_bookworm_updates() + base, [(Relation("ca-certificates"),)],
                debian_version_scheme("amd64"))
    assert [p.name for p in r.packages] == ["debconf", "libc6", "libssl3", "openssl", "ca-certificates"]
    assert r.why("libssl3") == ("ca-certificates", "openssl", "libssl3")
