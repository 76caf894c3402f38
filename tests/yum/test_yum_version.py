"""rpm version ordering (rpm's own test vectors, cross-checked with the host's rpm) and yum arch ranking."""
from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable

import pytest

from bootstrap.adapters.yum.version import (
    arch_rank,
    compare_evr,
    evr_satisfies,
    rpm_version_scheme,
    rpmvercmp,
    split_evr,
)

# rpm's tests/rpmvercmp.at (plus the caret cases rpm 4.15 added).
VECTORS = """
1.0 1.0 0|1.0 2.0 -1|2.0 1.0 1|2.0.1 2.0.1 0|2.0 2.0.1 -1|2.0.1 2.0 1|2.0.1a 2.0.1a 0|2.0.1a 2.0.1 1
2.0.1 2.0.1a -1|5.5p1 5.5p1 0|5.5p1 5.5p2 -1|5.5p2 5.5p1 1|5.5p10 5.5p10 0|5.5p1 5.5p10 -1
5.5p10 5.5p1 1|10xyz 10.1xyz -1|10.1xyz 10xyz 1|xyz10 xyz10 0|xyz10 xyz10.1 -1|xyz10.1 xyz10 1
xyz.4 xyz.4 0|xyz.4 8 -1|8 xyz.4 1|xyz.4 2 -1|2 xyz.4 1|5.5p2 5.6p1 -1|5.6p1 5.5p2 1|5.6p1 6.5p1 -1
6.5p1 5.6p1 1|6.0.rc1 6.0 1|6.0 6.0.rc1 -1|10b2 10a1 1|10a2 10b2 -1|1.0aa 1.0aa 0|1.0a 1.0aa -1
1.0aa 1.0a 1|10.0001 10.0001 0|10.0001 10.1 0|10.1 10.0001 0|10.0001 10.0039 -1|10.0039 10.0001 1
4.999.9 5.0 -1|5.0 4.999.9 1|20101121 20101121 0|20101121 20101122 -1|20101122 20101121 1
2_0 2_0 0|2.0 2_0 0|2_0 2.0 0|a a 0|a+ a+ 0|a+ a_ 0|a_ a+ 0|+a +a 0|+a _a 0|_a +a 0|+_ +_ 0|_+ +_ 0
_+ _+ 0|+ _ 0|_ + 0|1.0~rc1 1.0~rc1 0|1.0~rc1 1.0 -1|1.0 1.0~rc1 1|1.0~rc1 1.0~rc2 -1|1.0~rc2 1.0~rc1 1
1.0~rc1~git123 1.0~rc1~git123 0|1.0~rc1~git123 1.0~rc1 -1|1.0~rc1 1.0~rc1~git123 1
1.0^ 1.0^ 0|1.0^ 1.0 1|1.0 1.0^ -1|1.0^git1 1.0^git1 0|1.0^git1 1.0 1|1.0 1.0^git1 -1
1.0^git1 1.0^git2 -1|1.0^git2 1.0^git1 1|1.0^git1 1.01 -1|1.01 1.0^git1 1|1.0^20160101 1.0^20160101 0
1.0^20160101 1.0.1 -1|1.0.1 1.0^20160101 1|1.0^20160101^git1 1.0^20160101^git1 0
1.0^20160102 1.0^20160101^git1 1|1.0^20160101^git1 1.0^20160102 -1|1.0~rc1^git1 1.0~rc1^git1 0
1.0~rc1^git1 1.0~rc1 1|1.0~rc1 1.0~rc1^git1 -1|1.0^git1~pre 1.0^git1~pre 0|1.0^git1 1.0^git1~pre 1
1.0^git1~pre 1.0^git1 -1|1b.fc17 1b.fc17 0|1b.fc17 1.fc17 -1|1.fc17 1b.fc17 1|1g.fc17 1.fc17 1
1.fc17 1g.fc17 -1|1.1.α 1.1.β 0|1.1.αα 1.1.α 0
"""
CASES = [tuple(case.split()) for line in VECTORS.split("\n") for case in line.split("|") if case.strip()]


