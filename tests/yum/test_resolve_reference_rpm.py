"""The resolver against libsolv (dnf's solver) for the rpm family, through /usr/bin/testsolv.

1. Every tests/resolve_cases/*.case with `Scheme: rpm` (and no Exclude or Variant, which dnf
   has no equal for here): testsolv's answer is the case's Expect (problems for Expect-Error),
   and our resolve() gives the same installed set.
2. Seeded random small universes (tests/yum/refgen.py: x86_64 and noarch builds), written as
   primary.xml and read by the yum adapter's parser: our resolve(), with the scheme the yum
   adapter makes for an x86_64 tree, and testsolv agree on whether the request can be met
   (always), and install the same name-evr.arch set on at least AGREEMENT of them. Where the
   sets differ both are valid: libsolv's answer follows from the order its conflict learning
   happened to take (a package it tried first and kept), or from a rich Conflicts whose
   other terms no package provides (libsolv simplifies those away before it skips the
   package's conflict with itself).
3. The same with i686 builds too (the yum adapter's multilib, dnf's default on x86_64):
   libsolv's lock-step infarch rules and builds of both word sizes of one name together are
   the resolver's too, but not every path its learning takes: MULTILIB_AGREEMENT of the sets
   and MULTILIB_SOLVABLE of the verdicts agree.

How a scenario becomes a testcase, and which dnf behaviour that mirrors: tests/yum/reference.py.
"""
from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bootstrap.adapters.yum.version import rpm_version_scheme
from bootstrap.errors import ResolveError
from bootstrap.resolve import resolve
from bootstrap.types import Relation
from tests.core.test_resolve import askable, load, run
from tests.yum import reference
from tests.yum.refcases import case_nevras, case_scenario, matches
from tests.yum.reference import Outcome, RpmSpec
from tests.yum.refgen import scenario

BATCHES = 20
PER_BATCH = 500  # 10,000 random scenarios: ~40 s on two cores
AGREEMENT = 0.995  # measured 2026-12-02: 9,989 of 10,000 the same set
MULTILIB = 2000
MULTILIB_AGREEMENT = 0.985  # measured 2026-12-02: 1,981 of 2,000 the same set
MULTILIB_SOLVABLE = 0.995  # measured 2026-12-02: 1,997 of 2,000 the same verdict


def test_enough_rpm_cases() -> None:
    assert len(askable("rpm")) >= 10


def _ours_case(path: Path) -> Outcome:
    case = load(path)
    try:
        return Outcome(case_nevras(run(case, case.universe).packages))
    except ResolveError as exc:
        return Outcome(None, (exc.message,))


@pytest.mark.parametrize("path", askable("rpm"), ids=lambda p: p.stem)
def test_case_against_libsolv(path: Path) -> None:
    """libsolv agrees with the case's expectation, and our resolver with libsolv."""
    sc = case_scenario(path)
    theirs = reference.solve(sc.specs, sc.requests, sc.arch)
    if "expect-error" in sc.expect:
        assert theirs.installed is None, f"libsolv installs {theirs}, the case expects an error"
    else:
        assert theirs.installed is not None, f"libsolv fails: {theirs}"
        assert matches(theirs.installed, sc.specs, sc.expect.get("expect", "")), \
            f"libsolv: {theirs}; the case expects {sc.expect.get('expect')}"
    ours = _ours_case(path)
    assert _agree(ours, theirs), f"ours: {ours}\nlibsolv: {theirs}"


def _agree(ours: Outcome, theirs: Outcome) -> bool:
    """The same installed set, or both failed (for whatever reason each gives)."""
    return ours.installed == theirs.installed


def ours_random(specs: Sequence[RpmSpec], requests: Sequence[str]) -> Outcome:
    """Our resolver on a scenario: the packages through primary.xml and parse_primary, one
    request per name, the yum adapter's scheme for x86_64 with multilib (libsolv's x86_64 pool
    installs i686 builds: its arch policy x86_64:i686:i586:i486:i386)."""
    universe = reference.packages(specs)
    wanted = [(Relation(*reference.split_relation(r)),) for r in requests]
    try:
        r = resolve(universe, wanted, rpm_version_scheme("x86_64", multilib=True))
    except ResolveError as exc:
        return Outcome(None, (exc.message,))
    return Outcome(frozenset(reference.nevra(p) for p in r.packages))


def _describe(seed: int, specs: Sequence[RpmSpec], requests: Sequence[str], ours: Outcome,
              theirs: Outcome) -> str:
    lines = [f"seed {seed}: dnf install {' '.join(requests)}"]
    for s in specs:
        deps = "; ".join(f"{f}: {', '.join(getattr(s, f))}" for f in
                         ("requires", "provides", "conflicts", "obsoletes", "files") if getattr(s, f))
        lines.append(f"  {s.nevra}  {deps}")
    lines += [f"  ours:    {ours}", f"  libsolv: {theirs}"]
    return "\n".join(lines)


