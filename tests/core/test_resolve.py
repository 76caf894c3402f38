"""The resolver, one scenario per tests/resolve_cases/*.case (format: resolve_cases/README.md),
plus the Reporter hooks and a 60,000-package universe (Debian main's size) for speed."""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from debian.debian_support import version_compare

from bootstrap.adapters.apk.version import apk_version_scheme
from bootstrap.adapters.apt.packages import mentioned_names
from bootstrap.adapters.yum.richdep import conflict as rich_conflict
from bootstrap.adapters.yum.richdep import requirement
from bootstrap.adapters.yum.version import rpm_version_scheme
from bootstrap.errors import ResolveError
from bootstrap.resolve import Reporter, Resolution, resolve
from bootstrap.types import Dependency, Package, Relation, VersionScheme

CASES = Path(__file__).resolve().parent.parent / "resolve_cases"
_REL = re.compile(r"^(?P<neg>!)?(?P<name>[^\s:(!]+)(?::(?P<arch>[^\s(]+))?\s*"
                  r"(?:\(\s*(?P<op><<|>>|<=|>=|=|<|>|~)\s*(?P<ver>[^\s)]+)\s*\))?$")
# apk and rpm names hold colons (so:libc.musl-x86_64.so.1) and parentheses (perl(Foo)), and
# neither has arch qualifiers.
_NAME_REL = re.compile(r"^(?P<neg>!)?(?P<name>[^\s!]+?)\s*"
                       r"(?:\(\s*(?P<op><<|>>|<=|>=|=|<|>|~)\s*(?P<ver>[^\s)]+)\s*\))?$")
_OPS = {"<<": "<", ">>": ">"}
FAMILIES = ("dpkg", "rpm", "apk")


def relation(text: str, family: str = "dpkg") -> Relation:
    m = (_REL if family == "dpkg" else _NAME_REL).match(text.strip())
    assert m, f"bad relation {text!r}"
    op = m["op"] and _OPS.get(m["op"], m["op"])
    return Relation(m["name"], op, m["ver"], m.groupdict().get("arch"), negated=bool(m["neg"]))


def _items(text: str) -> list[str]:
    """Comma-separated items, commas inside parentheses (rpm rich dependencies) kept."""
    items, depth, current = [], 0, ""
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += ch
    return [i.strip() for i in [*items, current] if i.strip()]


def relations(text: str, family: str = "dpkg") -> tuple[Relation, ...]:
    return tuple(relation(t, family) for t in _items(text))


def dependencies(text: str, family: str = "dpkg") -> tuple[Dependency, ...]:
    """`a (>= 1) | b, c`; with Scheme: rpm an item in parentheses is a rich dependency."""
    deps: list[Dependency] = []
    for item in _items(text):
        if item.startswith("("):
            assert family == "rpm", f"rich dependency {item!r} needs Scheme: rpm"
            deps += requirement(item)
        else:
            deps.append(tuple(relation(a, family) for a in item.split("|")))
    return tuple(deps)


def conflicts(text: str, family: str) -> tuple[tuple[Relation, ...], tuple[Dependency, ...]]:
    """(plain conflicts, clauses): a rich Conflicts (rpm) becomes clauses, as primary.py does."""
    plain: list[Relation] = []
    clauses: list[Dependency] = []
    for item in _items(text):
        if item.startswith("("):
            assert family == "rpm", f"rich conflict {item!r} needs Scheme: rpm"
            more, rich = rich_conflict(item)
            plain += more
            clauses += rich
        else:
            plain.append(relation(item, family))
    return tuple(plain), tuple(clauses)


def scheme(arches: list[str], family: str = "dpkg") -> VersionScheme:
    """The family's version ordering and resolver policy (Scheme: dpkg, rpm or apk), with the
    case's arches ranked best first. dpkg's `~` is apk's fuzzy match (version starts with the
    wanted one)."""
    ranks = {a: len(arches) - i for i, a in enumerate(arches)}
    independent = frozenset({"all", "noarch"})
    if family == "rpm":
        return replace(rpm_version_scheme("x86_64"), arch_rank=ranks.get, arch_independent=independent)
    if family == "apk":
        return replace(apk_version_scheme("x86_64"), arch_rank=ranks.get, arch_independent=independent)

    def satisfies(version: str, op: str, wanted: str) -> bool:
        if op == "~":
            return version == wanted or version.startswith(wanted + ".")
        c = version_compare(version, wanted)
        return {"<": c < 0, "<=": c <= 0, "=": c == 0, ">=": c >= 0, ">": c > 0}[op]

    return VersionScheme(compare=version_compare, arch_rank=ranks.get, satisfies=satisfies,
                         arch_independent=independent)


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
    family: str = "dpkg"
    custom: bool = False  # Variant: custom (an exact set: --exclude is strict)