@pytest.mark.parametrize("a,b,expected", CASES)
def test_rpmvercmp_vectors(a: str, b: str, expected: str) -> None:
    assert rpmvercmp(a, b) == int(expected)


def test_rpmvercmp_agrees_with_host_rpm() -> None:
    """The host's rpm (lua rpm.vercmp) gives the same answers, extra awkward cases included."""
    if shutil.which("rpm") is None:
        pytest.skip("rpm is not installed")
    # rpm.vercmp reads its arguments as EVRs: "1:2.0-3" exercises epoch and release too.
    extra = [("2.6.9-42.EL", "2.6.9-5.EL"), ("0.9.7a", "0.9.7"), ("1.0.0", "1.0"), ("1..0", "1.0"),
             ("r1", "1"), ("1~", "1"), ("1.2.3^~", "1.2.3"), ("00", "0"), ("1:1.0-1", "2.0-1"),
             ("1.0-1~beta", "1.0-1"), ("0:3.4.6-3", "3.4.6-3")]
    pairs = [(a, b) for a, b, _ in CASES if a.isascii() and b.isascii()] + extra
    calls = ", ".join(f'rpm.vercmp("{a}", "{b}")' for a, b in pairs)
    script = "print(table.concat({" + calls + "}, ' '))"
    out = subprocess.run(["rpm", "--eval", "%{lua:" + script + "}"], capture_output=True, text=True,
                         check=True).stdout.split()
    assert [int(x) for x in out] == [compare_evr(a, b) for a, b in pairs]


def test_evr_epoch_and_release() -> None:
    assert split_evr("1:2.0-3.el5") == ("1", "2.0", "3.el5")
    assert split_evr("2.0") == ("", "2.0", None)
    assert compare_evr("1:1.0-1", "2.0-1") > 0
    assert compare_evr("0:1.0-1", "1.0-1") == 0  # epoch 0 = no epoch
    assert compare_evr("1.0-10", "1.0-9") > 0
    assert compare_evr("2.6.9-89.EL", "2.6.9-78.0.1.EL") > 0


def test_ranges_ignore_release_when_one_side_has_none() -> None:
    assert evr_satisfies("1.0-5", ">=", "1.0")
    assert evr_satisfies("1.0-5", "=", "1.0")
    assert evr_satisfies("1.0", "=", "1.0-5")
    assert not evr_satisfies("1.0-5", "<", "1.0")
    assert evr_satisfies("1.0-5", "<", "1.0-6")
    assert not evr_satisfies("1.0-5", ">", "1:0.5")
    assert evr_satisfies("2:0.1-1", ">", "1.0")


def _ranked(rank: Callable[[str], int | None], arch: str) -> int:
    """The rank of an architecture the tree installs (a test failure when it is not one)."""
    value = rank(arch)
    assert value is not None, arch
    return value


def test_arch_rank_i386_tree_prefers_i686() -> None:
    rank = arch_rank("i386")
    order = sorted(["noarch", "i386", "i686", "i586", "i486"], key=lambda a: -_ranked(rank, a))
    assert order == ["i686", "i586", "i486", "i386", "noarch"]
    assert rank("x86_64") is None and rank("src") is None
    assert arch_rank("i686")("i386") is not None


def test_arch_rank_x86_64_multilib_only_when_asked() -> None:
    assert arch_rank("x86_64")("i686") is None
    plain = arch_rank("x86_64")
    assert _ranked(plain, "x86_64") > _ranked(plain, "noarch")
    multi = arch_rank("x86_64", multilib=True)
    assert multi("i686") is not None and _ranked(multi, "i686") < _ranked(multi, "x86_64")


def test_scheme_matches_through_satisfies() -> None:
    scheme = rpm_version_scheme("x86_64")
    assert scheme.matches("3.4.6-3", ">=", "3.4")
    assert scheme.compare("1.0~rc1-1", "1.0-1") < 0
