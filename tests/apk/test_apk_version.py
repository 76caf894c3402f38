"""apk version ordering: a table whose expected results came from apk-tools 2.12.9 itself
(`apk version -t A B` in the 3.16.9 minirootfs), and the same table re-asked of the real apk
when the minirootfs and root are available."""
from __future__ import annotations

from pathlib import Path

import pytest

from bootstrap.adapters.apk.version import apk_version_scheme, compare_versions, valid_version, version_matches
from tests.apk.apkrepo import chroot, extract_minirootfs, need_root_chroot

# (a, b, what apk 2.12.9 answered). Note apk's zero-led quirk: after a `.0` component a
# pre-release suffix does not sort below the bare version (1.0 < 1.0_rc1, yet 1.1 > 1.1_rc1).
TABLE = [
    ("1.1", "1.1_rc1", ">"), ("1.10_beta", "1.10", "<"),
    ("1.0", "1.0_rc1", "<"), ("1.0", "1.0_p1", "<"), ("1.0_alpha", "1.0_beta", "<"),
    ("1.0_beta2", "1.0_beta10", "<"), ("1.0_pre1", "1.0_rc1", "<"), ("1.0_cvs", "1.0_svn", "<"),
    ("1.0_git", "1.0_hg", "<"), ("1.0_hg", "1.0_p", "<"), ("1.0-r1", "1.0-r2", "<"),
    ("1.0-r10", "1.0-r9", ">"), ("1.0a", "1.0b", "<"), ("1.0a", "1.0", ">"), ("1.01", "1.1", "<"),
    ("1.001", "1.01", "<"), ("1.0", "1", ">"), ("1.2.3", "1.2", ">"), ("1.2_rc1-r1", "1.2-r0", "<"),
    ("2.0", "10.0", "<"), ("1.0_p1-r0", "1.0-r5", ">"), ("3.2.0-r23", "3.2.0-r22", ">"),
    ("1.35.0-r17", "1.35.0-r18", "<"), ("5.8.1-r4", "5.8.1", ">"), ("0.9", "0.10", "<"),
    ("1.0.0", "1.0", ">"), ("1.0_alpha1", "1.0_alpha", ">"), ("1.2.3_rc1_p1", "1.2.3_rc1", ">"),
    ("20220101", "20211231", ">"), ("1.0-r0", "1.0", ">"), ("1.0_rc1_pre2", "1.0_rc1", "<"),
    ("2.4.0a", "2.4.0_rc1", ">"), ("1.0_foo", "1.0", ">"), ("1.0.a", "1.0", ">"),
    ("1.2.3", "1.2.3", "="), ("1.0_rc1", "1.0_rc1-r0", "<"),
]
SIGN = {-1: "<", 0: "=", 1: ">"}


@pytest.mark.parametrize("a,b,expected", TABLE)
def test_ordering_matches_apk(a: str, b: str, expected: str) -> None:
    assert SIGN[compare_versions(a, b)] == expected
    assert SIGN[compare_versions(b, a)] == {"<": ">", ">": "<", "=": "="}[expected]


def test_real_apk_agrees_with_the_table(tmp_path: Path) -> None:
    need_root_chroot()
    root = extract_minirootfs("alpine-minirootfs-3.16.9-x86_64.tar.gz", tmp_path / "root")
    script = "; ".join(f"apk version -t '{a}' '{b}'" for a, b, _ in TABLE)
    answers = chroot(root, script).stdout.split()
    assert answers == [SIGN[compare_versions(a, b)] for a, b, _ in TABLE]


def test_fuzzy_and_operators() -> None:
    assert version_matches("1.2.3-r0", "~", "1.2")
    assert version_matches("1.2-r4", "~", "1.2")
    assert not version_matches("1.3.0-r0", "~", "1.2")
    assert version_matches("3.0.7-r0", ">", "3")
    assert version_matches("1.2.3-r1", ">=", "1.2.3-r1")
    assert not version_matches("1.2.3-r1", "<", "1.2.3-r1")
    assert version_matches("1.1_rc1", "<", "1.1")


def test_validity_and_scheme() -> None:
    assert valid_version("1.2.3_rc1-r0") and valid_version("2.4.0a")
    assert not valid_version("1.0-x") and not valid_version("abc")
    scheme = apk_version_scheme("x86_64")
    assert scheme.arch_rank("x86_64") == 2 and scheme.arch_rank("noarch") == 1
    assert scheme.arch_rank("aarch64") is None
    assert scheme.matches("1.2.9", "~", "1.2")
