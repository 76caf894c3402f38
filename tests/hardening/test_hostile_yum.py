"""Hostile .rpms in a validly signed yum repository, through the CLI in mode extract and mode
root (tests/hardening/battery.py says what every build must keep).

The packages (tests/hardening/hostile_rpms.py) are made with rpmbuild, signed with rpmsign and
indexed by createrepo_c: a symlink to the canary, absolute and relative, at every place the
yum adapter writes after the unpacker and at the chroot's mount points; a directory link an
earlier package placed, then files, owners, modes, capabilities, %ghost entries, hard links
and a device through it; scriptlets reaching for the host through /proc/*/root and absolute
paths; hard links out of the root; device nodes; a cpio payload whose modes, types and owners
disagree with the header, and one carrying an entry the header does not list (rewritten after
rpmbuild, digests repaired, then signed); a file or a link where another package installed a
directory with files, and a directory where another package installed a file.

Where rpm has a say, the result is what the host's own rpm makes of the same package
(`rpm -i --root`): the header wins over the cpio; unlisted entries, and a file and a
directory replacing each other across packages, are refused (rpm: "archive file not in
header", "file ... conflicts with file from package ...").
"""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.hardening.battery import Outcome, Snapshot, battery, canary_dir, snapshot
from tests.hardening.hostile_rpms import LIE_MODES, TREE, build_mirror, hostile_packages
from tests.server import Server
from tests.yum.yumrepo import TOOLS

BUSYBOX = Path("/bin/busybox")
pytestmark = pytest.mark.skipif(any(shutil.which(t) is None for t in TOOLS) or not BUSYBOX.exists(),
                                reason="needs rpm, createrepo-c, gpg and busybox-static")
# Pulled in by the cases that need them; not cases of their own.
SUPPORT = {"tiny-base", "tiny-passwd", "fake-rpm", "dirlink", "dirlink-rel", "dir-owner", "file-owner"}


@dataclass(frozen=True)
class Repo:
    url: str
    key: Path
    mirror: Path
    canary: Path
    before: Snapshot
    cases: list[str]


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Repo]:
    work = tmp_path_factory.mktemp("hostile-yum")
    with canary_dir() as canary:
        packages = hostile_packages(canary)
        mirror, key = build_mirror(packages, work, BUSYBOX)
        cases = [p.name for p in packages if p.name not in SUPPORT]
        try:
            with Server(mirror) as server:
                yield Repo(server.url, key, mirror, canary, snapshot(canary), cases)
        finally:
            subprocess.run(["gpgconf", "--homedir", str(work / "gnupg"), "--kill", "gpg-agent"], check=False)


def _argv(repo: Repo, mode: str) -> Callable[[str], list[str]]:
    def argv(case: str) -> list[str]:
        return ["centos7.2", "--mirror", repo.url, "--keyring", str(repo.key), "--variant", "custom",
                "--include", f"tiny-base,{case}", "--mode", mode, "-q"]
    return argv


