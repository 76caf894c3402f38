"""A full disk, where the tool writes: real `python -m bootstrap` builds with the build root
(TMPDIR, or beside a directory output), the output, or the download cache on an 8 MiB tmpfs,
against a signed local apt archive holding a 12 MiB package of random bytes (it fills any of
them, compressed or not).

Each build must end with a non-zero exit and ONE `error:` line saying no space is left and
where, with a hint; no traceback; nothing at -o and no `.NAME.tmp-*` beside it; no build root
left; and no partial or corrupt cache entry (a later build with space reuses the cache).
Every tmpfs is unmounted at the end of its test."""
from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.apt.aptrepo import Deb, build_deb, build_repo, make_key
from tests.server import Server

BUSYBOX = Path("/bin/busybox")
REPO_ROOT = Path(__file__).resolve().parents[2]
BIG = 12 << 20
pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root"),
    pytest.mark.skipif(shutil.which("apt-ftparchive") is None or not BUSYBOX.exists(),
                       reason="needs apt-ftparchive (apt-utils) and busybox-static"),
]


def _mounted(path: Path) -> bool:
    with open("/proc/self/mounts", encoding="utf-8") as table:
        return any(line.split()[1] == str(path) for line in table)


@contextmanager
def tmpfs(where: Path, size: str = "8m") -> Iterator[Path]:
    """A tmpfs of `size` mounted on `where` for the block; always unmounted after it."""
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where)],
                   check=True)
    try:
        yield where
    finally:
        if subprocess.run(["umount", str(where)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(where)], check=False)
        assert not _mounted(where)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """(url, keyring) of a signed archive: tiny-base (busybox) and big (12 MiB of random bytes)."""
    work = tmp_path_factory.mktemp("diskfull")
    keyring = make_key(work / "gnupg")
    debs = [Deb("tiny-base", fields={"Priority": "required", "Essential": "yes"},
                files={"/bin/busybox": BUSYBOX.read_bytes()}, modes={"/bin/busybox": 0o755},
                symlinks={"/bin/sh": "busybox"}),
            Deb("big", fields={"Depends": "tiny-base"},
                files={"/usr/share/big/blob": random.Random(9).randbytes(BIG)}),
            # 12 MiB that the .deb squeezes to a few KiB: the estimate made before the
            # download (bootstrap.space) lets it through, and the unpack fills the disk.
            Deb("zeros", fields={"Depends": "tiny-base"}, files={"/usr/share/zeros/blob": bytes(BIG)})]
    build_repo(work / "mirror", [build_deb(d, work / "debs") for d in debs], work / "gnupg")
    with Server(work / "mirror") as server:
        yield server.url, keyring


def build(archive: tuple[str, Path], *, tmpdir: Path, cache: Path, out: str,
          extra: tuple[str, ...] = (), package: str = "big") -> subprocess.CompletedProcess[str]:
    url, keyring = archive
    tmpdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TMPDIR": str(tmpdir), "SOURCE_DATE_EPOCH": "1700000000"}
    return subprocess.run(
        [sys.executable, "-m", "bootstrap", "debian-bookworm", "--mirror", url, "--keyring", str(keyring),
         "--cache-dir", str(cache), "--variant", "custom", "--include", package, "--mode", "extract",
         "-o", out, *extra], capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=300)


