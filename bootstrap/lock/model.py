"""What a lock file holds, as typed records (the file format is bootstrap.lock.fileformat).

A lock pins one resolution: the profile and every option that shaped it, each repository with
the signed index it was resolved from, the seed tarball when the family starts from one, and
every chosen package as the index described it (a `Package`, so a build from the lock installs,
registers and configures exactly what a resolving build would, without reading any index).
"""
from __future__ import annotations

from dataclasses import dataclass

from bootstrap.types import Checksum, IndexStamp, Package

FORMAT_VERSION = 1


@dataclass(frozen=True)
class LockedRepo:
    """One repository of the profile at lock time. `present` False for an optional repository
    the mirror did not have (then `index` is None). `signers` are the fingerprints (or key
    names) that verified the index, `keyrings` the key files trusted (a --keyring given at lock
    time included: refresh uses them again)."""

    id: str
    url: str
    suite: str = ""
    components: tuple[str, ...] = ()
    present: bool = True
    index: IndexStamp | None = None
    verify: bool = True
    signers: tuple[str, ...] = ()
    keyrings: tuple[str, ...] = ()
    mirrors: tuple[str, ...] = ()


@dataclass(frozen=True)
class LockedSeed:
    """A base tarball the family starts the root from (Alpine's minirootfs)."""

    url: str
    checksums: tuple[Checksum, ...]
    size: int = 0
    name: str = ""


@dataclass(frozen=True)
class LockOptions:
    """The build options that shape a resolution, as given at lock time. `mirrors` are the
    --mirror values (first the mirror, then its alternates); `keyrings` absolute paths (files
    or directories of keys); `keyring_only` whether they replaced the vendor's keys
    (--keyring-only) rather than adding to them."""

    variant: str
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    buildrequires: tuple[str, ...] = ()
    defines: tuple[str, ...] = ()
    mirrors: tuple[str, ...] = ()
    keyrings: tuple[str, ...] = ()
    verify: bool = True
    keyring_only: bool = False


@dataclass(frozen=True)
class Lock:
    """One pinned resolution of `profile` (its family, release and arch as they were).
    `packages` are sorted by (name, arch, version); `requests` are the names asked for, as the
    build wrote them (apk's world)."""

    profile: str
    family: str
    vendor: str
    release: str
    arch: str
    options: LockOptions
    repositories: tuple[LockedRepo, ...]
    packages: tuple[Package, ...]
    requests: tuple[str, ...] = ()
    seed: LockedSeed | None = None
    format: int = FORMAT_VERSION

    def repository(self, repo_id: str) -> LockedRepo | None:
        """The locked repository `repo_id`, or None."""
        return next((r for r in self.repositories if r.id == repo_id), None)
