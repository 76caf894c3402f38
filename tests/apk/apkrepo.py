"""Test plumbing for the apk family: fixture paths, a real Alpine minirootfs as the judge, and a
builder for small signed apk repositories made the way abuild makes them.

`make_apk` writes a real .apk: a signature gzip stream (`.SIGN.RSA.<key>.rsa.pub`, RSA/SHA-1 by a
throwaway key from `openssl genrsa`), a control stream (`.PKGINFO` with `datahash`, scripts) and a
data stream whose regular files and symlinks carry abuild-tar's `APK-TOOLS.checksum.SHA1` PAX
header. `make_index` writes an APKINDEX.tar.gz signed the same way.
"""
from __future__ import annotations

import base64
import gzip
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bootstrap.errors import ChecksumError
from bootstrap.types import Checksum, FetchItem
from tests.conftest import REALDATA

DATA = Path(__file__).resolve().parent.parent / "data" / "apk"
REAL_APK = REALDATA / "apk"
MINIROOTFS = REAL_APK / "minirootfs"


def real(path: str) -> Path:
    """A file under realdata/apk, or a clean skip when realdata is absent."""
    full = REAL_APK / path
    if not full.exists():
        pytest.skip(f"{full} is absent (real fixture data lives beside the repository)")
    return full


def need_root_chroot() -> None:
    if os.geteuid() != 0:
        pytest.skip("running the real apk in a chroot needs root")


def extract_minirootfs(name: str, dest: Path) -> Path:
    """Unpack a real minirootfs tarball (owners, modes, devices as published) into `dest`."""
    tarball = real(f"minirootfs/{name}")
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-xzf", str(tarball), "-C", str(dest), "--numeric-owner"], check=True)
    return dest


def chroot(root: Path, script: str, *, check: bool = True, linux32: bool = False) -> subprocess.CompletedProcess[str]:
    """Run `script` with /bin/sh inside `root` (no mounts: apk needs none of /proc, /dev)."""
    argv = ["chroot", str(root), "/bin/sh", "-c", script]
    if linux32:
        argv = ["setarch", "linux32"] + argv
    done = subprocess.run(argv, capture_output=True, text=True, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    if check and done.returncode != 0:
        raise AssertionError(f"{script!r} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


@dataclass(frozen=True)
class Key:
    """A throwaway RSA key pair; `name` is the file name apk looks the public half up by."""

    name: str
    private: Path
    public: Path


def make_key(directory: Path, name: str = "test@example.org-1.rsa.pub") -> Key:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    directory.mkdir(parents=True, exist_ok=True)
    private = directory / (name.removesuffix(".pub") + ".priv")
    public = directory / name
    subprocess.run(["openssl", "genrsa", "-out", str(private), "2048"], check=True, capture_output=True)
    subprocess.run(["openssl", "rsa", "-in", str(private), "-pubout", "-out", str(public)],
                   check=True, capture_output=True)
    return Key(name, private, public)


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def _tar(entries: list[tarfile.TarInfo], contents: dict[str, bytes], *, end: bool = True) -> bytes:
    buf = io.BytesIO()
    tar = tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT)
    for info in entries:
        tar.addfile(info, io.BytesIO(contents[info.name]) if info.isfile() else None)
    if end:
        tar.close()
    # Without close() no end-of-archive blocks are written: fragments concatenate, as abuild's do.
    return buf.getvalue()


def _sign(key: Key, data: bytes) -> bytes:
    done = subprocess.run(["openssl", "dgst", "-sha1", "-sign", str(key.private)], input=data,
                          check=True, capture_output=True)
    return done.stdout


def _signature_stream(key: Key, control: bytes) -> bytes:
    info = tarfile.TarInfo(f".SIGN.RSA.{key.name}")
    sig = _sign(key, control)
    info.size, info.mode, info.uname, info.gname = len(sig), 0o644, "root", "root"
    return _gzip(_tar([info], {info.name: sig}, end=False))


# A path's content in a test package: bytes for a file, ("dir",), ("symlink", target),
# ("hardlink", target), or ("char" | "block", major, minor).
FileSpec = bytes | tuple[str, ...] | tuple[str, int, int]
_DEVICES = {"char": tarfile.CHRTYPE, "block": tarfile.BLKTYPE}


@dataclass
class ApkSpec:
    """What goes into a test package. `files` maps path → content (bytes) or `("dir",)`,
    `("symlink", target)`, `("hardlink", target)`, `("char" | "block", major, minor)`;
    `owners` maps path → (uname, gname, uid, gid, mode). `origin` defaults to the name."""

    name: str
    version: str = "1.0-r0"
    arch: str = "x86_64"
    files: dict[str, FileSpec] = field(default_factory=dict)
    owners: dict[str, tuple[str, str, int, int, int]] = field(default_factory=dict)
    depends: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()
    scripts: dict[str, str] = field(default_factory=dict)
    triggers: tuple[str, ...] = ()
    replaces: tuple[str, ...] = ()
    origin: str = ""


def _data_stream(spec: ApkSpec) -> bytes:
    entries, contents = [], {}
    for path in sorted(spec.files):
        value = spec.files[path]
        info = tarfile.TarInfo(path)
        info.mtime = 1700000000
        uname, gname, uid, gid, mode = spec.owners.get(path, ("root", "root", 0, 0, -1))
        info.uname, info.gname, info.uid, info.gid = uname, gname, uid, gid
        if isinstance(value, bytes):
            info.size, info.mode = len(value), 0o644 if mode < 0 else mode
            info.pax_headers = {"APK-TOOLS.checksum.SHA1": hashlib.sha1(value).hexdigest()}
            contents[path] = value
        elif value[0] == "dir":
            info.type, info.mode = tarfile.DIRTYPE, 0o755 if mode < 0 else mode
        elif value[0] == "hardlink":
            info.type, info.linkname, info.mode = tarfile.LNKTYPE, str(value[1]), 0o644 if mode < 0 else mode
        elif value[0] in _DEVICES:
            info.type, info.mode = _DEVICES[str(value[0])], 0o666 if mode < 0 else mode
            info.devmajor, info.devminor = int(value[1]), int(value[2])
        else:
            target = str(value[1])
            info.type, info.linkname, info.mode = tarfile.SYMTYPE, target, 0o777
            info.pax_headers = {"APK-TOOLS.checksum.SHA1": hashlib.sha1(target.encode()).hexdigest()}
        entries.append(info)
    return _gzip(_tar(entries, contents))


def make_apk(spec: ApkSpec, key: Key, directory: Path) -> Path:
    """Write `<name>-<version>.apk` into `directory`; returns its path."""
    data = _data_stream(spec)
    size = sum(len(v) for v in spec.files.values() if isinstance(v, bytes))
    lines = [f"pkgname = {spec.name}", f"pkgver = {spec.version}", f"pkgdesc = test package {spec.name}",
             "url = https://example.org/", "builddate = 1700000000", "packager = tests",
             f"size = {size}", f"arch = {spec.arch}", f"origin = {spec.origin or spec.name}", "license = MIT"]
    lines += [f"depend = {d}" for d in spec.depends] + [f"provides = {p}" for p in spec.provides]
    lines += [f"replaces = {r}" for r in spec.replaces]
    lines += [f"triggers = {t}" for t in spec.triggers]
    lines.append(f"datahash = {hashlib.sha256(data).hexdigest()}")
    members = {".PKGINFO": ("\n".join(lines) + "\n").encode()}
    members.update({name: body.encode() for name, body in spec.scripts.items()})
    infos = []
    for name in members:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.uname, info.gname = len(members[name]), 1700000000, "root", "root"
        info.mode = 0o755 if name.startswith(".") and name != ".PKGINFO" else 0o644
        infos.append(info)
    control = _gzip(_tar(infos, members, end=False))
    path = directory / f"{spec.name}-{spec.version}.apk"
    directory.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_signature_stream(key, control) + control + data)
    return path


