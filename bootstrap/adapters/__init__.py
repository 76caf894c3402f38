"""Repository adapters: one module per distribution family, one line in REGISTRY each.

An adapter turns a family's repositories into `Package` records, says how its versions and
architectures order, and knows the family's package database. The pipeline drives every family
through the same `RepoAdapter` protocol; nothing outside this package knows a family's formats.

Contract of each method:
- `version_scheme(arch)`: pure; the ordering and architecture ranking the resolver uses.
- `load(repo, arch, fetcher, log)`: fetch the index through `fetcher` (only fetch touches the
  network), verify its signature against `repo.keyrings` unless `repo.verify` is False, and
  return every package it lists. Raises VerificationError / RepositoryIndexError.
- `base_packages(universe, variant)`: the package names a variant starts from (Debian's
  Priority: required set, alpine-base...), before `--include`.
- `check_payload(pkg, path)`: extra checks of a downloaded payload that the fetcher's checksum
  cannot do (apk's control-stream digest, rpm signatures); raises ChecksumError/VerificationError.
- `prepare_root(root)`: what must exist before the first payload lands (merged-/usr links).
- `unpack(pkg, path, root)`: extract the payload safely; returns an `Installed` record.
- `register(root, installed, arch)`: write the package database so the family's own tools see
  every package (unconfigured where scripts did not run).
- `configure(root, installed, runner)`: run maintainer scripts inside the root through
  `runner` (a chroot or user namespace), leaving a configured system.
- `cleanup(root)`: remove what the build left that the image must not carry.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol, Sequence

from bootstrap.types import FileEntry, Package, Profile, Repository, VersionScheme

Log = Callable[[str], None]


@dataclass
class Installed:
    """A package after unpacking: its manifest and the control data its database needs."""

    package: Package
    manifest: list[FileEntry]
    control: dict[str, bytes] = field(default_factory=dict)


class Runner(Protocol):
    """Runs a command inside the new root (chroot or user namespace)."""

    def run(self, argv: Sequence[str], env: dict[str, str] | None = None,
            input: bytes | None = None) -> None: ...


class RepoAdapter(Protocol):
    """The protocol every family implements (see the module docstring for contracts)."""

    family: str

    def version_scheme(self, arch: str) -> VersionScheme: ...

    def load(self, repo: Repository, arch: str, fetcher: object, log: Log) -> list[Package]: ...

    def base_packages(self, universe: Sequence[Package], variant: str) -> list[str]: ...

    def check_payload(self, pkg: Package, path: Path) -> None: ...

    def prepare_root(self, root: Path) -> None: ...

    def unpack(self, pkg: Package, path: Path, root: Path) -> Installed: ...

    def register(self, root: Path, installed: Sequence[Installed], arch: str) -> None: ...

    def configure(self, root: Path, installed: Sequence[Installed], runner: Runner) -> None: ...

    def cleanup(self, root: Path) -> None: ...


def get_adapter(family: str, profile: Profile | None = None) -> RepoAdapter:
    """The adapter for `family` ("apt", "yum", "apk"), serving `profile` (merged-/usr, keys,
    sources to write); imported lazily so one family's dependencies never load for another."""
    from importlib import import_module

    try:
        module_name, class_name = REGISTRY[family].split(":")
    except KeyError:
        from bootstrap.errors import ConfigError

        raise ConfigError(f"unknown package family {family!r}",
                          hint=f"known families: {', '.join(sorted(REGISTRY))}") from None
    return getattr(import_module(module_name), class_name)(profile)


# A new distribution family is one module under adapters/ and one line here.
REGISTRY: dict[str, str] = {
    "apt": "bootstrap.adapters.apt.adapter:AptAdapter",
    "yum": "bootstrap.adapters.yum.adapter:YumAdapter",
    "apk": "bootstrap.adapters.apk.adapter:ApkAdapter",
}
