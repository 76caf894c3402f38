"""What a build is asked (BuildOptions: everything the command line says) and what its plan
holds once resolved, or read back from a lock (Plan: enough to fetch and install). Data only;
bootstrap.pipeline makes them."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bootstrap.adapters import Adapter, Installed
from bootstrap.types import FetchItem, IndexStamp, Package, Profile, RepoTrust, Target


@dataclass(frozen=True)
class ImageOptions:
    """What an image build (`--format oci|docker`, `--push`, `--platform`) says beyond the
    root: the config's command and environment, labels, tags, annotations, layering, the
    architectures, and where to push."""

    cmd: tuple[str, ...] | None = None  # None: the profile's command
    entrypoint: tuple[str, ...] = ()
    env: tuple[str, ...] = ()  # KEY=VALUE, added to (or replacing in) the default PATH
    workdir: str = ""
    user: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    tags: tuple[str, ...] = ()  # NAME:TAG (or TAG)
    source: str = ""  # org.opencontainers.image.source
    revision: str = ""  # org.opencontainers.image.revision
    layers: int = 1  # at most this many layers, split by package (bootstrap.image)
    platforms: tuple[str, ...] = ()  # arch words of the family; () = the profile's (or --arch)
    push: str = ""  # REGISTRY/REPO:TAG to push to
    mount_from: str = ""  # another repository of the push's registry that holds its blobs
    insecure_registry: bool = False


@dataclass(frozen=True)
class BuildOptions:
    """Everything the command line can say about one build."""

    profile: str
    output: str = ""
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    variant: str | None = None
    arch: str | None = None
    mirror: str | None = None
    alternate_mirrors: tuple[str, ...] = ()  # --mirror given again: tried in order after `mirror`
    keyrings: tuple[str, ...] = ()  # key files or directories, added to the vendor's keys
    keyring_only: bool = False  # --keyring-only: trust the --keyring ones alone
    verify: bool = True
    components: tuple[str, ...] = ()  # --components: the archive areas (main, contrib...), replacing the profile's
    fmt: str = "tar"
    compress: str = "auto"
    mode: str = "auto"
    cache_dir: Path | None = None
    jobs: int = 4
    hook_extract: tuple[str, ...] = ()
    hook_customize: tuple[str, ...] = ()
    dockerfile: bool = False
    buildrequires: tuple[str, ...] = ()  # spec files whose BuildRequires are requested (yum)
    defines: tuple[str, ...] = ()  # 'NAME VALUE' macros for those specs, as rpmbuild --define
    devices: bool = False  # --format dir: create the device nodes packages ship (root only)
    offline: bool = False  # nothing from the network: the cache, file:// mirrors, the store
    store: Path | None = None  # a directory of packages laid out by `fetch --store` (locked builds)
    sbom_format: str = "spdx"  # the SBOM written beside the output: spdx, cyclonedx, or none
    image: ImageOptions = field(default_factory=ImageOptions)  # for --format oci/docker and --push


@dataclass
class Plan:
    """What resolve chose for a profile: enough to fetch and install."""

    profile: Profile
    adapter: Adapter
    variant: str
    # Not the universe: after resolve its 60,000 packages are garbage, and a build's memory
    # is then the unpacker's (the chosen packages are all that is kept).
    packages: list[Package]
    reasons: dict[str, tuple[str, ...]] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    seeded: list[Installed] = field(default_factory=list)
    trust: dict[str, RepoTrust] = field(default_factory=dict)  # by repository id
    requests: tuple[str, ...] = ()  # the names asked for, as the user and profile wrote them
    stamps: dict[str, IndexStamp] = field(default_factory=dict)  # the signed index of each repository read
    seed_item: FetchItem | None = None  # the base tarball the root started from, with its digest

    def target(self) -> Target:
        """What the database and configure hooks know of this build."""
        return Target(self.profile.arch, self.requests, dict(self.trust))


@dataclass
class BuildFacts:
    """What a build did, filled in as its phases run (for the command line's summary and
    --json): the packages installed (seeded ones included), the configure mode used, the
    SBOM written beside the output, the build's epoch."""

    packages: list[Package] = field(default_factory=list)
    mode: str = ""
    sbom: Path | None = None
    epoch: int = 0
