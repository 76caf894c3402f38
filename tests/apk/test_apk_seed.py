"""The minirootfs seed: latest-releases.yaml, the published .sha256, safe unpacking of the real
tarballs, and the installed-package records it hands the resolver. The 3.6.5 x86 root runs
its own 32-bit apk (2.7.6) under linux32."""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from bootstrap.adapters.apk.seed import choose_minirootfs, fetch_minirootfs, parse_latest_releases, seed
from bootstrap.errors import ChecksumError, RepositoryNotFound
from bootstrap.root import Root
from bootstrap.types import Profile, Repository
from tests.apk.apkrepo import DirFetcher, chroot, need_root_chroot, real

YAML = """---
-
  title: "Mini root filesystem"
  desc: "Minimal root filesystem.\\nFor use in containers"
  branch: v3.16
  arch: x86_64
  version: 3.16.9
  flavor: alpine-minirootfs
  file: alpine-minirootfs-3.16.9-x86_64.tar.gz
  size: 2722681
  sha256: {sha}
-
  title: "Standard"
  branch: v3.16
  arch: x86_64
  version: 3.16.9
  flavor: alpine-standard
  file: alpine-standard-3.16.9-x86_64.iso
"""


def _mirror(tmp_path: Path, name: str, arch: str, branch: str, *, sha_file: bool = True,
            yaml: bool = True) -> Path:
    tarball = real(f"minirootfs/{name}")
    releases = tmp_path / "mirror" / branch / "releases" / arch
    releases.mkdir(parents=True)
    shutil.copy(tarball, releases / name)
    sha = hashlib.sha256(tarball.read_bytes()).hexdigest()
    if sha_file:
        (releases / f"{name}.sha256").write_text(f"{sha}  {name}\n")
    if yaml:
        (releases / "latest-releases.yaml").write_text(YAML.format(sha=sha).replace("x86_64", arch))
    return releases


def _profile(releases: Path, arch: str, point: str = "") -> Profile:
    repo = Repository("main", "apk", releases.parent.parent.as_uri() + "/main")
    options = {"releases_url": releases.as_uri(), "point": point}
    return Profile("alpine-test", "apk", "alpine", "3.16", arch, (repo,), options=options)


def test_latest_releases_yaml() -> None:
    entries = parse_latest_releases(YAML.format(sha="ab"))
    assert len(entries) == 2 and entries[0]["desc"].startswith("Minimal")
    chosen = choose_minirootfs(entries, "x86_64")
    assert chosen and chosen["version"] == "3.16.9" and chosen["sha256"] == "ab"
    assert choose_minirootfs(entries, "aarch64") is None


def test_seed_real_316(tmp_path: Path) -> None:
    releases = _mirror(tmp_path, "alpine-minirootfs-3.16.9-x86_64.tar.gz", "x86_64", "v3.16")
    root = tmp_path / "root"
    root.mkdir()
    found = seed(_profile(releases, "x86_64"), "x86_64", DirFetcher(), Root(root), lambda line: None)
    names = {i.package.name for i in found}
    assert {"busybox", "musl", "apk-tools", "alpine-baselayout"} <= names and len(found) == 14
    busybox = next(i.package for i in found if i.package.name == "busybox")
    assert busybox.version == "1.35.0-r17" and any(p.name == "cmd:sh" for p in busybox.provides)
    assert (root / "bin" / "busybox").is_file() and (root / "bin" / "sh").is_symlink()
    need_root_chroot()
    assert "busybox" in chroot(root, "apk info").stdout.split()


def test_seed_refuses_a_wrong_or_missing_checksum(tmp_path: Path) -> None:
    releases = _mirror(tmp_path, "alpine-minirootfs-3.16.9-x86_64.tar.gz", "x86_64", "v3.16", yaml=False)
    name = "alpine-minirootfs-3.16.9-x86_64.tar.gz"
    (releases / f"{name}.sha256").write_text("0" * 64 + f"  {name}\n")
    with pytest.raises(ChecksumError):
        fetch_minirootfs(_profile(releases, "x86_64", "3.16.9"), "x86_64", DirFetcher(), print, True)
    (releases / f"{name}.sha256").unlink()
    with pytest.raises(ChecksumError, match=r"no published \.sha256"):
        fetch_minirootfs(_profile(releases, "x86_64", "3.16.9"), "x86_64", DirFetcher(), print, True)
    with pytest.raises(RepositoryNotFound, match=r"latest-releases\.yaml"):
        fetch_minirootfs(_profile(releases, "x86_64"), "x86_64", DirFetcher(), print, True)


def test_seed_real_365_x86_runs_32bit(tmp_path: Path) -> None:
    name = "alpine-minirootfs-3.6.5-x86.tar.gz"
    releases = _mirror(tmp_path, name, "x86", "v3.6", yaml=False)
    root = tmp_path / "root"
    root.mkdir()
    found = seed(_profile(releases, "x86", "3.6.5"), "x86", DirFetcher(), Root(root), lambda line: None)
    assert "apk-tools" in {i.package.name for i in found}
    need_root_chroot()
    done = chroot(root, "uname -m; apk --version; apk info", linux32=True)
    lines = done.stdout.split()
    assert lines[0] in ("i686", "i586", "i386") and "2.7.6," in lines and "busybox" in lines
