"""Repository adapters: one package per distribution family, one line in REGISTRY each.

An adapter turns a family's repositories into `Package` records, says how its versions and
architectures order, reads its payloads and writes its package database. The pipeline drives
every family through `Adapter`, whose hooks are all declared here with their contracts and
no-op defaults where a family may have nothing to do; nothing outside adapters/ knows a
family's formats, and shared code reads a family's fixed facts only through `FamilyFacts`.

Phases and hooks, in the order the pipeline calls them (docs/ARCHITECTURE.md has the picture):

    profile  extra_requests                      (--buildrequires and the like)
    seed     seed                                (a base tarball: Alpine's minirootfs)
    index    load (each repository)
    resolve  base_packages, expand_requests, complete_universe, version_scheme
    fetch    preload, check_payload (each package)
    unpack   prepare_root, unpack (each package), release (always, even on failure)
    configure register, configure (mode root/unshare only)
    cleanup  cleanup

State: what the hooks from `fetch` on need is handed to them (`RepoTrust`, `Target`), never
kept from `load`, so a build that skips the index phase (from a lock) loses no check. The
index-phase hooks (expand_requests, complete_universe) may use what `load` saw in the same
adapter instance. Every write into the tree goes through the `Root` handle the pipeline
passes; no adapter joins paths onto the root itself.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Protocol

from bootstrap.errors import ConfigError, UsageError
from bootstrap.root import Root
from bootstrap.types import (
    Checksum,
    Fetcher,
    FetchItem,
    FileEntry,
    Log,
    Package,
    Profile,
    RepoIndex,
    Repository,
    RepoTrust,
    Target,
    VersionScheme,
)

__all__ = ["REGISTRY", "Adapter", "FamilyFacts", "Installed", "Log", "Runner", "facts",
           "get_adapter"]


@dataclass
class Installed:
    """A package after unpacking: its manifest and the control data its database needs."""

    package: Package
    manifest: list[FileEntry]
    control: dict[str, bytes] = field(default_factory=dict)


class Runner(Protocol):
    """Runs a command inside the new root (chroot or user namespace); bootstrap.sandbox's
    ChrootRunner is the implementation. Raises CommandFailed (a ConfigureError)."""

    def run(self, argv: Sequence[str], env: dict[str, str] | None = None,
            input: bytes | None = None) -> None: ...


@dataclass(frozen=True)
class FamilyFacts:
    """A family's fixed facts, which shared code (config, pipeline, resolver) reads instead of
    naming the family.

    - `host_arch`: `uname -m` → the family's word for it (a profile's `arch = host`).
    - `machine`: the family's arch word → the `uname -m` a CPU running it reports (what the
      host can execute, and whether a 32-bit personality is needed); "" for arch-independent.
    - `arch_independent`: the words for "any architecture" (`all`, `noarch`).
    - `oci`: the family's arch word → OCI's (GOARCH architecture, variant), for image output.
    - `basearch`: arch → `$basearch` of repos.d templates where they differ.
    - `script_env`: added to the environment of every command run in the root.
    - `host_mirrors(kind)`: (mirror, security mirror) from the host's own configuration, for
      vendors whose repos.d says `mirror_from_host = KIND`; None when the family has no such.
    - `purl_type`: the Package URL type of the family's packages (purl-spec: `deb`, `rpm`,
      `apk`); "" for purl's `generic`. The SBOM's purls use the profile's vendor as namespace.
    - `purl_epoch_qualifier`: the purl type puts a version's `E:` epoch in an `epoch=`
      qualifier (and the version without it) rather than in the version.
    - `supplier_fields`: the raw index fields (`Package.field`) naming the package's supplier
      (maintainer, vendor, packager), first non-empty wins; () for none.
    - `license_fields`: the raw index fields holding the licence the package declares, first
      non-empty wins; () where the family's index has none.
    - `key_files`: glob patterns of the key files a directory given as a keyring (`--keyring
      DIR`, a vendor's `keys = DIR`) contributes; () where the family takes no directory.
    """

    family: str
    host_arch: Mapping[str, str]
    machine: Mapping[str, str]
    arch_independent: frozenset[str] = frozenset()
    oci: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    basearch: Mapping[str, str] = field(default_factory=dict)
    script_env: Mapping[str, str] = field(default_factory=dict)
    host_mirrors: Callable[[str], tuple[str | None, str | None]] | None = None
    purl_type: str = ""
    purl_epoch_qualifier: bool = False
    supplier_fields: tuple[str, ...] = ()
    license_fields: tuple[str, ...] = ()
    key_files: tuple[str, ...] = ()


class Adapter(ABC):
    """The contract between the pipeline and a family. Subclasses set `family` and `facts`
    and implement the three abstract hooks; every other hook has a default that does nothing
    (or passes its input through), which is right for a family without that step."""

    family: ClassVar[str]
    facts: ClassVar[FamilyFacts]

    def __init__(self, profile: Profile | None = None, log: Log | None = None) -> None:
        self.profile = profile
        # Where notices go (the pipeline's reporter); a dependency, not state between phases.
        self.log: Log = log or (lambda line: None)

    # -- profile and index ------------------------------------------------------------------

    @abstractmethod
    def version_scheme(self, arch: str) -> VersionScheme:
        """Pure: the ordering and architecture ranking the resolver uses."""

    @abstractmethod
    def load(self, repo: Repository, arch: str, fetcher: Fetcher, log: Log) -> RepoIndex:
        """Fetch one repository's index through `fetcher` (only the fetcher touches the
        network), verify its signature against `repo.keyrings` unless `repo.verify` is False,
        and return every package it lists with what checking them will need. Raises
        RepositoryNotFound (the mirror has no such repository), VerificationError,
        RepositoryIndexError."""

    def extra_requests(self, sources: Sequence[str], defines: Sequence[str], log: Log) -> list[str]:
        """Requests a family reads from files the user named (`--buildrequires FILE.spec`,
        with `--define` macros), before anything is downloaded. A family that reads no such
        files refuses them."""
        if sources:
            name = self.profile.name if self.profile is not None else self.family
            raise UsageError(f"--buildrequires reads spec files, which {name} (a {self.family} "
                             "distribution) does not build from",
                             hint="use it with a profile whose family builds from spec files "
                                  "(centos4.3, fedora-core3, rocky9...)")
        return []

    def seeds(self, variant: str) -> bool:
        """Whether `seed` has work for this variant (the pipeline times a seed phase only
        then). Default: False."""
        return False

    def seed_source(self, fetcher: Fetcher, log: Log, variant: str) -> FetchItem | None:
        """The base tarball `seed` would use for this variant, with the digest it is published
        with (a lock records it), fetching only the small files that say which. Default: None."""
        return None

    def seed(self, fetcher: Fetcher, root: Root, log: Log, variant: str,
             pinned: FetchItem | None = None) -> list[Installed]:
        """Fill the empty root from a base tarball before the index is read, for variants
        where `seeds` says so; what it installed counts as chosen. `pinned` (from a lock) is
        the tarball to use, held to its digest, instead of looking on the mirror. Default:
        nothing."""
        return []

    def base_packages(self, universe: Sequence[Package], variant: str) -> list[str]:
        """The names a variant starts from before the profile's and the user's (Debian's
        Priority: required set). Default: none (the profile says it all)."""
        return []

    def expand_requests(self, names: Sequence[str], universe: Sequence[Package],
                        fetcher: Fetcher) -> list[str]:
        """The request names with a family's shorthands expanded (yum's `@group`), or names
        the family adds (Debian's usr-is-merged). Default: unchanged."""
        return list(names)

    def complete_universe(self, universe: Sequence[Package], names: Sequence[str],
                          fetcher: Fetcher, log: Log) -> list[Package]:
        """The universe with what the first read left out filled in, where the requests
        reachable from `names` need it (yum's filelists). Default: unchanged."""
        return list(universe)

    # -- payloads ---------------------------------------------------------------------------

    def preload(self, packages: Sequence[Package]) -> Callable[[int, Path], None] | None:
        """Optionally start work on payloads as they arrive: returns `ready(i, path)`, which
        the pipeline calls when packages[i] is downloaded and verified; `unpack` is then
        called in the order of `packages`. Default: None (nothing ahead of time)."""
        return None

    def payload_key(self, pkg: Package) -> Checksum | None:
        """For a package whose index gives no digest of the payload file (apk's C: is the
        control stream's), a digest that names it in the download cache; `check_payload`
        must then verify every copy, cached ones included. Default: None (the file's own
        digests name it)."""
        return None

    def check_payload(self, pkg: Package, path: Path, trust: RepoTrust) -> None:
        """Checks of a downloaded payload beyond the fetcher's digest and size (rpm and apk
        signatures, a header that must match the index), from `trust` alone. Raises
        ChecksumError / VerificationError. Default: none (a .deb carries no signature apt
        checks)."""

    def prepare_root(self, root: Root) -> None:
        """What must exist before the first payload lands (merged-/usr links, /tmp)."""

    @abstractmethod
    def unpack(self, pkg: Package, path: Path, root: Root) -> Installed:
        """Extract the payload at `path` into `root` through bootstrap.unpack (never
        outside it) and return what was written with the control data the database needs."""

    def release(self) -> None:
        """The unpack phase is over, done or failed: stop whatever `preload` started."""

    # -- database, scripts, cleanup ---------------------------------------------------------

    def register(self, root: Root, installed: Sequence[Installed], target: Target) -> None:
        """Write the package database (and the image's own repository configuration) so the
        family's own tools see every package, unconfigured where scripts did not run."""

    def configure(self, root: Root, installed: Sequence[Installed], runner: Runner,
                  target: Target) -> None:
        """Run the maintainer scripts inside the root through `runner`, leaving a configured
        system. Not called in mode extract."""

    def cleanup(self, root: Root) -> None:
        """Remove what the build left that the image must not carry (caches, logs, locks)."""


def _load_class(family: str) -> type[Adapter]:
    from importlib import import_module

    try:
        module_name, class_name = REGISTRY[family].split(":")
    except KeyError:
        raise ConfigError(f"unknown package family {family!r}",
                          hint=f"known families: {', '.join(sorted(REGISTRY))}") from None
    cls: type[Adapter] = getattr(import_module(module_name), class_name)
    return cls


def get_adapter(family: str, profile: Profile | None = None, log: Log | None = None) -> Adapter:
    """The adapter for `family` ("apt", "yum", "apk"), serving `profile` (merged-/usr, keys,
    sources to write) and telling `log` its notices; imported lazily so one family's
    dependencies never load for another."""
    return _load_class(family)(profile, log)


def facts(family: str) -> FamilyFacts:
    """The fixed facts of `family` (ConfigError for an unknown one)."""
    return _load_class(family).facts


# A new distribution family is one package under adapters/ and one line here.
REGISTRY: dict[str, str] = {
    "apt": "bootstrap.adapters.apt:AptAdapter",
    "yum": "bootstrap.adapters.yum:YumAdapter",
    "apk": "bootstrap.adapters.apk:ApkAdapter",
}
