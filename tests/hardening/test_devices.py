"""Device nodes a package ships: never made in the build root; in a tarball as headers; in a
directory output only with --devices (root), through the root handle, after the tree is in
place. The archive is made with dpkg-deb (mknod'd nodes in its tree), apt-ftparchive and gpg."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest

from tests.apt.aptrepo import Deb, build_deb, build_repo, make_key
from tests.server import Server

BUSYBOX = Path("/bin/busybox")
pytestmark = [
    pytest.mark.skipif(shutil.which("apt-ftparchive") is None or not BUSYBOX.exists(),
                       reason="needs apt-ftparchive (apt-utils) and busybox-static"),
    pytest.mark.skipif(os.geteuid() != 0, reason="making the packages' nodes needs root"),
]
NODES = {"/dev/null": (stat.S_IFCHR | 0o666, 1, 3), "/dev/sdz": (stat.S_IFBLK | 0o660, 8, 0)}


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("devices")
    keyring = make_key(work / "gnupg")
    base = Deb("tiny-base", fields={"Priority": "required", "Essential": "yes"},
               files={"/bin/busybox": BUSYBOX.read_bytes()}, modes={"/bin/busybox": 0o755},
               symlinks={"/bin/sh": "busybox"})
    debs = [build_deb(base, work / "debs"), build_deb(Deb("nodes", devices=NODES), work / "debs")]
    build_repo(work / "mirror", debs, work / "gnupg")
    with Server(work / "mirror") as server:
        yield server.url, keyring


def _build(archive, out: Path, *extra: str, user: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    url, keyring = archive
    if user:  # a copy the other user can read
        keyring = Path(shutil.copy(keyring, out.parent / "keyring.gpg"))
        keyring.chmod(0o644)
    argv = [*(user or []), sys.executable, "-m", "bootstrap", "debian-bookworm", "--mirror", url,
            "--keyring", str(keyring), "--cache-dir", str(out.parent / "cache"), "--variant", "custom",
            "--include", "tiny-base,nodes", "--mode", "extract", "-o", str(out), *extra]
    return subprocess.run(argv, capture_output=True, text=True, timeout=300)


def test_directory_without_devices_has_none(archive, tmp_path: Path) -> None:
    done = _build(archive, tmp_path / "root", "--format", "dir")
    assert done.returncode == 0, done.stderr
    assert "2 device nodes left out of the directory (--devices makes them)" in done.stderr
    assert (tmp_path / "root" / "bin" / "busybox").is_file()
    assert not os.path.lexists(tmp_path / "root" / "dev" / "null")


def test_directory_with_devices_has_them(archive, tmp_path: Path) -> None:
    done = _build(archive, tmp_path / "root", "--format", "dir", "--devices")
    assert done.returncode == 0, done.stderr
    for path, (mode, major, minor) in NODES.items():
        st = os.lstat(tmp_path / "root" / path.lstrip("/"))
        assert (st.st_mode, os.major(st.st_rdev), os.minor(st.st_rdev)) == (mode, major, minor)
        assert (st.st_uid, st.st_gid) == (0, 0)


def test_tarball_carries_them_as_headers(archive, tmp_path: Path) -> None:
    done = _build(archive, tmp_path / "out.tar")
    assert done.returncode == 0, done.stderr
    with tarfile.open(tmp_path / "out.tar") as tar:
        null, sdz = tar.getmember("./dev/null"), tar.getmember("./dev/sdz")
    assert null.ischr() and (null.devmajor, null.devminor, null.mode) == (1, 3, 0o666)
    assert sdz.isblk() and (sdz.devmajor, sdz.devminor, sdz.mode) == (8, 0, 0o660)


def test_devices_is_refused_where_it_means_nothing(archive, tmp_path: Path) -> None:
    done = _build(archive, tmp_path / "out.tar", "--devices")
    assert done.returncode == 2 and "error: --devices goes with --format dir" in done.stderr
    assert not (tmp_path / "out.tar").exists()
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    open_dir = Path(tempfile.mkdtemp(prefix="rootfs-bootstrap-devices-"))  # pytest's is 0700
    try:
        open_dir.chmod(0o777)
        done = _build(archive, open_dir / "root", "--format", "dir", "--devices", user=nobody)
        assert done.returncode == 2 and "error: --devices needs root" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr and not (open_dir / "root").exists()
    finally:
        shutil.rmtree(open_dir)
