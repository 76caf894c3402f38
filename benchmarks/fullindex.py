"""The full-index apt mirror of `make bench`: the bench's minbase .debs under the host's whole
bookworm main Packages index.

`full_mirror(work, subset, gnupghome)` takes the subset mirror benchmarks/run.py makes (its pool
and the Packages apt-ftparchive wrote for it) and the host's apt list of bookworm main
(/var/lib/apt/lists/*bookworm_main_binary-amd64_Packages.lz4, read with `lz4 -dc`), and lays out
beside it a mirror whose index is that list with every stanza kept byte for byte, except the
stanzas of the packages the mirror really serves: each of those (every stanza of that name) is
replaced, where its first one stood, by the stanza apt-ftparchive wrote for the served .deb, so
Filename, Size and digests match the file served. A served package the list lacks is appended.
The other ~63,300 stanzas point at files that are never fetched.

It is published as the Debian archive publishes main: Packages.gz (gzip -9n) and Packages.xz
(xz -6, multi-threaded: several blocks, as large real indexes have), the uncompressed Packages
listed with its size and digests in the Release's MD5Sum/SHA256 sections but not served, the
Release written by apt-ftparchive as tests/apt/aptrepo.py writes it, signed (InRelease and
Release.gpg) with the bench key in `gnupghome`.
"""
from __future__ import annotations

import glob
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

HOST_LIST = "/var/lib/apt/lists/*_bookworm_main_binary-amd64_Packages.lz4"
_NAME = re.compile(rb"^Package:[ \t]*(\S+)", re.MULTILINE)


@dataclass(frozen=True)
class FullIndex:
    """The mirror's root and what its index holds."""

    root: Path
    stanzas: int
    replaced: int
    appended: int
    source: Path


def host_list() -> Path:
    """The host's apt list of bookworm main for amd64 (exits the bench when there is none)."""
    found = sorted(glob.glob(HOST_LIST))
    if not found:
        raise SystemExit(f"bench: no {HOST_LIST} (run apt-get update on a bookworm host)")
    return Path(found[0])


def _stanzas(data: bytes) -> list[bytes]:
    """The non-empty paragraphs of a Packages file, each without its separating blank line."""
    return [s.strip(b"\n") for s in re.split(rb"\n[ \t]*\n", data) if s.strip()]


def _name(stanza: bytes) -> bytes:
    found = _NAME.search(stanza)
    if found is None:
        raise SystemExit(f"bench: a stanza without Package: {stanza[:200]!r}")
    return found.group(1)


def merge(full: bytes, served: bytes) -> tuple[bytes, int, int]:
    """`full` with the stanzas of every package named in `served` replaced by `served`'s;
    returns (the index, stanzas replaced, served stanzas appended for lack of a place)."""
    mine: dict[bytes, list[bytes]] = {}
    for stanza in _stanzas(served):
        mine.setdefault(_name(stanza), []).append(stanza)
    out: list[bytes] = []
    placed: set[bytes] = set()
    replaced = 0
    for stanza in _stanzas(full):
        name = _name(stanza)
        if name not in mine:
            out.append(stanza)
            continue
        replaced += 1
        if name not in placed:
            placed.add(name)
            out.extend(mine[name])
    extra = [s for name, group in mine.items() if name not in placed for s in group]
    return b"\n\n".join(out + extra) + b"\n", replaced, len(extra)


def publish(root: Path, packages: bytes, gnupghome: Path, suite: str = "bookworm") -> None:
    """dists/<suite>/main/binary-amd64/Packages.{gz,xz} and a signed Release listing those and the
    (unserved) uncompressed Packages."""
    bindir = root / "dists" / suite / "main" / "binary-amd64"
    bindir.mkdir(parents=True, exist_ok=True)
    plain = bindir / "Packages"
    plain.write_bytes(packages)
    with open(bindir / "Packages.gz", "wb") as out:
        subprocess.run(["gzip", "-9n", "-c", str(plain)], stdout=out, check=True)
    with open(bindir / "Packages.xz", "wb") as out:
        subprocess.run(["xz", "-6", "-T0", "-c", str(plain)], stdout=out, check=True)
    release = subprocess.run(
        ["apt-ftparchive", "-o", f"APT::FTPArchive::Release::Suite={suite}",
         "-o", f"APT::FTPArchive::Release::Codename={suite}",
         "-o", "APT::FTPArchive::Release::Architectures=amd64",
         "-o", "APT::FTPArchive::Release::Components=main", "release", f"dists/{suite}"],
        cwd=root, check=True, capture_output=True).stdout
    plain.unlink()  # listed, not served: as the Debian archive does for main
    dist = root / "dists" / suite
    (dist / "Release").write_bytes(release)
    env = {**os.environ, "GNUPGHOME": str(gnupghome)}
    for args, name in ((["--clearsign"], "InRelease"), (["--detach-sign", "--armor"], "Release.gpg")):
        subprocess.run(["gpg", "--batch", "--yes", *args, "-o", str(dist / name), str(dist / "Release")],
                       env=env, check=True, capture_output=True)


def full_mirror(work: Path, subset: Path, gnupghome: Path) -> FullIndex:
    """The full-index mirror in `work`/full-mirror, its pool hard links to `subset`'s."""
    root = work / "full-mirror"
    pool = root / "pool" / "main"
    pool.mkdir(parents=True)
    for deb in sorted((subset / "pool" / "main").iterdir()):
        os.link(deb, pool / deb.name)
    source = host_list()
    full = subprocess.run(["lz4", "-dc", str(source)], check=True, capture_output=True).stdout
    served = (subset / "dists" / "bookworm" / "main" / "binary-amd64" / "Packages").read_bytes()
    index, replaced, appended = merge(full, served)
    publish(root, index, gnupghome)
    return FullIndex(root, len(_NAME.findall(index)), replaced, appended, source)
