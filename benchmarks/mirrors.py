"""The real-size mirrors benchmarks/realsize.py serves, side by side in one tree on 127.0.0.1:

    debian/   the bench's minbase .debs under the host's full bookworm main index
              (benchmarks/fullindex.py; key: the bench key of benchmarks/run.py)
    fedora/linux/releases/40/Everything/x86_64/os/
              the 60,000-package yum repository (benchmarks/yumgen.py; fedora40's layout)
    alpine/v3.16/main/x86_64/APKINDEX.tar.gz
              Alpine 3.16's real index (4,929 packages, ../shared/realdata/apk/alpine-316,
              signed by Alpine's key 6165ee59, shipped in keys/alpine); community/ holds an
              empty index signed by a throwaway key (made as tests/apk/apkrepo.py makes them),
              since the profile reads both repositories.

`make_mirrors(work, parts)` builds the parts asked for ({"apt", "yum", "apk"}) under `work`.
"""
from __future__ import annotations

import gzip
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from fullindex import FullIndex, full_mirror
from run import make_mirror
from yumgen import YumRepo, build_yum_repo

REPO = Path(__file__).resolve().parent.parent
ALPINE_INDEX = REPO.parent / "shared" / "realdata" / "apk" / "alpine-316" / "APKINDEX.tar.gz"
ALPINE_KEY = REPO / "keys" / "alpine" / "alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub"
FEDORA_OS = "fedora/linux/releases/40/Everything/x86_64/os"


@dataclass
class Mirrors:
    """The served tree and, per family, what a client needs to trust it."""

    www: Path
    apt_keyring: Path | None = None
    debs: list[Path] = field(default_factory=list)
    full: FullIndex | None = None
    yum: YumRepo | None = None
    apk_keys: list[Path] = field(default_factory=list)
    apk_packages: int = 0


def _apt(work: Path, mirrors: Mirrors) -> None:
    apt = work / "apt"
    apt.mkdir()
    subset, keyring, debs = make_mirror(apt)
    mirrors.full = full_mirror(apt, subset, apt / "gnupg")
    mirrors.apt_keyring, mirrors.debs = keyring, debs
    (mirrors.www / "debian").symlink_to(mirrors.full.root)


def _yum(work: Path, mirrors: Mirrors, packages: int) -> None:
    mirrors.yum = build_yum_repo(work / "yum", packages)
    place = mirrors.www / FEDORA_OS
    place.parent.mkdir(parents=True)
    place.symlink_to(mirrors.yum.repo)


def _apk(work: Path, mirrors: Mirrors) -> None:
    from tests.apk.apkrepo import make_index, make_key

    if not ALPINE_INDEX.exists():
        raise SystemExit(f"bench: no {ALPINE_INDEX} (the real Alpine index lives beside the repository)")
    branch = mirrors.www / "alpine" / "v3.16"
    main = branch / "main" / "x86_64"
    main.mkdir(parents=True)
    shutil.copy(ALPINE_INDEX, main / ALPINE_INDEX.name)
    community = branch / "community" / "x86_64"
    community.mkdir(parents=True)
    key = make_key(work / "apk-key", "bench@rootfs-bootstrap.invalid-1.rsa.pub")
    make_index(community, key, "v3.16 community (bench: empty)")
    mirrors.apk_keys = [key.public, ALPINE_KEY]
    # gzip members: signature, then the tar holding DESCRIPTION and APKINDEX (a P: line each).
    mirrors.apk_packages = len(re.findall(rb"(?m)^P:", gzip.decompress(ALPINE_INDEX.read_bytes())))


def make_mirrors(work: Path, parts: set[str], yum_packages: int = 60_000) -> Mirrors:
    """Build the `parts` asked for under `work` (see the module's docstring)."""
    mirrors = Mirrors(work / "www")
    mirrors.www.mkdir()
    if "apt" in parts:
        _apt(work, mirrors)
    if "yum" in parts:
        _yum(work, mirrors, yum_packages)
    if "apk" in parts:
        _apk(work, mirrors)
    return mirrors