def package(s: dict[str, str], arch: str, family: str = "dpkg") -> Package:
    pre = dependencies(s.get("pre-depends", ""), family)
    plain, rich = conflicts(s.get("conflicts", ""), family)
    return Package(
        name=s["package"], version=s.get("version", "1.0"), arch=s.get("architecture", arch),
        depends=pre + dependencies(s.get("depends", ""), family), pre_depends=pre, conflict_clauses=rich,
        recommends=dependencies(s.get("recommends", ""), family),
        suggests=dependencies(s.get("suggests", ""), family),
        supplements=dependencies(s.get("supplements", ""), family),
        enhances=dependencies(s.get("enhances", ""), family),
        provides=relations(s.get("provides", ""), family),
        conflicts=plain + relations(s.get("breaks", ""), family),
        obsoletes=relations(s.get("obsoletes", ""), family),
        install_if=relations(s.get("install-if", ""), family),
        files=tuple(s.get("files", "").split()), essential=s.get("essential") == "yes",
        multi_arch=s.get("multi-arch", ""), provider_priority=int(s.get("provider-priority", 0)),
        repo=s.get("repo", ""))


def load(path: Path) -> Case:
    parts = stanzas(path.read_text())
    control = [s for s in parts if "request" in s]
    assert len(control) == 1, f"{path.name}: exactly one stanza with Request:"
    ctl = control[0]
    arches = ctl.get("arches", "amd64 all").split()
    family = ctl.get("scheme", "dpkg")
    assert family in FAMILIES, f"{path.name}: Scheme: one of {', '.join(FAMILIES)}"
    universe = [package(s, arches[0], family) for s in parts if "package" in s]
    if family == "dpkg":  # apt numbers names in the order the index first names them
        order: dict[str, int] = {}
        for s in parts:
            if "package" in s:
                for name in mentioned_names(s):
                    order.setdefault(name, len(order) + 1)
        universe = [replace(p, index_order=order[p.name]) for p in universe]
    return Case(universe=universe,
                requests=list(dependencies(ctl["request"], family)), arches=arches,
                exclude=ctl.get("exclude", "").split(),
                expect={k: v for k, v in ctl.items() if k.startswith("expect")},
                family=family, custom=ctl.get("variant", "") == "custom")


def askable(family: str) -> list[Path]:
    """The cases of `family` its own package manager can be asked (no Exclude, no Variant:
    custom, which apt-get, dnf and apk have no word for), for the reference tests."""
    found = []
    for path in sorted(CASES.glob("*.case")):
        case = load(path)
        if case.family == family and not case.exclude and not case.custom:
            found.append(path)
    return found


def run(case: Case, universe: list[Package]) -> Resolution:
    return resolve(universe, case.requests, scheme(case.arches, case.family), exclude=case.exclude,
                   strict_exclude=case.custom)


def _outcome(case: Case, universe: list[Package]) -> tuple[object, ...]:
    try:
        r = run(case, universe)
    except ResolveError as e:
        return ("error", e.message, e.hint)
    return ([p.key for p in r.packages], dict(r.reasons), r.warnings)


def check_chosen(r: Resolution, expect: dict[str, str]) -> None:
    if "expect" in expect:
        # name[=version][@arch]: `@` because Debian versions may hold a colon (epochs). Each
        # word takes one package (Multi-Arch: same may install one name twice).
        left = list(r.packages)
        for word in expect["expect"].split():
            m = re.fullmatch(r"([^=@]+)(?:=([^@]+))?(?:@(.+))?", word)
            assert m is not None, word
            fits = [p for p in left if p.name == m[1] and m[2] in (None, p.version)
                    and m[3] in (None, p.arch)]
            assert fits, (word, sorted(p.key for p in r.packages))
            left.remove(fits[0])
        assert not left, ("not expected", sorted(p.key for p in left))
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


