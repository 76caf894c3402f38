"""Local apt repositories for tests, made with the real tools (dpkg-deb, apt-ftparchive, gpg)
and served on 127.0.0.1 by a thread that stops with the fixture.

`build_repo(dir, debs, suite)` lays out `dists/<suite>/main/binary-amd64/Packages(.gz,.xz)` and
`pool/main/...`, writes Release with apt-ftparchive and signs it (InRelease + Release.gpg) with a
throwaway key made by `make_key`.
"""
from __future__ import annotations

import gzip
import io
import lzma
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Deb:
    """A tiny binary package: control fields and files (path → bytes, or a symlink target)."""

    name: str
    version: str = "1.0"
    arch: str = "amd64"
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    symlinks: dict[str, str] = field(default_factory=dict)
    modes: dict[str, int] = field(default_factory=dict)
    scripts: dict[str, str] = field(default_factory=dict)
    # path → (stat.S_IFCHR or S_IFBLK | permission bits, major, minor); made with mknod (root)
    devices: dict[str, tuple[int, int, int]] = field(default_factory=dict)


def build_deb(deb: Deb, outdir: Path) -> Path:
    """dpkg-deb --build of a tree made from `deb` (root-owned entries via --root-owner-group)."""
    tree = outdir / f"tree-{deb.name}"
    shutil.rmtree(tree, ignore_errors=True)
    (tree / "DEBIAN").mkdir(parents=True)
    control = {"Package": deb.name, "Version": deb.version, "Architecture": deb.arch,
               "Maintainer": "Test <test@example.invalid>", "Description": f"test package {deb.name}",
               **deb.fields}
    (tree / "DEBIAN" / "control").write_text("".join(f"{k}: {v}\n" for k, v in control.items()))
    for name, text in deb.scripts.items():
        script = tree / "DEBIAN" / name
        script.write_text(text)
        script.chmod(0o755)
    for path, data in deb.files.items():
        target = tree / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        target.chmod(deb.modes.get(path, 0o644))
    for path, dest in deb.symlinks.items():
        link = tree / path.lstrip("/")
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(dest)
    for path, (mode, major, minor) in deb.devices.items():
        node = tree / path.lstrip("/")
        node.parent.mkdir(parents=True, exist_ok=True)
        os.mknod(node, mode, os.makedev(major, minor))
        os.chmod(node, mode & 0o7777)
    out = outdir / f"{deb.name}_{deb.version}_{deb.arch}.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(tree), str(out)],
                   check=True, capture_output=True)
    shutil.rmtree(tree)
    return out


def build_evil_deb(name: str, members: list[tarfile.TarInfo], outdir: Path,
                   contents: dict[str, bytes] | None = None) -> Path:
    """A .deb whose data.tar holds exactly `members` (e.g. `../escape`), which dpkg-deb would
    refuse to build: assembled with Python's tarfile and binutils' ar."""
    contents = contents or {}
    work = outdir / f"evil-{name}"
    work.mkdir(parents=True, exist_ok=True)
    (work / "debian-binary").write_text("2.0\n")
    control = (f"Package: {name}\nVersion: 1.0\nArchitecture: amd64\nMaintainer: T <t@e.invalid>\n"
               f"Description: evil\n").encode()
    _write_tar(work / "control.tar.gz", [_file_info("./control", control)], {"./control": control})
    _write_tar(work / "data.tar.gz", members, contents)
    out = outdir / f"{name}_1.0_amd64.deb"
    subprocess.run(["ar", "rc", str(out), "debian-binary", "control.tar.gz", "data.tar.gz"],
                   cwd=work, check=True)
    shutil.rmtree(work)
    return out


def _file_info(name: str, data: bytes, mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    return info


def _write_tar(path: Path, members: list[tarfile.TarInfo], contents: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz", format=tarfile.GNU_FORMAT) as tar:
        for info in members:
            data = contents.get(info.name)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)


def make_key(home: Path, name: str = "Test Archive") -> Path:
    """A throwaway signing key in GNUPGHOME `home`; returns its exported public keyring (.gpg)."""
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    env = {**os.environ, "GNUPGHOME": str(home)}
    subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key",
                    f"{name} <archive@example.invalid>", "rsa2048", "sign", "never"],
                   env=env, check=True, capture_output=True)
    keyring = home / "public.gpg"
    with keyring.open("wb") as out:
        subprocess.run(["gpg", "--export"], env=env, check=True, stdout=out)
    return keyring


def build_repo(root: Path, debs: list[Path], gnupghome: Path, suite: str = "bookworm",
               arch: str = "amd64", *, date: str | None = None, valid_until: str | None = None) -> None:
    """An apt archive at `root` holding `debs`, signed with the key in `gnupghome`. `date`
    replaces the Release's Date (apt-ftparchive's Release::Date) and `valid_until` adds a
    Valid-Until (RFC 2822 dates, as `Sat, 21 Nov 2026 00:53:02 UTC`). `arch` may name several
    architectures ("amd64 arm64"): each gets the same index (of Architecture: all packages, say)."""
    pool = root / "pool" / "main"
    pool.mkdir(parents=True, exist_ok=True)
    for deb in debs:
        shutil.copy2(deb, pool / deb.name)
    packages = subprocess.run(["apt-ftparchive", "packages", "pool"], cwd=root, check=True,
                              capture_output=True).stdout
    for word in arch.split():  # "amd64 arm64": one index per architecture, each listing the pool
        bindir = root / "dists" / suite / "main" / f"binary-{word}"
        bindir.mkdir(parents=True, exist_ok=True)
        (bindir / "Packages").write_bytes(packages)
        (bindir / "Packages.gz").write_bytes(gzip.compress(packages, mtime=0))
        (bindir / "Packages.xz").write_bytes(lzma.compress(packages))
    dated = ["-o", f"APT::FTPArchive::Release::Date={date}"] if date else []
    release = subprocess.run(
        ["apt-ftparchive", *dated, "-o", f"APT::FTPArchive::Release::Suite={suite}",
         "-o", f"APT::FTPArchive::Release::Codename={suite}",
         "-o", f"APT::FTPArchive::Release::Architectures={arch}",
         "-o", "APT::FTPArchive::Release::Components=main", "release", f"dists/{suite}"],
        cwd=root, check=True, capture_output=True).stdout
    if valid_until:
        head, sep, rest = release.partition(b"\nMD5Sum:")
        release = head + f"\nValid-Until: {valid_until}".encode() + sep + rest
    dist = root / "dists" / suite
    (dist / "Release").write_bytes(release)
    env = {**os.environ, "GNUPGHOME": str(gnupghome)}
    for args, out in ((["--clearsign"], "InRelease"), (["--detach-sign", "--armor"], "Release.gpg")):
        (dist / out).unlink(missing_ok=True)
        subprocess.run(["gpg", "--batch", "--yes", *args, "-o", str(dist / out), str(dist / "Release")],
                       env=env, check=True, capture_output=True)


