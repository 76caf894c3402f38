"""Hostile .apks in a validly signed Alpine repository, through the CLI in mode extract and mode
root (tests/hardening/battery.py says what every build must keep).

The packages are real .apk files (tests/apk/apkrepo.py: signature, control and data streams,
abuild's checksums) in an APKINDEX signed by a throwaway RSA key, for an index-only
`alpine3.17 --variant custom` build: a symlink to the canary, absolute and relative, at every
place the apk adapter writes after the unpacker (the database, /etc/apk and its keys, the
caches, the scripts' tmp, etc); a directory link an earlier package placed, then files,
owners, hard links and a device through it; .pre-install/.post-install and a trigger reaching
for the host through /proc/*/root and absolute paths; names and hard links out of the root;
device nodes; a file or a link where another package installed a directory with files, a
directory over another package's file; and apk's own rule for a file another package owns
(refused without `replaces`, taken with it, kept when the owner replaces the newcomer, shared
within one origin).
"""
from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bootstrap.adapters.apk.db import parse_installed
from tests.apk.apkrepo import ApkSpec, FileSpec, Key, make_apk, make_index, make_key
from tests.hardening.battery import Outcome, Snapshot, battery, canary_dir, reach_script, snapshot
from tests.server import Server

BUSYBOX = Path("/bin/busybox")
pytestmark = pytest.mark.skipif(shutil.which("openssl") is None or not BUSYBOX.exists(),
                                reason="needs openssl and busybox-static")
PLACES = ["lib/apk/db", "lib/apk", "etc/apk", "etc/apk/keys", "var/cache/apk", "var/cache/misc", "etc", "tmp"]
EXE = ("root", "root", 0, 0, 0o755)
SUPPORT = {"tiny-base", "dirlink", "dirlink-rel", "dir-owner", "file-owner", "keeper"}


def _links(canary: Path) -> list[ApkSpec]:
    relative = "../" * 12 + str(canary).lstrip("/")
    found = []
    for i, place in enumerate(PLACES):
        for prefix, target in (("link", str(canary)), ("rel-link", relative)):
            found.append(ApkSpec(f"{prefix}-{i}", depends=("tiny-base",), files={place: ("symlink", target)},
                                 scripts={".post-install": "#!/bin/sh\nexit 0\n"}))
    return found


def _through(canary: Path) -> list[ApkSpec]:
    """A directory link to the canary, then files, owners, a hard link and a device through it."""
    found = []
    for suffix, target in (("", str(canary)), ("-rel", "../" * 12 + str(canary).lstrip("/"))):
        found.append(ApkSpec(f"dirlink{suffix}", files={"opt": ("dir",), "opt/dl": ("symlink", target)}))
        files: dict[str, FileSpec] = {
            "opt/dl": ("dir",), "opt/dl/keep.txt": b"evil\n", "opt/dl/planted": b"planted\n",
            "opt/dl/sub": ("dir",), "opt/dl/h1": b"hl\n", "opt/dl/h2": ("hardlink", "opt/dl/h1"),
            "opt/dl/sda": ("block", 8, 0)}
        owners = {"opt/dl": ("nobody", "nobody", 65534, 65534, 0o777),
                  "opt/dl/planted": ("nobody", "nobody", 65534, 65534, 0o4755),
                  "opt/dl/sub": ("nobody", "nobody", 65534, 65534, 0o700)}
        found.append(ApkSpec(f"through{suffix}", depends=(f"dirlink{suffix}",), files=files, owners=owners))
    return found


def _payloads(canary: Path) -> list[ApkSpec]:
    """Scripts and a trigger reaching for the host; names and hard links out of the root;
    devices; directory/file replacements; apk's overwrite rule."""
    keep = f"{canary}/keep.txt"
    reach = reach_script(canary)
    return [
        ApkSpec("reacher", depends=("tiny-base",), files={"opt/reach": ("dir",), "opt/reach/f": b"f\n"},
                scripts={".pre-install": reach, ".post-install": reach, ".trigger": reach}, triggers=("/opt/*",)),
        ApkSpec("abs-name", files={keep: b"pwned\n"}),
        ApkSpec("hl-abs", files={"opt/hl": ("dir",), "opt/hl/b": ("hardlink", keep)}),
        ApkSpec("hl-dotdot", files={"opt/hl": ("dir",), "opt/hl/b": ("hardlink", "opt/" + "../" * 12 + keep)}),
        ApkSpec("hl-to-link", files={"opt/hl": ("dir",), "opt/hl/a": ("symlink", keep),
                                     "opt/hl/b": ("hardlink", "opt/hl/a")}),
        ApkSpec("devices", files={"opt/devs": ("dir",), "opt/devs/null": ("char", 1, 3),
                                  "opt/devs/sda": ("block", 8, 0), "dev": ("dir",), "dev/mem": ("char", 1, 1)}),
        ApkSpec("dir-owner", files={"opt/x": ("dir",), "opt/x/f1": b"f1\n"}),
        ApkSpec("file-over-dir", depends=("dir-owner",), files={"opt/x": b"file\n"}),
        ApkSpec("link-over-dir", depends=("dir-owner",), files={"opt/x": ("symlink", str(canary))}),
        ApkSpec("file-owner", files={"opt": ("dir",), "opt/y": b"file-owner\n"}),
        ApkSpec("dir-over-file", depends=("file-owner",), files={"opt/y": ("dir",), "opt/y/f": b"f\n"}),
        ApkSpec("overwriter", depends=("file-owner",), files={"opt/y": b"overwriter\n"}),
        ApkSpec("replacer", depends=("file-owner",), replaces=("file-owner",), files={"opt/y": b"replacer\n"}),
        ApkSpec("sibling", depends=("file-owner",), origin="file-owner", files={"opt/y": b"sibling\n"}),
        ApkSpec("keeper", replaces=("yielder",), files={"opt": ("dir",), "opt/k": b"keeper\n"}),
        ApkSpec("yielder", depends=("keeper",), files={"opt/k": b"yielder\n", "opt/k2": b"mine\n"}),
    ]


