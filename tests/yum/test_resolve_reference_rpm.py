"""The resolver against libsolv (dnf's solver) for the rpm family, through /usr/bin/testsolv.

1. Every tests/resolve_cases/*.case with `Scheme: rpm` (and no Exclude or Variant, which dnf
   has no equal for here): testsolv's answer is the case's Expect (problems for Expect-Error),
   and our resolve() gives the same installed set.
2. Seeded random small universes (tests/yum/refgen.py), written as primary.xml and read by the
   yum adapter's parser: our resolve(), with the scheme the yum adapter makes for an x86_64
   multilib tree, and testsolv install the same name-evr.arch set, or both fail.

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
from tests.core.test_resolve import load, run
from tests.yum import reference
from tests.yum.refcases import case_nevras, case_scenario, matches
from tests.yum.reference import Outcome, RpmSpec
from tests.yum.refgen import scenario

CASES = Path(__file__).resolve().parent.parent / "resolve_cases"
BATCHES = 20
PER_BATCH = 500  # 10,000 random scenarios: ~40 s on two cores


def _rpm_cases() -> list[Path]:
    """Cases with `Scheme: rpm` and neither Exclude nor Variant."""
    out = []
    for path in sorted(CASES.glob("*.case")):
        case = load(path)
        if case.family == "rpm" and not case.exclude and not case.custom:
            out.append(path)
    return out


def test_enough_rpm_cases() -> None:
    assert len(_rpm_cases()) >= 10


def _ours_case(path: Path) -> Outcome:
    case = load(path)
    try:
        return Outcome(case_nevras(run(case, case.universe).packages))
    except ResolveError as exc:
        return Outcome(None, (exc.message,))


@pytest.mark.parametrize("path", _rpm_cases(), ids=lambda p: p.stem)
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


@pytest.mark.parametrize("batch", range(BATCHES))
def test_random_against_libsolv(batch: int) -> None:
    """PER_BATCH seeded scenarios; testsolv runs in threads (it is a subprocess) while our
    resolver runs here. Every disagreement of the batch is listed (the first five in full)."""
    seeds = range(batch * PER_BATCH, (batch + 1) * PER_BATCH)
    scenarios = [scenario(seed) for seed in seeds]
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(reference.solve, specs, requests) for specs, requests in scenarios]
        ours = [ours_random(specs, requests) for specs, requests in scenarios]
        theirs = [f.result() for f in futures]
    bad = [_describe(seed, *scenarios[i], ours[i], theirs[i])
           for i, seed in enumerate(seeds) if not _agree(ours[i], theirs[i])]
    assert not bad, f"{len(bad)} of {len(seeds)} scenarios disagree with libsolv:\n" + "\n".join(bad[:5])