def one_error(done: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    """The build failed with `code` and one `error:` line holding `words`, and a hint."""
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == code and len(errors) == 1, done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr
    assert "hint:" in done.stderr, done.stderr
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


def leftovers(*places: Path) -> list[str]:
    """Build roots, temporary outputs and partial downloads under `places`."""
    found = []
    for place in places:
        for path in place.rglob("*") if place.exists() else ():
            if path.name.startswith((".rootfs-bootstrap.", ".part-")) or ".tmp-" in path.name:
                found.append(str(path))
    return found


def assert_cache_verifies(cache: Path) -> int:
    """Every cache entry hashes to its name; returns how many there are."""
    entries = [p for p in cache.rglob("*") if p.is_file()]
    for path in entries:
        assert not path.name.startswith((".part-", ".tmp-")), path
        if path.parent.name.startswith("by-") and path.parent.name != "by-url":
            algo = path.parent.name.removeprefix("by-")
            assert hashlib.new(algo, path.read_bytes()).hexdigest() == path.name, path
    return len(entries)


def test_a_tmpdir_too_small_is_said_before_the_download(archive: tuple[str, Path], tmp_path: Path) -> None:
    with tmpfs(tmp_path / "small") as small:
        done = build(archive, tmpdir=small, cache=tmp_path / "cache", out=str(tmp_path / "out.tar"))
        one_error(done, 9, "not enough space for the build root", f"{small} (TMPDIR)", "MiB free")
        assert leftovers(small, tmp_path) == [] and list(small.iterdir()) == []
    assert not list((tmp_path / "cache").rglob("big_*"))  # not downloaded


def test_unpack_fills_tmpdir(archive: tuple[str, Path], tmp_path: Path) -> None:
    with tmpfs(tmp_path / "small") as small:
        done = build(archive, tmpdir=small, cache=tmp_path / "cache", out=str(tmp_path / "out.tar"),
                     package="zeros")
        line = one_error(done, 9, "no space left on device", "build root", str(small))
        assert "TMPDIR" in done.stderr, line
        assert leftovers(small, tmp_path) == [] and list(small.iterdir()) == []
    assert not (tmp_path / "out.tar").exists()
    assert_cache_verifies(tmp_path / "cache")


def test_directory_output_on_a_full_disk(archive: tuple[str, Path], tmp_path: Path) -> None:
    # The root of a directory output is built beside it (to be renamed into place): the unpack
    # is what fills that file system.
    with tmpfs(tmp_path / "small") as small:
        done = build(archive, tmpdir=tmp_path / "tmp", cache=tmp_path / "cache", out=f"{small}/tree/",
                     package="zeros")
        one_error(done, 9, "no space left on device", "build root", str(small))
        assert list(small.iterdir()) == [], list(small.iterdir())
    assert leftovers(tmp_path) == []


# An uncompressed tar of `big` is refused before the download (bootstrap.space): `zeros`
# passes that estimate and fills the disk while packing. The compressed outputs of `big` pass
# it (they are estimated at half the payloads) and fill it too.
@pytest.mark.parametrize("name,extra,package", [("out.tar", (), "zeros"), ("out.tar.gz", (), "big"),
                                                ("image", ("--format", "oci"), "big")],
                         ids=["tar", "tar.gz", "oci"])
def test_pack_fills_the_output_disk(archive: tuple[str, Path], tmp_path: Path, name: str,
                                    extra: tuple[str, ...], package: str) -> None:
    with tmpfs(tmp_path / "small") as small:
        done = build(archive, tmpdir=tmp_path / "tmp", cache=tmp_path / "cache", out=str(small / name),
                     extra=extra, package=package)
        one_error(done, 8, "no space left", str(small / name))
        assert list(small.iterdir()) == [], list(small.iterdir())  # no output, no .NAME.tmp-*
    assert leftovers(tmp_path) == []
    assert list((tmp_path / "tmp").iterdir()) == []  # the build root is gone


def test_an_output_disk_too_small_is_said_before_the_download(archive: tuple[str, Path], tmp_path: Path) -> None:
    with tmpfs(tmp_path / "small") as small:
        done = build(archive, tmpdir=tmp_path / "tmp", cache=tmp_path / "cache", out=str(small / "out.tar"))
        one_error(done, 8, f"not enough space for {small / 'out.tar'}", "MiB free")
        assert list(small.iterdir()) == []
    assert not list((tmp_path / "cache").rglob("big_*"))  # not downloaded


def test_cache_fills_then_reused_with_space(archive: tuple[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out.tar"
    with tmpfs(tmp_path / "cache") as cache:
        done = build(archive, tmpdir=tmp_path / "tmp", cache=cache, out=str(out))
        one_error(done, 9, "no space left on device", "download cache", str(cache))
        assert "--cache-dir" in done.stderr
        assert not out.exists() and leftovers(cache, tmp_path) == []
        kept = assert_cache_verifies(cache)
        assert kept >= 2  # the index and tiny-base made it before big filled the disk
        subprocess.run(["mount", "-o", "remount,size=64m", str(cache)], check=True)
        again = build(archive, tmpdir=tmp_path / "tmp", cache=cache, out=str(out), extra=("-v",))
        assert again.returncode == 0, again.stderr
        assert "tiny-base" in again.stderr and "(cached)" in again.stderr
        assert assert_cache_verifies(cache) > kept and leftovers(cache, tmp_path) == []
    with tarfile.open(out) as tar:
        blob = tar.extractfile("./usr/share/big/blob")
        assert blob is not None and len(blob.read()) == BIG
