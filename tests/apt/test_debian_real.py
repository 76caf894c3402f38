"""The real thing: debian-bookworm from the host's configured mirror, judged by real tools.

chroot runs the root; dpkg, dpkg --audit and apt-get check judge the package database; podman
judges the tarball (`podman import`) and the --dockerfile output (`podman build`). The packages
are cached under /var/cache/rootfs-bootstrap-tests so later runs download nothing.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest

from bootstrap.adapters.apt import hostapt

CACHE = Path("/var/cache/rootfs-bootstrap-tests/packages")
pytestmark = [pytest.mark.network, pytest.mark.slow]


def _mirror_reachable() -> str | None:
    import requests

    mirror, _ = hostapt.host_mirrors("debian")
    if not mirror:
        return None
    try:
        requests.head(f"{mirror.rstrip('/')}/dists/bookworm/InRelease", timeout=10).raise_for_status()
    except requests.RequestException:
        return None
    return mirror


@pytest.fixture(scope="module")
def mirror() -> str:
    if os.geteuid() != 0:
        pytest.skip("root mode needs root (chroot, mounts)")
    found = _mirror_reachable()
    if found is None:
        pytest.skip("the host's Debian mirror (from its apt sources) is not reachable")
    return found


def _build(args: list[str], **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bootstrap", *args], capture_output=True, text=True,
                          timeout=1200, **kw)


@pytest.fixture(scope="module")
def bookworm(mirror: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(tarball, unpacked root) of a root-mode minbase build, with its Dockerfile."""
    work = tmp_path_factory.mktemp("bookworm")
    out = work / "bookworm.tar.gz"
    done = _build(["debian-bookworm", "--variant", "minbase", "--mode", "root", "--cache-dir", str(CACHE),
                   "-o", str(out), "--dockerfile"])
    assert done.returncode == 0, done.stderr
    root = work / "root"
    root.mkdir()
    subprocess.run(["tar", "-xzf", str(out), "-C", str(root), "--numeric-owner"], check=True)
    return out, root


def _chroot(root: Path, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["chroot", str(root), "/bin/sh", "-c", command], capture_output=True, text=True,
                          env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"})


def test_root_runs_and_dpkg_is_happy(bookworm: tuple[Path, Path]) -> None:
    _, root = bookworm
    assert _chroot(root, "echo ok").stdout == "ok\n"
    states = _chroot(root, "dpkg-query -W -f='${db:Status-Abbrev} ${Package}\\n'").stdout.splitlines()
    assert len(states) > 50
    assert [s for s in states if not s.startswith("ii ")] == []
    audit = _chroot(root, "dpkg --audit")
    assert audit.returncode == 0 and audit.stdout == "" and audit.stderr == ""
    check = _chroot(root, "apt-get check")
    assert check.returncode == 0, check.stdout + check.stderr


def test_host_leftovers_removed(bookworm: tuple[Path, Path]) -> None:
    _, root = bookworm
    assert not list((root / "var/lib/apt/lists").glob("*_Packages"))
    assert not list((root / "var/cache/apt/archives").glob("*.deb"))
    machine_id = root / "etc/machine-id"
    assert not machine_id.exists() or machine_id.read_text() == ""


def test_tar_entries(bookworm: tuple[Path, Path]) -> None:
    out, _ = bookworm
    with tarfile.open(out) as tar:
        names = tar.getnames()
        passwd = tar.getmember("./usr/bin/passwd")
    assert names == sorted(names) and names[0] == "."
    assert all(name == "." or name.startswith("./") for name in names)
    assert passwd.mode & 0o4000 and passwd.uid == 0


@pytest.mark.skipif(shutil.which("podman") is None, reason="needs podman")
def test_podman_accepts_tarball_and_dockerfile(bookworm: tuple[Path, Path], tmp_path: Path) -> None:
    out, _ = bookworm
    # podman refuses a runroot path longer than 50 characters: pytest's tmp_path is longer.
    runroot = Path(tempfile.mkdtemp(prefix="podman-", dir="/tmp"))
    try:
        _podman_import_and_build(out, tmp_path / "storage", runroot)
    finally:
        shutil.rmtree(runroot, ignore_errors=True)


def _podman_import_and_build(out: Path, root: Path, run: Path) -> None:
    storage = ["--root", str(root), "--runroot", str(run), "--storage-driver", "vfs"]
    imported = subprocess.run(["podman", *storage, "import", str(out), "rootfs-bootstrap-test:import"],
                              capture_output=True, text=True)
    assert imported.returncode == 0, imported.stderr
    built = subprocess.run(["podman", *storage, "build", "-t", "rootfs-bootstrap-test:build", str(out.parent)],
                           capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    cmd = subprocess.run(["podman", *storage, "image", "inspect", "--format", "{{.Config.Cmd}}",
                          "rootfs-bootstrap-test:build"], capture_output=True, text=True)
    assert "/bin/bash" in cmd.stdout
