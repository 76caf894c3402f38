"""Same inputs → byte-identical output, on any machine (issue 12), through the command line, on
the local test mirror of every family (apt: tests/apt/aptrepo.py, yum: the `vault` of
tests/yum/yumrepo.py, apk: tests/apk/apkrepo.py with the real minirootfs; all on 127.0.0.1):

- two builds give the same sha256 of the .tar.gz and the same OCI manifest digest, with pigz
  (and xz, zstd) on PATH and without: the compressors are in-process (bootstrap.pack.compress);
- without SOURCE_DATE_EPOCH the epoch is the newest file time of the packages (the newest tar
  mtime, the OCI `created`, what the maintainer scripts saw), with it that value;
- mode extract as root and as uid 65534 pack the same bytes (owners from the manifests);
- the image carries nothing of the build host (bootstrap.scrub and the adapters' cleanup);
- a SOURCE_DATE_EPOCH that is no number stops the build with one line.

Every build goes through `build_argv`, so builds from a lock file can be added as variants.
The unit tests of bootstrap.epoch and bootstrap.scrub are at the end.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from bootstrap.epoch import build_epoch
from bootstrap.errors import UsageError
from bootstrap.root import Root
from bootstrap.scrub import scrub
from bootstrap.types import FileEntry
from tests import nobody
from tests.apk.apkrepo import ApkSpec, make_key
from tests.apk.test_cli_apk import MINI16, _hello, _releases, _repos
from tests.apt.aptrepo import Deb, build_deb, build_repo
from tests.apt.aptrepo import make_key as make_gpg_key
from tests.core.unpack_helpers import need
from tests.server import Server
from tests.yum.yumrepo import Vault

REPO = Path(__file__).resolve().parents[2]
EPOCH = 1600000000  # older than every package here: everything is clamped to it
# The tools the packer used to run when installed; none may matter now.
TOOLS = {"pigz", "xz", "zstd"}
FAMILIES = ("apt", "yum", "apk")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root: mode root, device nodes in the test debs, setpriv to 65534")]


@dataclass(frozen=True)
class Mirror:
    """One family's served test mirror and what to build from it. `request` is the profile and
    the options that choose the packages; `mode` the mode that runs scripts where the mirror
    allows it (the apt archive has no dpkg: extract); `devices` the nodes its packages ship."""

    url: str
    keyring: Path
    request: tuple[str, ...]
    mode: str
    devices: tuple[str, ...] = ()


def build_argv(mirror: Mirror, out: Path, cache: Path, *, fmt: str = "tar", mode: str | None = None) -> list[str]:
    """The command line (after `rootfs-bootstrap`) of one build of `mirror` into `out`. No
    SBOM: it is compared nowhere here."""
    return [*mirror.request, "--mirror", mirror.url, "--keyring", str(mirror.keyring),
            "--mode", mode or mirror.mode, "--format", fmt, "--cache-dir", str(cache),
            "--sbom-format", "none", "-q", "-o", str(out)]


def cli(argv: list[str], *, path: str | None = None, epoch: str | None = None) -> subprocess.CompletedProcess[str]:
    """`rootfs-bootstrap ARGV` from the source tree, with PATH replaced when `path` is given and
    SOURCE_DATE_EPOCH set to `epoch` (or unset, whatever the test runner had)."""
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    if path is not None:
        env["PATH"] = path
    if epoch is not None:
        env["SOURCE_DATE_EPOCH"] = epoch
    return subprocess.run([sys.executable, "-m", "bootstrap", *argv], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=600)


def built(argv: list[str], **kw: str | None) -> None:
    done = cli(argv, **kw)
    assert done.returncode == 0, done.stderr


def path_without(where: Path, tools: set[str]) -> str:
    """A PATH that finds every program the host's PATH finds but `tools`: one directory of
    symlinks to them (the first of each name, as PATH lookup picks)."""
    where.mkdir()
    for directory in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(directory):
            continue
        for name in sorted(os.listdir(directory)):
            if name not in tools and not os.path.lexists(where / name):
                (where / name).symlink_to(Path(directory) / name)
    assert all(shutil.which(tool, path=str(where)) is None for tool in tools)
    return str(where)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def oci_digest(layout: Path) -> str:
    """The image manifest's digest, as index.json names it."""
    return str(json.loads((layout / "index.json").read_text())["manifests"][0]["digest"])


