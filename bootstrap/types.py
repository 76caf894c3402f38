"""The data that flows between the pipeline's stages: frozen, typed, family-agnostic.

Every stage speaks these types and nothing else, so an adapter for a new distribution family
only has to turn its index into `Package` records and its payloads into `FileEntry` manifests.

Conventions shared by every module:
- Relation operators are normalised to `<`, `<=`, `=`, `>=`, `>` (apt's `<<`/`>>`, rpm's
  LT/LE/EQ/GE/GT and apk's forms are translated by the adapter) plus apk's fuzzy `~`.
- Paths in a `FileEntry` are relative to the root, without a leading `./` or `/`
  (`usr/bin/sh`); the root directory itself is `.`.
- Architectures are the distribution's own words (`amd64`, `i686`, `x86_64`, `noarch`, `all`).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

OPERATORS = ("<", "<=", "=", ">=", ">", "~")

# Where a stage says what it does: one line at a time (the pipeline's reporter decides where).
Log = Callable[[str], None]


class Meter(Protocol):
    """One running progress display (a terminal bar, or nothing)."""

    def advance(self, amount: int) -> None:
        """`amount` more units done."""
        ...

    def note(self, text: str) -> None:
        """A short status beside the figures (`3/88 packages`)."""
        ...

    def close(self) -> None:
        ...


class NoMeter:
    """The meter when nobody watches: every call costs one method call and does nothing."""

    def advance(self, amount: int) -> None:
        pass

    def note(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


# Starts a meter: (label, total units or None when unknown, unit: "B" for bytes, "" for time
# only, else the name of the items counted: "packages"). The library calls it (bootstrap.report
# gives each phase its meter); the command line decides what it shows (bootstrap/progress.py).
Progress = Callable[[str, "int | None", str], Meter]


@dataclass(frozen=True)
class Relation:
    """One atom of a dependency: a name, optionally constrained by a version.

    `arch` carries a Debian architecture qualifier (`any`, `native`, or an architecture name).
    A name starting with `/` is an rpm file dependency: some package must contain that path.

    Two fields only rpm's rich dependencies and apk's install_if use (both default off):
    `negated` reads the relation as "no installed package meets it" (the condition of rpm's
    `A if B`, apk's `!name` trigger); `narrow` asks that the one package meeting the relation
    also meets each narrowing relation, or does not meet it when that one is negated (rpm's
    `A with B`, `A without B`).
    """

    name: str
    op: str | None = None
    version: str | None = None
    arch: str | None = None
    negated: bool = False
    narrow: tuple[Relation, ...] = ()

    def __post_init__(self) -> None:
        if (self.op is None) != (self.version is None):
            raise ValueError(f"relation {self.name!r}: op and version go together")
        if self.op is not None and self.op not in OPERATORS:
            raise ValueError(f"relation {self.name!r}: unknown operator {self.op!r}")

    @property
    def is_file(self) -> bool:
        """True for rpm-style file dependencies (`/bin/sh`)."""
        return self.name.startswith("/")

    @property
    def positive(self) -> Relation:
        """The same relation, not negated (what a negated one says must not be installed)."""
        return replace(self, negated=False) if self.negated else self

    def __str__(self) -> str:
        text = self.name if self.arch is None else f"{self.name}:{self.arch}"
        text = text if self.op is None else f"{text} ({self.op} {self.version})"
        for sub in self.narrow:
            text += f" {'without' if sub.negated else 'with'} {sub.positive}"
        if self.narrow:
            text = f"({text})"
        return f"not {text}" if self.negated else text


# One dependency is a list of alternatives: satisfied when any one of them is.
Dependency = tuple[Relation, ...]


def format_dependency(dep: Dependency) -> str:
    """`a (>= 1) | b`: how users read alternatives."""
    return " | ".join(str(r) for r in dep)


@dataclass(frozen=True)
class Checksum:
    """A digest the index publishes for a file; `algo` is a hashlib name (sha256, sha1, md5...)."""

    algo: str
    hexdigest: str


@dataclass(frozen=True)
class Package:
    """One binary package as an index describes it.

    `depends` are the hard requirements (Depends + Pre-Depends, Requires, apk D:), each a list of
    alternatives; `pre_depends` repeats the Pre-Depends so installers can order by them.
    `conflicts` are the relations this package cannot be installed with (Conflicts + Breaks,
    rpm Conflicts, apk `!name`). `files` holds the paths the index lists for the package (used to
    satisfy file dependencies). `location` is the absolute URL of the payload; `checksums` the
    digests that the index gives for that file (empty when the format has none, as apk, whose
    adapter checks the control stream digest itself). `fields` keeps the index's raw stanza for
    writing the package database (dpkg status, apk installed) exactly as the distribution would.
    `conflict_clauses` are rpm's rich Conflicts as clauses to meet (the negation of each
    conflict, richdep.conflict), in which the package itself never counts (libsolv skips a
    package's conflict with itself).
    The weak relations (recommends, suggests, supplements, enhances: rpm's, each a list of
    alternatives like depends) are never installed for; libsolv reads them to choose.
    `index_order` is where the index first names this package's name, as a stanza, a relation's
    target or a provide (0 when the family does not say): apt numbers its packages so, and the
    one named last wins a tie between providers (CompareProviders ends on `A->ID > B->ID`).
    """

    name: str
    version: str
    arch: str
    depends: tuple[Dependency, ...] = ()
    pre_depends: tuple[Dependency, ...] = ()
    conflict_clauses: tuple[Dependency, ...] = ()
    recommends: tuple[Dependency, ...] = ()
    suggests: tuple[Dependency, ...] = ()
    supplements: tuple[Dependency, ...] = ()
    enhances: tuple[Dependency, ...] = ()
    provides: tuple[Relation, ...] = ()
    conflicts: tuple[Relation, ...] = ()
    obsoletes: tuple[Relation, ...] = ()
    replaces: tuple[Relation, ...] = ()
    install_if: tuple[Relation, ...] = ()
    files: tuple[str, ...] = ()
    essential: bool = False
    priority: str = ""
    multi_arch: str = ""
    provider_priority: int = 0
    index_order: int = 0
    size: int = 0
    installed_size: int = 0
    location: str = ""
    checksums: tuple[Checksum, ...] = ()
    repo: str = ""
    section: str = ""
    fields: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> str:
        """A unique, readable identity: `name=version.arch`."""
        return f"{self.name}={self.version}.{self.arch}"

    @property
    def filename(self) -> str:
        """The payload's file name (last component of its location)."""
        return self.location.rstrip("/").rsplit("/", 1)[-1]

    def field(self, name: str, default: str = "") -> str:
        """The raw index field `name` (case-insensitive), or `default`."""
        lname = name.lower()
        for key, value in self.fields:
            if key.lower() == lname:
                return value
        return default


@dataclass(frozen=True)
class ResolvePolicy:
    """What one family's package manager decides differently from the others, for the resolver
    (which names no family). The defaults are apt's; each family's version_scheme() sets its own.

    - `exclusive_names`: a name answers to one installed package. apk's solver gives every
      name one provider (assign_name): the real `polkit` and a provider of `polkit=1` never
      go together, nor two providers of `so:libfoo.so.1=…`; only providers that both provide
      the name *unversioned* coexist. As in apk, a name is then the package's own: a
      conflict on a name the package has breaks it, and an install_if trigger is met only
      by a package of the trigger's name. dpkg and rpm let several packages Provide one name
      (Debian policy 7.5: a virtual name is exclusive only through an explicit Conflicts;
      rpm/libsolv add no implicit conflict between providers).
    - `refuse_unranked_virtual`: an unversioned virtual name with several providers and no
      provider_priority is not guessed but an error naming them (apk's select_package).
    - `provider_order`: how the providers of one name rank. "real-first": the real package
      of the name, then Essential ones, the native architecture, higher provider_priority,
      then the later index_order (apt's CompareProviders: same group first, then Essential,
      native, Priority, the package's ID). "provided-version": the package providing the highest version of
      the name, then provider_priority (apk's compare_providers). "by-name": obsoleted ones
      last, then provider_priority, then the highest provided version, then name (libsolv's
      policy_filter_unwanted: prune_obsoleted, sort_by_common_dep, name order).
    - `unversioned_provides_all`: a provide without a version meets a versioned dependency
      on its name (rpm: rpmdsCompare matches when either side has no version; libsolv the
      same). dpkg (policy 7.5) and apk only count a versioned provide of a matching version.
    - `depth_first`: dependencies are decided depth first from each request, a dependency
      counting as met only by what that walk has reached, and its alternatives and providers
      tried at their newest version before any older one (apt's MarkInstall, which only
      knows candidate versions); else breadth first, met by anything installed (libsolv's
      rule order, apk).
    - `weak_hints`: among a dependency's candidates, those the installed packages recommend
      (or that supplement them) are taken first, then those suggested (or enhancing);
      libsolv's prune_to_recommended and prefer_suggested (resolve/weak.py).
    - `minimize`: once a model is found, a choice among several names one of whose other
      candidates got installed anyway is taken back for that one (libsolv's
      auto-minimization in solver_run_sat).
    - `decide_by_name`: the dependency decided next is the one on the name apk-tools would
      take next: one with a single option left, else names only real packages have before
      names also or only provided, the longest dependency chain first, the latest queued on
      ties (solver.c compare_name_dequeue; resolve/nameorder.py).
    - `defer_choices`: a dependency that leaves several names to choose from is decided after
      those that leave one, so a package needed anyway meets it and fewer packages come in
      (libsolv postpones such rules, apk resolves names without options first).
    """

    exclusive_names: bool = False
    refuse_unranked_virtual: bool = False
    provider_order: str = "real-first"
    unversioned_provides_all: bool = False
    depth_first: bool = True
    defer_choices: bool = False
    weak_hints: bool = False
    minimize: bool = False
    decide_by_name: bool = False


@dataclass(frozen=True)
class VersionScheme:
    """How a family orders versions and matches architectures; given to the resolver.

    `compare(a, b)` returns <0, 0, >0. `satisfies(version, op, wanted)` defaults to comparing
    with `compare` but can be replaced (apk's `~` fuzzy match). `arch_rank(pkg_arch)` returns
    None when a package of that architecture cannot be installed on the target, otherwise a
    rank where higher is preferred (i686 over i386 on an i386 tree). `policy` holds the
    family's resolver rules (ResolvePolicy).
    """

    compare: Callable[[str, str], int]
    arch_rank: Callable[[str], int | None]
    satisfies: Callable[[str, str, str], bool] | None = None
    # rpm: the word size an arch builds for (0 for noarch, else 32 or 64). Builds of one name
    # whose sizes differ may be installed together, and a build of a lesser arch goes in
    # lock-step with the best arch's build of its version (libsolv's
    # implicitobsoleteusescolors and infarch rules, as Fedora and RHEL build it).
    arch_color: Callable[[str], int] | None = None
    # Architecture words that mean "any" (Debian's `all`, rpm's `noarch`): such a package
    # serves every architecture of a multi-arch set.
    arch_independent: frozenset[str] = frozenset()
    policy: ResolvePolicy = ResolvePolicy()

    def matches(self, version: str, op: str, wanted: str) -> bool:
        """Whether `version op wanted` holds in this family's ordering."""
        if self.satisfies is not None:
            return self.satisfies(version, op, wanted)
        c = self.compare(version, wanted)
        return {"<": c < 0, "<=": c <= 0, "=": c == 0, ">=": c >= 0, ">": c > 0}.get(op, False)


@dataclass(frozen=True)
class FileEntry:
    """One entry of an unpacked payload, as the packer must write it.

    `path` is root-relative (`usr/bin/passwd`). `type` is one of file, dir, symlink, hardlink,
    char, block, fifo. `mode` holds permission bits including setuid/setgid/sticky (0o7777 mask).
    `linkname` is the symlink's target as stored, or the root-relative path a hard link points
    to. `digest` is the sha256 hex of a regular file's content ("" otherwise).
    """

    path: str
    type: str
    mode: int
    uid: int
    gid: int
    mtime: int
    size: int = 0
    linkname: str = ""
    devmajor: int = 0
    devminor: int = 0
    xattrs: tuple[tuple[str, bytes], ...] = ()
    package: str = ""
    digest: str = ""
    uname: str = ""
    gname: str = ""


@dataclass(frozen=True)
class Repository:
    """One enabled source of packages, after profile and mirror substitution.

    For apt: `url` is the archive root, `suite` the distribution, `components` the sections.
    For yum: `url` is the directory holding repodata/. For apk: `url` is the directory holding
    `<arch>/APKINDEX.tar.gz`. `keyrings` are files the signatures are checked against; `verify`
    False only when the user said `--no-verify`. `alternates` are failover URLs (yum's several
    baseurls). `optional` repositories that do not exist on the mirror are skipped with a notice
    (a mirror without `-updates`); a missing required one is an error.
    """

    id: str
    family: str
    url: str
    suite: str = ""
    components: tuple[str, ...] = ()
    keyrings: tuple[str, ...] = ()
    verify: bool = True
    priority: int = 0
    mirrorlist: str = ""
    alternates: tuple[str, ...] = ()
    optional: bool = False
    options: tuple[tuple[str, str], ...] = ()

    def option(self, name: str, default: str = "") -> str:
        """A repos.d key of this repository (`gpgcheck`, `repo_gpgcheck`...), already substituted."""
        return dict(self.options).get(name, default)


@dataclass(frozen=True)
class Profile:
    """A distribution release as users name it (`debian-bookworm`, `centos4.3`, `alpine3.16`)."""

    name: str
    family: str
    vendor: str
    release: str
    arch: str
    repositories: tuple[Repository, ...]
    variants: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    default_variant: str = "default"
    command: tuple[str, ...] = ("/bin/sh",)
    options: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FetchItem:
    """One file to fetch: its URL, the digests and size its index gives, a name for messages.

    `alternates` are other full URLs of the same file (the same repository on other mirrors),
    tried in order when `url` fails for good: unreachable or erroring after the retries, not
    found, or a copy that does not verify. Each copy is held to the same digests and size.
    `cache_key` names a file whose index gives no digest of it (apk) in the download cache
    (`Adapter.payload_key`): a cached copy is then used as it is, and the caller verifies it."""

    url: str
    checksums: tuple[Checksum, ...] = ()
    size: int = 0
    name: str = ""
    alternates: tuple[str, ...] = ()
    cache_key: Checksum | None = None


class Fetcher(Protocol):
    """What adapters and the pipeline need of the fetcher (bootstrap.fetch.Fetcher is the one
    implementation; tests may pass their own). Every result is verified against the digests
    and size given before it is returned."""

    def get_bytes(self, url: str, checksums: Sequence[Checksum] = (), size: int = 0) -> bytes:
        """A small file in memory; FetchError when it cannot be had."""
        ...

    def try_get_bytes(self, url: str) -> bytes | None:
        """The file's bytes, or None when the server says it is not there."""
        ...

    def get_file(self, item: FetchItem) -> Path:
        """The verified file, in the cache: from `item.url`, or from the first of its
        `alternates` that serves a good copy when that fails."""
        ...

    def get_many(self, items: Sequence[FetchItem],
                 on_done: Callable[[int, Path], None] | None = None) -> list[Path]:
        """get_file for every item, in parallel; `on_done(i, path)` as each is verified."""
        ...

    def forget(self, item: FetchItem) -> None:
        """Drop the cached copy of an item named by its `cache_key` (its check failed)."""
        ...


@dataclass(frozen=True)
class RepoTrust:
    """What checking a package of one repository needs, learned when its index was read.

    It is data, not adapter memory, so a build that does not read the index again (from a
    lock file) checks every package exactly as a resolving build does. `verify` False only
    for --no-verify (or a repository that says gpgcheck=0); `keyrings` are the key files
    signatures are checked against; `signers` names the keys that signed the index (apk
    writes those into the image's /etc/apk/keys). `url` is the mirror the index was read from;
    `mirrors` are the repository's other mirrors (base URLs laid out as `url`), in the order
    a package download that fails at `url` tries them."""

    repo: str
    url: str
    verify: bool = True
    keyrings: tuple[str, ...] = ()
    signers: tuple[str, ...] = ()
    mirrors: tuple[str, ...] = ()


@dataclass(frozen=True)
class IndexStamp:
    """The signed top file of one repository's index as it was read: apt's InRelease (or
    Release), yum's repomd.xml, apk's APKINDEX.tar.gz. `url` is where it was read, `sha256`
    the digest of its bytes, `date` the date the index gives itself in ISO 8601 UTC
    (`2026-12-01T10:00:00Z`; "" when it gives none). A lock records it; refresh compares it."""

    url: str
    sha256: str
    date: str = ""


def iso_utc(seconds: float) -> str:
    """`seconds` since the epoch as ISO 8601 UTC with a Z (the dates of IndexStamp)."""
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


@dataclass(frozen=True)
class RepoIndex:
    """What an adapter's load() read from one repository: its packages, the trust of its
    packages, and the stamp of the signed index they came from."""

    packages: list[Package]
    trust: RepoTrust
    stamp: IndexStamp | None = None


@dataclass(frozen=True)
class Target:
    """What the package-database and configure hooks know of the build besides the tree:
    the architecture, the names the user asked for (apk's /etc/apk/world), and the trust of
    every repository by id."""

    arch: str
    requests: tuple[str, ...] = ()
    trust: Mapping[str, RepoTrust] = field(default_factory=dict)