def test_apkindex_repeated_provides_and_negated_triggers() -> None:
    """apk, through the APKINDEX parser: every `p:` line of a stanza counts, and an `i:` token
    `!name` is a negated trigger (the package joins while nothing provides name)."""
    from bootstrap.adapters.apk.index import parse_apkindex

    text = ("P:app\nV:1-r0\nD:so:libfoo.so.1 cmd:foo\n\n"
            "P:libfoo\nV:1-r0\np:so:libfoo.so.1=1\np:cmd:foo=1\n\n"
            "P:app-doc\nV:1-r0\ni:app !nodocs\n\n"
            "P:app-terse\nV:1-r0\ni:app !app-doc\n")
    packages = parse_apkindex(text, "http://m/main", "x86_64")
    libfoo = next(p for p in packages if p.name == "libfoo")
    assert [str(r) for r in libfoo.provides] == ["so:libfoo.so.1 (= 1)", "cmd:foo (= 1)"]
    r = resolve(packages, [(Relation("app"),)], apk_version_scheme("x86_64"))
    assert sorted(p.name for p in r.packages) == ["app", "app-doc", "libfoo"]


def _valid(packages: list[Package], requests: list[Dependency], scheme_: VersionScheme) -> bool:
    """Whether `packages` is an installable answer: requests and dependencies met, no
    conflict, one version per name, one holder per name where the family says so."""
    def meets(rel: Relation, pkg: Package) -> bool:
        if rel.name == pkg.name and (rel.op is None or scheme_.matches(pkg.version, rel.op, rel.version or "")):
            return True
        return any(p.name == rel.name and (rel.op is None or (p.op is None and unversioned_all) or (
            p.op == "=" and scheme_.matches(p.version or "", rel.op, rel.version or ""))) for p in pkg.provides)

    unversioned_all = scheme_.policy.unversioned_provides_all
    exclusive = scheme_.policy.exclusive_names
    for dep in requests:
        real = [a for a in dep if not exclusive and any(p.name == a.name for p in packages)]
        if not any((a.name == p.name) if real else meets(a, p) for a in dep for p in packages):
            return False
    names: dict[str, list[tuple[Package, bool]]] = {}
    for pkg in packages:
        if not all(any(meets(a, p) for a in dep for p in packages) for dep in pkg.depends):
            return False
        # apk: a conflict with the package's own name or provides breaks it (apply_constraint).
        if any(meets(rel, other) for rel in pkg.conflicts for other in packages
               if other is not pkg or exclusive):
            return False
        names.setdefault(pkg.name, []).append((pkg, True))
        for prov in pkg.provides:
            names.setdefault(prov.name, []).append((pkg, prov.op is not None))
    if len({p.name for p in packages}) != len(packages):
        return False
    if exclusive:
        for holders in names.values():
            if len({id(p) for p, _ in holders}) > 1 and any(versioned for _, versioned in holders):
                return False
    return True


def _random_universe(rng: random.Random, family: str) -> tuple[list[Package], list[Dependency]]:
    names = ["a", "b", "c", "d", "e"]
    packages = []
    for name in names:
        for version in rng.sample(["1", "2", "3"], rng.randint(1, 2)):
            def rel() -> Relation:
                op = rng.choice([None, None, ">=", "<", "="])
                return Relation(rng.choice(names + ["v"]), op, rng.choice(["1", "2", "3"]) if op else None)
            depends = tuple(tuple(rel() for _ in range(rng.randint(1, 2))) for _ in range(rng.randint(0, 2)))
            conflicts = tuple(rel() for _ in range(rng.randint(0, 1)))
            provides = (Relation("v", *(("=", version) if rng.random() < 0.5 else (None, None))),) \
                if rng.random() < 0.3 else ()
            packages.append(Package(name, version, "amd64", depends=depends, conflicts=conflicts,
                                    provides=provides))
    requests: list[Dependency] = [(Relation(n),) for n in rng.sample(names, rng.randint(1, 3))]
    return packages, requests


@pytest.mark.parametrize("family", FAMILIES)
def test_search_is_complete(family: str) -> None:
    """On random small universes, checked against every subset: when an installable set
    exists one is returned (and it is valid), and when none exists ResolveError is raised."""
    from itertools import combinations

    rng = random.Random(f"complete-{family}")
    base = scheme(["amd64", "all"], family)
    # apk's refusal to guess is not a search failure: left out here.
    s = replace(base, policy=replace(base.policy, refuse_unranked_virtual=False))
    for _ in range(150):
        packages, requests = _random_universe(rng, family)
        possible = any(_valid(list(c), requests, s) for k in range(len(packages) + 1)
                       for c in combinations(packages, k))
        try:
            r = resolve(packages, requests, s)
        except ResolveError:
            assert not possible, (packages, requests)
            continue
        assert _valid(list(r.packages), requests, s), (packages, requests, r.packages)
