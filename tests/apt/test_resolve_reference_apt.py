"""apt judges the resolver (tests/apt/reference.py): every dpkg scenario of tests/resolve_cases
that apt-get can be asked, and seeded random universes, must get from `resolve()` (on the
universe parsed back from the Packages file apt reads) the very set `apt-get install` picks
for an empty root. Where apt gives up but an installable set exists, ours must be valid (apt's
resolver is not complete; finding an answer there is no disagreement). Last, Debian bookworm
main from the host's mirror: named and seeded random requests, the same set as apt-get."""
from __future__ import annotations

import random
from pathlib import Path

import pytest

from bootstrap.adapters.apt.packages import debian_version_scheme, parse_packages
from bootstrap.errors import ResolveError
from bootstrap.resolve import resolve
from bootstrap.types import Package, Relation
from tests.apt.reference import AptJudge, AptRefused, packages_file
from tests.core.test_resolve import askable, load, scheme, stanzas


def _judgeable(path: Path) -> bool:
    """Of the askable dpkg cases, one apt-get can be asked: plain names as requests."""
    case = load(path)
    keys = [(p.name, p.version) for p in case.universe]
    # Two stanzas of one name and version (two arches, two repositories) are one version to
    # apt, whichever stanza it read first: an index order no real archive has in one file.
    return (len(set(keys)) == len(keys)
            and not set(case.arches) & {"noarch", "i686", "x86_64"}  # rpm's arches: apt has none
            and all(len(d) == 1 and d[0].op is None for d in case.requests))


def ours(text: str, requests: list[str], arches: list[str]) -> set[str] | None:
    """Our answer on the Packages text, as apt prints it (None: ResolveError)."""
    universe = parse_packages(text, base_url="file:/repo/", repo_id="case")
    try:
        chosen = resolve(universe, [(_request(r),) for r in requests], scheme(arches))
    except ResolveError:
        return None
    return {f"{p.name}={p.version}@{p.arch}" for p in chosen.packages}


def _request(text: str) -> Relation:
    name, _, arch = text.partition(":")
    return Relation(name, arch=arch or None)


def _judge(tmp: Path, arches: list[str], text: str, requests: list[str]) -> tuple[set[str] | None, set[str] | None]:
    """(apt's answer or None when it refuses, ours or None)."""
    try:
        theirs: set[str] | None = AptJudge(tmp, arches).install(text, requests)
    except AptRefused:
        theirs = None
    return theirs, ours(text, requests, arches)


CASE_FILES = [p for p in askable("dpkg") if _judgeable(p)]


def test_enough_judged_cases() -> None:
    assert len(CASE_FILES) >= 25


@pytest.mark.parametrize("path", CASE_FILES, ids=lambda p: p.stem)
def test_case_as_apt_answers(path: Path, tmp_path: Path) -> None:
    case = load(path)
    parts = [s for s in stanzas(path.read_text()) if "package" in s]
    requests = [f"{d[0].name}:{d[0].arch}" if d[0].arch else d[0].name for d in case.requests]
    theirs, mine = _judge(tmp_path, case.arches, packages_file(parts, case.arches[0]), requests)
    if "expect-error" in case.expect:
        assert theirs is None, f"apt installs {sorted(theirs or ())}"
    if theirs is None and mine is not None:
        return  # apt gave up (its resolver is not complete); the case's Expect holds (tests/core)
    assert mine == theirs, (sorted(theirs or ()), sorted(mine or ()))


# -- random universes ---------------------------------------------------------------------------

NAMES = ["a", "b", "c", "d", "e", "f"]
VIRTUAL = ["v", "w"]


def _relation(rng: random.Random, names: list[str]) -> str:
    name = rng.choice(names)
    if rng.random() < 0.35:
        return f"{name} ({rng.choice(['>=', '<<', '=', '<=', '>>'])} {rng.randint(1, 3)})"
    return name


def random_universe(rng: random.Random) -> tuple[list[dict[str, str]], list[str]]:
    """Package stanzas over a..f (one or two versions each) and virtual names v, w, with
    Depends (alternatives, versions), Conflicts, Breaks, Provides (some versioned), Priority,
    a rare Essential; the requests are one to three real names."""
    stanzas_: list[dict[str, str]] = []
    for name in rng.sample(NAMES, len(NAMES)):
        for version in rng.sample(["1", "2", "3"], rng.randint(1, 2)):
            s = {"package": name, "version": version}
            deps = [" | ".join(_relation(rng, NAMES + VIRTUAL) for _ in range(rng.randint(1, 2)))
                    for _ in range(rng.randint(0, 2))]
            if deps:
                s["depends"] = ", ".join(deps)
            for key in ("conflicts", "breaks"):
                if rng.random() < 0.15:
                    s[key] = _relation(rng, NAMES + VIRTUAL)
            if rng.random() < 0.4:
                v = rng.choice(VIRTUAL)
                s["provides"] = f"{v} (= {version})" if rng.random() < 0.4 else v
            if rng.random() < 0.5:
                s["provider-priority"] = str(rng.randint(1, 5))
            stanzas_.append(s)
    requests = rng.sample(NAMES, rng.randint(1, 3))
    return stanzas_, requests


