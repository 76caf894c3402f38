"""Hostile .debs in a validly signed archive: each ships a symlink out of the root at a place
the tool itself writes after unpacking (the package database, the sources, the policy-rc.d
guard, caches, logs), or a script that reaches for the host, or a file, a link or a directory
where another package installed the other kind. Whatever the build does with them, a canary
directory outside the root stays byte-for-byte as it was (tests/hardening/battery.py says
what every build must keep).

The packages are made with dpkg-deb and served signed by apt-ftparchive + gpg on 127.0.0.1.
Where dpkg has a say, the build ends as dpkg does: it refuses to replace another package's
directory with a file or a link ("trying to overwrite directory ... with nondirectory") and
its file with a directory ("trying to overwrite ..., which is also in package ...").
"""
from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.apt.aptrepo import Deb, build_deb, build_repo, make_key
from tests.hardening.battery import Outcome, Snapshot, battery, canary_dir, reach_script, snapshot
from tests.server import Server

BUSYBOX = Path("/bin/busybox")
pytestmark = pytest.mark.skipif(shutil.which("apt-ftparchive") is None or not BUSYBOX.exists(),
                                reason="needs apt-ftparchive (apt-utils) and busybox-static")

# Where the tool writes into the root after the unpacker, each made a link to the canary.
TOOL_WRITES = ["var/lib/dpkg/info", "var/lib/dpkg", "etc/apt", "etc/apt/sources.list.d", "usr/sbin",
               "var/cache/apt", "var/log", "var/lib/apt/lists", "etc", "tmp"]
SUPPORT = {"tiny-base", "dir-owner", "file-owner"}


def _debs(work: Path, canary: Path) -> list[Path]:
    base = Deb("tiny-base", fields={"Priority": "required", "Essential": "yes"},
               files={"/bin/busybox": BUSYBOX.read_bytes()}, modes={"/bin/busybox": 0o755},
               symlinks={"/bin/sh": "busybox"})
    debs = [base]
    for i, place in enumerate(TOOL_WRITES):
        debs.append(Deb(f"link-{i}", symlinks={f"/{place}": str(canary)}))
        debs.append(Deb(f"rel-link-{i}", symlinks={f"/{place}": "../" * 12 + str(canary).lstrip("/")}))
    # Scripts that reach for the host: through /proc/*/root, and through an absolute path.
    reach = reach_script(canary)
    debs.append(Deb("reacher", scripts={"preinst": reach, "postinst": reach}))
    # A file or a link where another package installed a directory with files, and the reverse.
    after = {"Depends": "dir-owner"}
    debs += [Deb("dir-owner", files={"/opt/x/f1": b"f1\n"}),
             Deb("file-over-dir", fields=after, files={"/opt/x": b"file\n"}),
             Deb("link-over-dir", fields=after, symlinks={"/opt/x": str(canary)}),
             Deb("file-owner", files={"/opt/y": b"file\n"}),
             Deb("dir-over-file", fields={"Depends": "file-owner"}, files={"/opt/y/f": b"f\n"})]
    return [build_deb(d, work) for d in debs]


@dataclass(frozen=True)
class Archive:
    url: str
    keyring: Path
    canary: Path
    before: Snapshot
    cases: list[str]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archive]:
    """The signed hostile archive on 127.0.0.1, its keyring, the canary and the cases."""
    work = tmp_path_factory.mktemp("hostile")
    with canary_dir() as canary:
        keyring = make_key(work / "gnupg")
        debs = _debs(work / "debs", canary)
        build_repo(work / "mirror", debs, work / "gnupg")
        names = [p.name.split("_")[0] for p in debs]
        try:
            with Server(work / "mirror") as server:
                yield Archive(server.url, keyring, canary, snapshot(canary), [n for n in names if n not in SUPPORT])
        finally:  # the agent gpg started for the throwaway key
            subprocess.run(["gpgconf", "--homedir", str(work / "gnupg"), "--kill", "gpg-agent"], check=False)


@pytest.fixture(scope="module", params=["extract", "root"])
def outcomes(request: pytest.FixtureRequest, hostile: Archive,
             tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """Every case built in one mode; battery() has checked each build and the canary."""
    mode = str(request.param)

    def argv(case: str) -> list[str]:
        return ["debian-bookworm", "--mirror", hostile.url, "--keyring", str(hostile.keyring),
                "--variant", "custom", "--include", f"tiny-base,{case}", "--mode", mode, "-q"]

    return battery(hostile.cases, argv, tmp_path_factory.mktemp(f"apt-{mode}"), hostile.canary, hostile.before)


def test_nothing_leaves_the_root(outcomes: dict[str, Outcome], hostile: Archive,
                                 request: pytest.FixtureRequest) -> None:
    assert snapshot(hostile.canary) == hostile.before
    if request.node.callspec.params["outcomes"] == "extract":  # mode root configures with dpkg,
        assert any(o.returncode == 0 for o in outcomes.values())  # which this tiny root lacks


def test_directory_and_file_replacements_are_refused(outcomes: dict[str, Outcome]) -> None:
    """As dpkg: another package's directory is not replaced by a file or a link, nor its file
    by a directory; one error naming the package and the path, and no output."""
    for case, path in (("file-over-dir", "opt/x"), ("link-over-dir", "opt/x"), ("dir-over-file", "opt/y")):
        done = outcomes[case]
        assert done.returncode != 0 and case in done.error and path in done.error, (case, done.stderr)
