"""Checksum choice, verification and cache layout for bootstrap.fetch.fetcher (no network here).

Contracts:
- `strongest` picks the one digest a file is checked against: sha512 > sha384 > sha256 > sha224 >
  sha1 > md5 (names normalised: "SHA256", "sha-256" and yum's old "sha" are understood); digests
  in algorithms hashlib does not know are ignored.
- `Expect` carries what a download must match (digest and/or size) and raises ChecksumError,
  naming the URL, the expected and the actual value, when it does not.
- The cache is content-addressed: `<cache>/by-<algo>/<hexdigest>`; files with no digest live
  under `<cache>/by-url/<sha256(url)>`.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from bootstrap.errors import ChecksumError
from bootstrap.types import Checksum

# Strongest first: the file is checked against the first of these the index gives.
ALGORITHMS = ("sha512", "sha384", "sha256", "sha224", "sha1", "md5")
MIRROR_HINT = "the mirror may be mid-sync; retry or pick another mirror"
_ALIASES = {"sha": "sha1"}  # createrepo's old repomd.xml writes type="sha" for sha1
_READ_CHUNK = 1 << 20


def normalise_algo(algo: str) -> str:
    """The hashlib name for an index's spelling of a digest algorithm."""
    name = algo.strip().lower().replace("-", "").replace("_", "")
    return _ALIASES.get(name, name)


def strongest(checksums: Sequence[Checksum]) -> Checksum | None:
    """The strongest usable digest of `checksums` (normalised, lower-case hex), or None."""
    by_algo = {normalise_algo(c.algo): c.hexdigest.strip().lower() for c in checksums}
    for algo in ALGORITHMS:
        if by_algo.get(algo):
            return Checksum(algo, by_algo[algo])
    return None


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/rootfs-bootstrap, or ~/.cache/rootfs-bootstrap when that is unset."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rootfs-bootstrap"


def cache_path(cache_dir: Path, url: str, checksum: Checksum | None) -> Path:
    """Where a file lives in the shared cache: by digest when one is known, else by URL."""
    if checksum is not None:
        return cache_dir / f"by-{checksum.algo}" / checksum.hexdigest
    return cache_dir / "by-url" / hashlib.sha256(url.encode()).hexdigest()


def keyed_path(cache_dir: Path, key: Checksum) -> Path:
    """Where a file named by a FetchItem's `cache_key` lives: `<cache>/by-key/<algo>/<hex>`
    (both parts reduced to safe characters)."""
    algo = "".join(c for c in key.algo.lower() if c.isalnum() or c == "-") or "key"
    name = "".join(c for c in key.hexdigest.lower() if c in "0123456789abcdef") or "0"
    return cache_dir / "by-key" / algo / name


@dataclass(frozen=True)
class Expect:
    """What one download must match: `checksum` (already the strongest) and `size` (0 = any)."""

    url: str
    checksum: Checksum | None = None
    size: int = 0

    @classmethod
    def of(cls, url: str, checksums: Sequence[Checksum], size: int = 0) -> Expect:
        return cls(url, strongest(checksums), max(size, 0))

    def hasher(self) -> hashlib._Hash | None:
        """A fresh digest object for this file's algorithm (None when there is no digest)."""
        return hashlib.new(self.checksum.algo) if self.checksum else None

    def check_growth(self, received: int) -> None:
        """Stop a download as soon as it is larger than announced (never fill the disk)."""
        if self.size and received > self.size:
            raise ChecksumError(
                f"{self.url}: size mismatch: expected {self.size} bytes, got more than that",
                hint=MIRROR_HINT)

    def check(self, received: int, hasher: hashlib._Hash | None) -> None:
        """Raise ChecksumError unless `received` bytes hashing to `hasher` are what was expected."""
        if self.size and received != self.size:
            raise ChecksumError(
                f"{self.url}: size mismatch: expected {self.size} bytes, got {received}",
                hint=MIRROR_HINT)
        if self.checksum is not None and hasher is not None:
            actual = hasher.hexdigest()
            if actual != self.checksum.hexdigest:
                raise ChecksumError(
                    f"{self.url}: {self.checksum.algo} mismatch: expected "
                    f"{self.checksum.hexdigest}, got {actual}", hint=MIRROR_HINT)

    def check_stream(self, stream: BinaryIO) -> int:
        """Hash a whole stream (a cached file) and check it; returns its size."""
        hasher, received = self.hasher(), 0
        while chunk := stream.read(_READ_CHUNK):
            received += len(chunk)
            if hasher is not None:
                hasher.update(chunk)
        self.check(received, hasher)
        return received