@pytest.fixture(scope="module", params=["extract", "root"])
def outcomes(request: pytest.FixtureRequest, repo: Repo,
             tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """Every case built in one mode; battery() has checked each build and the canary."""
    mode = str(request.param)
    assert os.geteuid() == 0, "the battery runs as root (mode root and the canary's owners need it)"
    work = tmp_path_factory.mktemp(f"yum-{mode}")
    return battery(repo.cases, _argv(repo, mode), work, repo.canary, repo.before)


def test_nothing_leaves_the_root(outcomes: dict[str, Outcome], repo: Repo) -> None:
    assert snapshot(repo.canary) == repo.before
    assert sum(o.returncode == 0 for o in outcomes.values()) >= len(outcomes) // 2  # roots really built


def _host_rpm(repo: Repo, name: str, dest: Path) -> Path:
    """What the host's rpm makes of package `name` (no scripts, no dependencies)."""
    rpm = next((repo.mirror / TREE / "Packages").glob(f"{name}-1.0-1.noarch.rpm"))
    dest.mkdir()
    subprocess.run(["rpm", "-i", "--root", str(dest), "--nodeps", "--nosignature", "--noscripts", str(rpm)],
                   check=True, capture_output=True)
    return dest


def test_cpio_modes_give_way_to_the_header(outcomes: dict[str, Outcome], repo: Repo, tmp_path: Path) -> None:
    """cpio says setuid, symlink, device, directory, fifo, regular, owner 4242: the tar holds
    what the header says, exactly as rpm lays it down."""
    done = outcomes["lies"]
    assert done.returncode == 0, done.stderr
    members = done.members()
    ref = _host_rpm(repo, "lies", tmp_path / "rpm")
    for name in [*LIE_MODES, "owner"]:
        rel = f"opt/lies/{name}"
        member, st = members[rel], os.lstat(ref / rel)
        assert (member.mode, member.uid, member.gid) == (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid), rel
        if stat.S_ISLNK(st.st_mode):
            assert member.issym() and member.linkname == os.readlink(ref / rel), rel
        elif stat.S_ISDIR(st.st_mode):
            assert member.isdir(), rel
        else:
            assert member.isreg() and done.read(rel) == (ref / rel).read_bytes(), rel
    assert members["opt/lies/link"].isreg() and done.read("opt/lies/link") == b"link text"
    assert members["opt/lies/suid"].mode == 0o644 and members["opt/lies/d"].isdir()


def test_refusals_are_one_line(outcomes: dict[str, Outcome], repo: Repo, tmp_path: Path) -> None:
    """An entry the header does not list, hard links out of the root, a file or a link over
    another package's directory, a directory over another package's file: one error naming
    the package and the path (rpm refuses each of them too)."""
    words = {"unlisted": "opt/unlisted/evil", "hl-abs": "keep.txt", "hl-dotdot": "keep.txt",
             "file-over-dir": "opt/x", "link-over-dir": "opt/x", "dir-over-file": "opt/y"}
    for case, word in words.items():
        done = outcomes[case]
        assert done.returncode != 0 and word in done.error and case in done.error, (case, done.stderr)
    refused = subprocess.run(["rpm", "-i", "--root", str(tmp_path), "--nodeps", "--nosignature",
                              str(next((repo.mirror / TREE / "Packages").glob("unlisted-*.rpm")))],
                             capture_output=True, text=True)
    assert refused.returncode != 0  # rpm refuses it too (archive file not in header)


def test_devices_only_in_the_tar(outcomes: dict[str, Outcome]) -> None:
    done = outcomes["devices"]
    assert done.returncode == 0, done.stderr
    members = done.members()
    null, sda, mem = members["opt/devs/null"], members["opt/devs/sda"], members["dev/mem"]
    assert null.ischr() and (null.devmajor, null.devminor) == (1, 3)
    assert sda.isblk() and (sda.devmajor, sda.devminor) == (8, 0)
    assert mem.ischr() and (mem.devmajor, mem.devminor) == (1, 1)


def test_scripts_reach_only_the_root(outcomes: dict[str, Outcome], repo: Repo,
                                     request: pytest.FixtureRequest) -> None:
    """In mode root the %pre/%post ran: what they wrote through /proc/*/root and the absolute
    path is in the image, under the root, never on the host."""
    done = outcomes["reacher"]
    assert done.returncode == 0, done.stderr
    if request.node.callspec.params["outcomes"] == "root":
        inside = str(repo.canary).lstrip("/")
        assert done.read(f"{inside}/pwned-direct") == b"pwned\n" and done.read(f"{inside}/pwned") == b"pwned\n"


def test_through_an_earlier_link(outcomes: dict[str, Outcome], repo: Repo) -> None:
    """Files, owners, modes, a hard link and a device through the directory link an earlier
    package placed land where that link leads inside the root; the %ghost the payload carries
    and the one it does not are both absent; the canary's own names were never touched."""
    inside = str(repo.canary).lstrip("/")
    for case in ("through", "through-rel"):
        done = outcomes[case]
        assert done.returncode == 0, done.stderr
        members = done.members()
        planted, sda = members[f"{inside}/planted"], members[f"{inside}/sda"]
        assert (planted.mode, planted.uid, planted.gid) == (0o4755, 2, 2)  # daemon, from the header
        assert sda.isblk() and (sda.devmajor, sda.devminor) == (8, 0)
        assert members[f"{inside}/h2"].islnk() and done.read(f"{inside}/keep.txt") == b"evil\n"
        assert f"{inside}/passwd" not in members and f"{inside}/yum.log" not in members