def _judge_all() -> list[tuple[int, Outcome, Outcome]]:
    """(seed, ours, libsolv's) of every random scenario; testsolv runs in threads (it is a
    subprocess) while our resolver runs here."""
    seeds = range(BATCHES * PER_BATCH)
    scenarios = [scenario(seed) for seed in seeds]
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(reference.solve, specs, requests) for specs, requests in scenarios]
        ours = [ours_random(specs, requests) for specs, requests in scenarios]
        return [(seed, ours[i], f.result()) for i, (seed, f) in enumerate(zip(seeds, futures, strict=True))]


@pytest.fixture(scope="module")
def random_outcomes() -> list[tuple[int, Outcome, Outcome]]:
    return _judge_all()


@pytest.mark.parametrize("batch", range(BATCHES))
def test_random_same_solvability(batch: int, random_outcomes: list[tuple[int, Outcome, Outcome]]) -> None:
    """Where libsolv finds an installable set, so does the resolver, and the other way round."""
    part = random_outcomes[batch * PER_BATCH:(batch + 1) * PER_BATCH]
    bad = [_describe(seed, *scenario(seed), ours, theirs) for seed, ours, theirs in part
           if (ours.installed is None) != (theirs.installed is None)]
    assert not bad, f"{len(bad)} of {len(part)} scenarios:\n" + "\n".join(bad[:5])


def test_random_same_sets(random_outcomes: list[tuple[int, Outcome, Outcome]]) -> None:
    """The very set libsolv installs, on at least AGREEMENT of the scenarios."""
    bad = [(seed, ours, theirs) for seed, ours, theirs in random_outcomes if not _agree(ours, theirs)]
    assert len(bad) <= (1 - AGREEMENT) * len(random_outcomes), (
        f"{len(bad)} of {len(random_outcomes)} differ:\n"
        + "\n".join(_describe(seed, *scenario(seed), o, t) for seed, o, t in bad[:5]))


def test_real_centos_stream9_core_as_libsolv(realdata: Path, tmp_path: Path) -> None:
    """@core + bash over CentOS Stream 9's real BaseOS primary.xml (1,125 packages): the very
    set testsolv installs from the same primary.xml (rpmmd2solv), weak relations and all
    (glibc's Suggests picks glibc-minimal-langpack)."""
    import re
    import subprocess

    from bootstrap.adapters.yum.repomd import expand_groups, parse_comps
    from bootstrap.compression import decompress
    from tests.yum.test_yum_index import _load, _repo

    top, md = _repo(realdata, "cs9-baseos-x86_64-2022")
    packages = _load(top, md)
    comps = parse_comps(decompress((top / md.files["group_gz"].href).read_bytes(), ".gz"))
    names = expand_groups(["@core", "bash"], comps)
    primary = decompress((top / md.files["primary"].href).read_bytes(), ".gz")
    (tmp_path / "repo.solv").write_bytes(subprocess.run(["rpmmd2solv"], input=primary, capture_output=True,
                                                        check=True).stdout)
    real = {p.name for p in packages}
    lines = ["poolflags " + " ".join(reference.POOL_FLAGS), "repo system 0 testtags <inline>",
             "repo available 0 solv repo.solv", "system x86_64 rpm system",
             "solverflags " + " ".join(reference.SOLVER_FLAGS),
             *(f"job install {'name' if n in real else 'provides'} {n} [setarch,setevr]" for n in names),
             "result transaction,problems <inline>"]
    (tmp_path / "core.t").write_text("\n".join(lines) + "\n")
    out = subprocess.run([reference.TESTSOLV, "-r", "core.t"], cwd=tmp_path, capture_output=True, text=True).stdout
    theirs = {m[1] for m in re.finditer(r"^install (\S+)@available$", out, re.M)}
    ours = {reference.nevra(p) for p in resolve(packages, [(Relation(n),) for n in names],
                                                  rpm_version_scheme("x86_64")).packages}
    assert len(theirs) > 250, out[-2000:]
    assert ours == theirs, (sorted(ours - theirs), sorted(theirs - ours))


def test_random_multilib_against_libsolv() -> None:
    """Section 3 of the module docstring."""
    scenarios = [scenario(seed, multilib=True) for seed in range(MULTILIB)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(reference.solve, specs, requests) for specs, requests in scenarios]
        ours = [ours_random(specs, requests) for specs, requests in scenarios]
        theirs = [f.result() for f in futures]
    differ = [i for i in range(MULTILIB) if not _agree(ours[i], theirs[i])]
    verdict = [i for i in differ if (ours[i].installed is None) != (theirs[i].installed is None)]
    shown = "\n".join(_describe(i, *scenarios[i], ours[i], theirs[i]) for i in differ[:3])
    assert len(differ) <= (1 - MULTILIB_AGREEMENT) * MULTILIB, f"{len(differ)} of {MULTILIB} differ\n{shown}"
    assert len(verdict) <= (1 - MULTILIB_SOLVABLE) * MULTILIB, f"{len(verdict)} verdicts differ\n{shown}"