def apk_stanza(path: Path) -> str:
    """The APKINDEX stanza apk index would write for a .apk made by make_apk."""
    from bootstrap.adapters.apk.package import read_apk

    apk = read_apk(path.read_bytes(), path.name)
    info = dict(apk.pkginfo)
    out = [f"C:{apk.checksum}", f"P:{info['pkgname']}", f"V:{info['pkgver']}", f"A:{info['arch']}",
           f"S:{path.stat().st_size}", f"I:{info['size']}", f"T:{info['pkgdesc']}", f"U:{info['url']}",
           f"L:{info['license']}", f"o:{info['origin']}", f"t:{info['builddate']}"]
    deps = [v for k, v in apk.pkginfo if k == "depend"]
    provides = [v for k, v in apk.pkginfo if k == "provides"]
    if deps:
        out.append("D:" + " ".join(deps))
    if provides:
        out.append("p:" + " ".join(provides))
    return "\n".join(out) + "\n"


def make_index(directory: Path, key: Key, description: str = "test repository", *,
               mtime: int = 1700000000) -> Path:
    """APKINDEX.tar.gz over every .apk in `directory`, signed by `key`; its entries dated `mtime`
    (as `apk index` dates them with the time it ran; apko writes 0)."""
    text = "\n".join(apk_stanza(p) for p in sorted(directory.glob("*.apk"))) + "\n"
    members = {"DESCRIPTION": description.encode(), "APKINDEX": text.encode()}
    infos = []
    for name, body in members.items():
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = len(body), 0o644, mtime
        infos.append(info)
    control = _gzip(_tar(infos, members))
    path = directory / "APKINDEX.tar.gz"
    path.write_bytes(_signature_stream(key, control) + control)
    return path


def q1(content: bytes) -> str:
    return "Q1" + base64.b64encode(hashlib.sha1(content).digest()).decode()


class DirFetcher:
    """The Fetcher protocol over file:// URLs (a directory laid out like a mirror or the CDN),
    checking the digests it is given, without a cache."""

    def forget(self, item: FetchItem) -> None:
        """Nothing is cached here: nothing to forget."""

    def try_get_bytes(self, url: str) -> bytes | None:
        path = Path(url.removeprefix("file://"))
        return path.read_bytes() if path.is_file() else None

    def get_bytes(self, url: str, checksums: Sequence[Checksum] = (), size: int = 0) -> bytes:
        return self.get_file(FetchItem(url, tuple(checksums), size)).read_bytes()

    def get_file(self, item: FetchItem) -> Path:
        path = Path(item.url.removeprefix("file://"))
        for checksum in item.checksums:
            if hashlib.new(checksum.algo, path.read_bytes()).hexdigest() != checksum.hexdigest:
                raise ChecksumError(f"{item.url}: {checksum.algo} mismatch")
        return path

    def get_many(self, items: Sequence[FetchItem],
                 on_done: Callable[[int, Path], None] | None = None) -> list[Path]:
        paths = [self.get_file(item) for item in items]
        for i, path in enumerate(paths):
            if on_done is not None:
                on_done(i, path)
        return paths