def _valid(text: str, requests: list[str], arches: list[str], answer: set[str]) -> bool:
    """Whether `answer` meets the requests and every dependency, conflicting with nothing."""
    from tests.core.test_resolve import _valid as valid

    universe = parse_packages(text, base_url="file:/repo/", repo_id="case")
    chosen = [p for p in universe if f"{p.name}={p.version}@{p.arch}" in answer]
    return valid(chosen, [(Relation(r),) for r in requests], scheme(arches))


@pytest.mark.parametrize("seed", range(4))
def test_random_universes_as_apt_answers(seed: int, tmp_path: Path) -> None:
    rng = random.Random(f"apt-reference-{seed}")
    arches = ["amd64", "all"]
    disagreements = []
    for n in range(40):
        parts, requests = random_universe(rng)
        text = packages_file(parts, "amd64")
        theirs, mine = _judge(tmp_path, arches, text, requests)
        if theirs is None and mine is not None and _valid(text, requests, arches, mine):
            continue  # apt gave up where an answer exists
        if mine != theirs:
            disagreements.append((n, requests, sorted(theirs or ()), sorted(mine or ()), text))
    assert not disagreements, disagreements[0]


# -- the real bookworm index ----------------------------------------------------------------

REAL_REQUESTS = [["build-essential"], ["apt", "systemd-sysv"], ["python3", "curl"], ["default-mta"]]
REAL_RANDOM = 20  # measured 2026-12-02: 150 of 150 random picks the same set


@pytest.mark.network
def test_real_bookworm_as_apt_installs(tmp_path: Path) -> None:
    """Debian bookworm main from the host's mirror (apt-get update into a private state):
    named and seeded random requests get from resolve() what apt-get installs."""
    from bootstrap.adapters.apt import hostapt

    mirror, _ = hostapt.host_mirrors("debian")
    assert mirror, "the host's apt sources name no Debian mirror"
    judge = AptJudge(tmp_path, ["amd64", "all"])
    judge.update(f"deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] {mirror} bookworm main\n")
    listed = next((tmp_path / "state/lists").glob("*_bookworm_main_binary-amd64_Packages"))
    universe = parse_packages(listed.read_bytes(), base_url=mirror, repo_id="bookworm")
    names = sorted({p.name for p in universe if p.arch in ("amd64", "all")})
    rng = random.Random("apt-real-index")
    bad = []
    for wanted in REAL_REQUESTS + [rng.sample(names, rng.choice((1, 2, 3, 5, 10))) for _ in range(REAL_RANDOM)]:
        try:
            theirs: set[str] | None = judge.simulate(wanted)
        except AptRefused:
            theirs = None
        try:
            chosen = resolve(universe, [(Relation(n),) for n in wanted], debian_version_scheme("amd64"))
            mine: set[str] | None = {f"{p.name}={p.version}@{p.arch}" for p in chosen.packages}
        except ResolveError:
            mine = None
        if mine != theirs and not (theirs is None and mine is not None):
            only_apt, only_ours = (theirs or set()) - (mine or set()), (mine or set()) - (theirs or set())
            bad.append((wanted, sorted(only_apt), sorted(only_ours)))
    assert not bad, bad[:3]


def test_numbering_spans_repositories(tmp_path: Path) -> None:
    """Two repositories, as bookworm and bookworm-updates: apt's package IDs run on from the
    first index to the second, so the provider only the second one has comes last and wins
    the tie; the pipeline numbers the universe so too (pipeline.one_numbering)."""
    from bootstrap.pipeline import one_numbering

    main = [{"package": "app", "depends": "mta"}, {"package": "zzz", "provides": "mta"},
            {"package": "other", "depends": "zzz"}]
    updates = [{"package": "aaa", "provides": "mta"}, {"package": "zzz", "version": "1.1", "provides": "mta"}]
    sources = ""
    universe: list[Package] = []
    for name, stanzas_ in (("main", main), ("updates", updates)):
        repo = tmp_path / name
        repo.mkdir()
        text = packages_file(stanzas_, "amd64")
        (repo / "Packages").write_text(text)
        sources += f"deb [trusted=yes] file:{repo} ./\n"
        universe.extend(one_numbering(universe, parse_packages(text, base_url=f"file:{repo}/", repo_id=name)))
    judge = AptJudge(tmp_path / "apt", ["amd64", "all"])
    (tmp_path / "apt").mkdir()
    judge.update(sources)
    theirs = judge.simulate(["app"])
    chosen = resolve(universe, [(Relation("app"),)], debian_version_scheme("amd64"))
    assert {f"{p.name}={p.version}@{p.arch}" for p in chosen.packages} == theirs
    assert "aaa=1.0@amd64" in theirs
