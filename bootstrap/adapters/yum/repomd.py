"""repomd.xml, the compressions of its files, and comps groups. Pure (bytes in, records out).

- `parse_repomd(data)` lists every `<data type=…>` with its location, checksum and open
  checksum. Checksum types are normalised to hashlib names: `sha` (old createrepo's name for
  SHA-1) → sha1; sha1, sha224, sha256, sha384, sha512, md5 kept.
- `decompress_stream(data, name)` opens .gz/.bz2/.xz/.lzma/.zst (or plain) as a stream, so a
  100 MB primary never sits decompressed in memory at once.
- `parse_comps(data)` reads comps groups and environments; `expand_groups(names, comps)` turns
  `@core` into the group's mandatory + default package names (as `yum groupinstall` with its
  default group_package_types), `@^env` into its groups' packages; other names pass through.
"""
from __future__ import annotations

import lzma
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import IO

from bootstrap import compression
from bootstrap.errors import RepositoryIndexError
from bootstrap.types import Checksum

REPO_NS = "{http://linux.duke.edu/metadata/repo}"
XML_BASE = "{http://www.w3.org/XML/1998/namespace}base"
_ALGOS = {"sha": "sha1", "sha1": "sha1", "sha224": "sha224", "sha256": "sha256", "sha384": "sha384",
          "sha512": "sha512", "md5": "md5"}


def checksum_algo(kind: str) -> str:
    """hashlib's name for a repomd/primary checksum type."""
    try:
        return _ALGOS[kind.lower()]
    except KeyError:
        raise RepositoryIndexError(f"unknown checksum type {kind!r} in repository metadata") from None


@dataclass(frozen=True)
class RepoFile:
    """One `<data>` entry of repomd.xml. `href` is relative to `base` (xml:base) when given,
    else to the repository's directory (the one holding repodata/)."""

    type: str
    href: str
    checksum: Checksum | None = None
    open_checksum: Checksum | None = None
    size: int = 0
    base: str = ""
    database_version: int = 0

    def url(self, repo_url: str) -> str:
        """The absolute URL of the file for a repository at `repo_url`."""
        return join_url(self.base or repo_url, self.href)


@dataclass(frozen=True)
class RepoMd:
    """A parsed repomd.xml: its revision and files by type (primary, filelists, group_gz...)."""

    revision: str
    files: Mapping[str, RepoFile] = field(default_factory=dict)

    def best(self, *types: str) -> RepoFile | None:
        """The first of `types` the repository has."""
        for kind in types:
            if kind in self.files:
                return self.files[kind]
        return None


def join_url(base: str, href: str) -> str:
    """`base` + `href`, tolerating a missing or doubled slash; an absolute href wins."""
    if "://" in href:
        return href
    return f"{base.rstrip('/')}/{href.lstrip('/')}"


def _checksum(elem: ET.Element | None) -> Checksum | None:
    if elem is None or not (elem.text or "").strip():
        return None
    return Checksum(checksum_algo(elem.get("type", "sha256")), elem.text.strip().lower())