def oci_created(layout: Path) -> str:
    blobs = layout / "blobs" / "sha256"
    manifest = json.loads((blobs / oci_digest(layout).removeprefix("sha256:")).read_bytes())
    config = json.loads((blobs / manifest["config"]["digest"].removeprefix("sha256:")).read_bytes())
    return str(config["created"])


def members(tarball: Path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(tarball) as tar:
        return {m.name: m for m in tar.getmembers()}


def content(tarball: Path, name: str) -> bytes:
    with tarfile.open(tarball) as tar:
        data = tar.extractfile(name)
        assert data is not None
        return data.read()


# --- the mirrors ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def apt_mirror(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mirror]:
    """A signed archive: a busybox base, an apt stand-in, a setuid file and a device node."""
    need("apt-ftparchive", "gpg", "busybox")
    work = tmp_path_factory.mktemp("repro-apt")
    busybox = Path(shutil.which("busybox") or "/bin/busybox").read_bytes()
    debs = [
        Deb("tiny-base", fields={"Priority": "required", "Essential": "yes"}, files={"/bin/busybox": busybox},
            modes={"/bin/busybox": 0o755}, symlinks={"/bin/sh": "busybox"}),
        Deb("apt", fields={"Priority": "important"}, files={"/usr/bin/apt-get": b"#!/bin/sh\n"},
            modes={"/usr/bin/apt-get": 0o755}),
        Deb("tiny-suid", fields={"Priority": "required"}, files={"/usr/bin/suidtool": b"#!/bin/sh\n"},
            modes={"/usr/bin/suidtool": 0o4755}),
        Deb("tiny-dev", fields={"Priority": "required"}, devices={"/dev/tiny0": (stat.S_IFCHR | 0o660, 240, 0)}),
    ]
    keyring = make_gpg_key(work / "gnupg")
    build_repo(work / "mirror", [build_deb(d, work / "debs") for d in debs], work / "gnupg")
    with Server(work / "mirror") as server:
        yield Mirror(server.url, keyring, ("debian-bookworm", "--variant", "minbase"), "extract",
                     ("./dev/tiny0",))


@pytest.fixture(scope="module")
def yum_mirror(vault: Vault) -> Mirror:
    """The vault; mode root runs hello's %post in the 32-bit chroot."""
    return Mirror(vault.url, vault.key, ("centos4.3", "--variant", "custom", "--include", "hello"), "root")


# Writes what its maintainer script saw of SOURCE_DATE_EPOCH into the image.
PROBE = ApkSpec("epoch-probe", depends=("busybox",),
                files={"var": ("dir",), "var/lib": ("dir",), "var/lib/epoch-probe": ("dir",)},
                scripts={".post-install": '#!/bin/sh\nprintf %s "$SOURCE_DATE_EPOCH" > /var/lib/epoch-probe/seen\n'})


@pytest.fixture(scope="module")
def apk_mirror(realdata: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mirror]:
    """The 3.16.9 minirootfs seed, hello-apk and the epoch probe; mode root runs the scripts."""
    need("openssl")
    work = tmp_path_factory.mktemp("repro-apk")
    key = make_key(work / "keys")
    _releases(work / "mirror", "v3.16", "x86_64", realdata / "apk" / "minirootfs" / MINI16, yaml=True)
    _repos(work / "mirror", "v3.16", "x86_64", key, [_hello(), PROBE])
    with Server(work / "mirror") as server:
        yield Mirror(server.url, key.public, ("alpine3.16", "--include", "hello-apk,epoch-probe"), "root")


@pytest.fixture(params=FAMILIES)
def mirror(request: pytest.FixtureRequest) -> Mirror:
    """Each family's mirror in turn."""
    found: Mirror = request.getfixturevalue(f"{request.param}_mirror")
    return found


# --- the builds ----------------------------------------------------------------------------

def test_two_builds_same_digests_with_and_without_pigz(mirror: Mirror, tmp_path: Path) -> None:
    """tar.gz and OCI: the same bytes from a PATH with pigz/xz/zstd and one without; the
    derived epoch is the newest time in the image, its OCI `created` and what scripts saw."""
    need(*TOOLS)  # the host has them (make install): the comparison means something
    bare = path_without(tmp_path / "bin", TOOLS)
    tars = [tmp_path / "with.tar.gz", tmp_path / "without.tar.gz"]
    layouts = [tmp_path / "with-oci", tmp_path / "without-oci"]
    for tarball, layout, path in zip(tars, layouts, (None, bare), strict=True):
        built(build_argv(mirror, tarball, tmp_path / "cache"), path=path)
        built(build_argv(mirror, layout, tmp_path / "cache", fmt="oci"), path=path)
    assert sha256(tars[0]) == sha256(tars[1])
    assert oci_digest(layouts[0]) == oci_digest(layouts[1])
    found = members(tars[0])
    epoch = max(m.mtime for m in found.values())  # the root itself, made by the tool, is clamped to it
    assert found["."].mtime == epoch <= time.time()
    assert oci_created(layouts[0]) == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
    if "./var/lib/epoch-probe/seen" in found:
        assert content(tars[0], "./var/lib/epoch-probe/seen") == str(epoch).encode()
    no_host_traces(tars[0], mirror)


def test_source_date_epoch_is_the_date(mirror: Mirror, tmp_path: Path) -> None:
    """SOURCE_DATE_EPOCH set: every time is clamped to it and scripts see it; still one digest."""
    tars = [tmp_path / "1.tar.gz", tmp_path / "2.tar.gz"]
    for tarball, path in zip(tars, (None, path_without(tmp_path / "bin", TOOLS)), strict=True):
        built(build_argv(mirror, tarball, tmp_path / "cache"), path=path, epoch=str(EPOCH))
    assert sha256(tars[0]) == sha256(tars[1])
    assert {m.mtime for m in members(tars[0]).values()} == {EPOCH}
    if "./var/lib/epoch-probe/seen" in members(tars[0]):
        assert content(tars[0], "./var/lib/epoch-probe/seen") == str(EPOCH).encode()


def test_extract_as_root_and_as_nobody_same_bytes(mirror: Mirror, tmp_path: Path) -> None:
    """Mode extract as root and as uid 65534 (tests/nobody.py: a copy of the tree, Debian's
    python3): owners, modes and device nodes come from the manifests, so the bytes agree."""
    need("setpriv")
    as_root = tmp_path / "root.tar.gz"
    built(build_argv(mirror, as_root, tmp_path / "cache", mode="extract"))
    work = nobody.workdir()
    try:
        tree = nobody.source_tree(work)
        keyring = work / mirror.keyring.name  # the fixtures' keys sit in 0700 directories
        shutil.copy(mirror.keyring, keyring)
        (work / "out").mkdir()
        nobody.give(work)
        out = work / "out" / "nobody.tar.gz"
        done = nobody.run(build_argv(replace(mirror, keyring=keyring), out, work / "cache", mode="extract"),
                          work, tree, timeout=600)
        assert done.returncode == 0, done.stderr
        assert sha256(out) == sha256(as_root)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_bad_source_date_epoch_is_one_line(apt_mirror: Mirror, tmp_path: Path) -> None:
    out = tmp_path / "x.tar.gz"
    done = cli(build_argv(apt_mirror, out, tmp_path / "cache"), epoch="yesterday")
    assert done.returncode == UsageError.exit_code
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "SOURCE_DATE_EPOCH" in errors[0]
    assert not out.exists()


def no_host_traces(tarball: Path, mirror: Mirror) -> None:
    """Nothing in the image that tells the build host or moment (bootstrap.scrub, the adapters'
    cleanup); /dev holds the packages' own nodes only (never made on disk: tar headers)."""
    found = members(tarball)
    # The runner copies the host's resolv.conf in for the scripts; Alpine ships a hostname.
    for name in ("etc/resolv.conf", "etc/hostname"):
        host = Path("/") / name
        if f"./{name}" in found and host.is_file() and host.read_bytes().strip() not in (b"", b"localhost"):
            assert content(tarball, f"./{name}") != host.read_bytes(), name
    if "./etc/machine-id" in found:
        assert found["./etc/machine-id"].size == 0
    left = [n for n in found if n.startswith(("./tmp/", "./var/tmp/", "./var/cache/apk/", "./var/cache/yum/",
                                                "./var/lib/apt/lists/partial/"))
            or (n.startswith("./run/") and not n.startswith("./run/lock"))
            or (n.startswith("./var/log/") and n.endswith(".log"))
            or "/__db." in n or n.endswith(("/aux-cache", "/dbus/machine-id", ".rpm.lock"))]
    assert left == []
    nodes = sorted(n for n, m in found.items() if n.startswith("./dev/") and not m.isdir())
    assert nodes == sorted(mirror.devices)
    for name in mirror.devices:
        assert found[name].ischr() and (found[name].devmajor, found[name].uid) == (240, 0)


# --- bootstrap.epoch and bootstrap.scrub ---------------------------------------------------

def _entry(path: str, mtime: int) -> FileEntry:
    return FileEntry(path, "file", 0o644, 0, 0, mtime)


def test_epoch_from_the_content_and_the_environment() -> None:
    entries = [_entry("a", 1000), _entry("b", 3000), _entry("c", 2000)]
    assert build_epoch(entries, environ={}, now=5000) == 3000
    assert build_epoch(entries, environ={}, now=9_000_000) == 3000  # rebuilt tomorrow: the same
    assert build_epoch(entries, environ={}, now=2500) == 2500  # a package from the future: now
    assert build_epoch([], environ={}, now=5000) == 0
    assert build_epoch(entries, environ={"SOURCE_DATE_EPOCH": "42"}, now=5000) == 42
    assert build_epoch(entries, environ={"SOURCE_DATE_EPOCH": ""}, now=5000) == 3000  # empty: unset
    for bad in ("yesterday", "-5", "1.5"):
        with pytest.raises(UsageError, match="SOURCE_DATE_EPOCH"):
            build_epoch(entries, environ={"SOURCE_DATE_EPOCH": bad})


def test_scrub_removes_host_traces_only(tmp_path: Path) -> None:
    root = tmp_path / "root"
    files = {"etc/machine-id": "0123456789abcdef\n", "var/lib/dbus/machine-id": "0123\n",
             "var/cache/ldconfig/aux-cache": "x", "tmp/x": "x", "tmp/d/y": "y", "run/lock/kept": "",
             "run/utmp": "x", "etc/passwd": "root:x:0:0::/root:/bin/sh\n", "var/lib/thing": "kept"}
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    os.chmod(root / "etc/machine-id", 0o444)
    scrub(Root(root))
    left = sorted(str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir())
    assert left == ["etc/machine-id", "etc/passwd", "run/lock/kept", "var/lib/thing"]
    assert (root / "etc/machine-id").read_bytes() == b""  # empty, not absent: machine-id(5)
    assert stat.S_IMODE((root / "etc/machine-id").stat().st_mode) == 0o444
    assert (root / "tmp").is_dir() and (root / "run/lock").is_dir()


def test_scrub_never_follows_a_link_out_of_the_root(tmp_path: Path) -> None:
    """A package's /etc/machine-id, /tmp or dbus machine-id as a symlink to the host's (an
    absolute link into /tmp loops inside the root, whose own /tmp is that link): the host's
    files are untouched, the links in the root are left or removed, never written through."""
    outside = tmp_path / "host"
    (outside / "tmp").mkdir(parents=True)
    (outside / "tmp/precious").write_text("p")
    (outside / "machine-id").write_text("host id\n")
    roots = [tmp_path / "a", tmp_path / "b"]
    (roots[0] / "etc").mkdir(parents=True)
    (roots[0] / "etc/machine-id").symlink_to(outside / "machine-id")
    (roots[0] / "tmp").symlink_to("../../../../../../../../host/tmp")  # `..` stops at the root
    (roots[1] / "etc").mkdir(parents=True)
    (roots[1] / "etc/machine-id").symlink_to(outside / "machine-id")
    (roots[1] / "tmp").symlink_to(outside / "tmp")
    (roots[1] / "var/lib/dbus").mkdir(parents=True)
    (roots[1] / "var/lib/dbus/machine-id").symlink_to(outside / "machine-id")
    for root in roots:
        scrub(Root(root))
        assert (root / "etc/machine-id").is_symlink() and (root / "tmp").is_symlink()
    assert not os.path.lexists(roots[1] / "var/lib/dbus/machine-id")
    assert (outside / "machine-id").read_text() == "host id\n"
    assert (outside / "tmp/precious").read_text() == "p"