@dataclass(frozen=True)
class Repo:
    url: str
    key: Key
    canary: Path
    before: Snapshot
    cases: list[str]


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Repo]:
    work = tmp_path_factory.mktemp("hostile-apk")
    key = make_key(work / "keys")
    with canary_dir() as canary:
        base = ApkSpec("tiny-base", files={"bin": ("dir",), "bin/busybox": BUSYBOX.read_bytes(),
                                           "bin/sh": ("symlink", "/bin/busybox")}, owners={"bin/busybox": EXE})
        specs = [base, *_links(canary), *_through(canary), *_payloads(canary)]
        main, community = (work / "mirror/v3.17" / repo / "x86_64" for repo in ("main", "community"))
        for spec in specs:
            make_apk(spec, key, main)
        make_index(main, key, "hostile main")
        community.mkdir(parents=True)
        make_index(community, key, "hostile community")
        with Server(work / "mirror") as server:
            yield Repo(server.url, key, canary, snapshot(canary), [s.name for s in specs if s.name not in SUPPORT])


@pytest.fixture(scope="module", params=["extract", "root"])
def outcomes(request: pytest.FixtureRequest, repo: Repo,
             tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """Every case built in one mode; battery() has checked each build and the canary."""
    mode = str(request.param)

    def argv(case: str) -> list[str]:
        return ["alpine3.17", "--mirror", repo.url, "--keyring", str(repo.key.public), "--variant", "custom",
                "--include", f"tiny-base,{case}", "--mode", mode, "-q"]

    return battery(repo.cases, argv, tmp_path_factory.mktemp(f"apk-{mode}"), repo.canary, repo.before)


def test_nothing_leaves_the_root(outcomes: dict[str, Outcome], repo: Repo) -> None:
    assert snapshot(repo.canary) == repo.before
    assert sum(o.returncode == 0 for o in outcomes.values()) >= len(outcomes) // 2  # roots really built


def test_scripts_reach_only_the_root(outcomes: dict[str, Outcome], repo: Repo,
                                     request: pytest.FixtureRequest) -> None:
    """In mode root the scripts ran: what they wrote through /proc/*/root and the absolute
    path is in the image, under the root, never on the host."""
    done = outcomes["reacher"]
    assert done.returncode == 0, done.stderr
    if request.node.callspec.params["outcomes"] == "root":
        inside = str(repo.canary).lstrip("/")
        assert done.read(f"{inside}/pwned-direct") == b"pwned\n" and done.read(f"{inside}/pwned") == b"pwned\n"


def test_refusals_are_one_line(outcomes: dict[str, Outcome], repo: Repo) -> None:
    """Names and hard links out of the root, a file or a link over another package's
    directory, a directory over its file, a file it owns without `replaces`."""
    words = {"abs-name": "keep.txt", "hl-abs": "keep.txt", "hl-dotdot": "keep.txt", "file-over-dir": "opt/x",
             "link-over-dir": "opt/x", "dir-over-file": "opt/y",
             "overwriter": "trying to overwrite opt/y owned by file-owner-1.0-r0"}
    for case, word in words.items():
        done = outcomes[case]
        assert done.returncode != 0 and word in done.error and case in done.error, (case, done.stderr)


def _owner_of(done: Outcome, path: str) -> str:
    """The package lib/apk/db/installed names as the owner of `path`."""
    stanzas = parse_installed(done.read("lib/apk/db/installed").decode())
    owners = [s.name for s in stanzas if path in s.paths()]
    assert len(owners) == 1, (path, owners)
    return owners[0]


def test_overwrites_as_apk_decides(outcomes: dict[str, Outcome]) -> None:
    """`replaces` or the same origin take the file; an owner that replaces the newcomer keeps it."""
    for case in ("replacer", "sibling"):
        done = outcomes[case]
        assert done.returncode == 0, done.stderr
        assert done.read("opt/y") == f"{case}\n".encode() and _owner_of(done, "opt/y") == case
    done = outcomes["yielder"]
    assert done.returncode == 0, done.stderr
    assert done.read("opt/k") == b"keeper\n" and _owner_of(done, "opt/k") == "keeper"
    assert done.read("opt/k2") == b"mine\n" and _owner_of(done, "opt/k2") == "yielder"


def test_devices_only_in_the_tar(outcomes: dict[str, Outcome]) -> None:
    done = outcomes["devices"]
    assert done.returncode == 0, done.stderr
    members = done.members()
    for name, (major, minor, char) in {"opt/devs/null": (1, 3, True), "opt/devs/sda": (8, 0, False),
                                        "dev/mem": (1, 1, True)}.items():
        member = members[name]
        assert (member.ischr() if char else member.isblk()) and (member.devmajor, member.devminor) == (major, minor)