def parse_repomd(data: bytes) -> RepoMd:
    """Parse repomd.xml; raises RepositoryIndexError if it is not one."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise RepositoryIndexError(f"repomd.xml is not valid XML: {exc}") from None
    if root.tag != f"{REPO_NS}repomd":
        raise RepositoryIndexError(f"repomd.xml has root element {root.tag!r}, not repomd")
    files: dict[str, RepoFile] = {}
    for data_el in root.findall(f"{REPO_NS}data"):
        loc = data_el.find(f"{REPO_NS}location")
        if loc is None or not loc.get("href"):
            continue
        size = (data_el.findtext(f"{REPO_NS}size") or "0").strip()
        dbv = (data_el.findtext(f"{REPO_NS}database_version") or "0").strip()
        kind = data_el.get("type", "")
        files[kind] = RepoFile(kind, loc.get("href", ""), _checksum(data_el.find(f"{REPO_NS}checksum")),
                               _checksum(data_el.find(f"{REPO_NS}open-checksum")),
                               int(size) if size.isdigit() else 0, loc.get(XML_BASE, ""),
                               int(dbv) if dbv.isdigit() else 0)
    return RepoMd((root.findtext(f"{REPO_NS}revision") or "").strip(), files)


def decompress_stream(data: bytes, name: str) -> IO[bytes]:
    """A readable stream of the decompressed content of `data`, by `name`'s suffix
    (bootstrap.compression; anything unknown is plain). Corruption surfaces on read."""
    if name.endswith(".zck"):
        raise RepositoryIndexError(f"{name}: zchunk metadata is not supported",
                                   hint="the repository also publishes .gz/.xz files; those are used")
    return compression.decompress_stream(data, name)


def decompress(data: bytes, name: str) -> bytes:
    """The whole decompressed content (for small files: comps, sqlite databases)."""
    try:
        with decompress_stream(data, name) as stream:
            return stream.read()
    except (OSError, EOFError, lzma.LZMAError) as exc:
        raise RepositoryIndexError(f"{name}: cannot decompress: {exc}") from None


@dataclass(frozen=True)
class Group:
    """A comps group: package names by packagereq type (mandatory, default, optional, conditional)."""

    id: str
    packages: Mapping[str, tuple[str, ...]]


@dataclass(frozen=True)
class Comps:
    """comps.xml: groups by id, environments (id → group ids)."""

    groups: Mapping[str, Group]
    environments: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def merged(self, other: Comps) -> Comps:
        """Groups of two repositories together (later ones add packages, as yum merges them)."""
        groups = dict(self.groups)
        for gid, group in other.groups.items():
            if gid in groups:
                kinds = set(groups[gid].packages) | set(group.packages)
                group = Group(gid, {k: tuple(dict.fromkeys(groups[gid].packages.get(k, ()) +
                                                           group.packages.get(k, ()))) for k in kinds})
            groups[gid] = group
        return Comps(groups, {**self.environments, **other.environments})


EMPTY_COMPS = Comps({})


def parse_comps(data: bytes) -> Comps:
    """Parse comps.xml (namespace-free)."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise RepositoryIndexError(f"comps is not valid XML: {exc}") from None
    groups: dict[str, Group] = {}
    for group in root.iter("group"):
        gid = (group.findtext("id") or "").strip()
        kinds: dict[str, list[str]] = {}
        for req in group.iter("packagereq"):
            kinds.setdefault(req.get("type", "mandatory"), []).append((req.text or "").strip())
        groups[gid] = Group(gid, {k: tuple(v) for k, v in kinds.items()})
    envs = {(env.findtext("id") or "").strip(): tuple((g.text or "").strip() for g in env.iterfind("grouplist/groupid"))
            for env in root.iter("environment")}
    return Comps(groups, envs)


DEFAULT_TYPES = ("mandatory", "default")


def expand_groups(names: Iterable[str], comps: Comps, types: tuple[str, ...] = DEFAULT_TYPES) -> list[str]:
    """`@group` → its packages of `types`; `@^environment` → those of its groups; other names
    unchanged. Order kept, duplicates dropped. Raises RepositoryIndexError for unknown groups."""
    out: list[str] = []
    for name in names:
        if not name.startswith("@"):
            out.append(name)
            continue
        gid = name[1:]
        group_ids = comps.environments.get(gid[1:]) if gid.startswith("^") else (gid,)
        if group_ids is None:
            raise RepositoryIndexError(f"no environment group {gid[1:]!r} in the repositories' comps")
        for group_id in group_ids:
            group = comps.groups.get(group_id)
            if group is None:
                known = ", ".join(sorted(comps.groups)[:8]) or "none (no comps in the repositories)"
                raise RepositoryIndexError(f"no group {group_id!r} in the repositories' comps",
                                           hint=f"groups: {known}")
            out += [p for kind in types for p in group.packages.get(kind, ())]
    return list(dict.fromkeys(out))
