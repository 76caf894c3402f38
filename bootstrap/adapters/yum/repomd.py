"""repomd.xml, the compressions of its files, and comps groups. Pure (bytes in, records out).

- `parse_repomd(data)` lists every `<data type=…>` with its location, checksum and open
  checksum, and keeps the revision and the newest `<timestamp>` of the files (whole seconds;
  old createrepo wrote fractions). Checksum types are normalised to hashlib names: `sha` (old createrepo's name for
  SHA-1) → sha1; sha1, sha224, sha256, sha384, sha512, md5 kept.
- `decompress_stream(data, name)` opens .gz/.bz2/.xz/.lzma/.zst (or plain) as a stream, so a
  100 MB primary never sits decompressed in memory at once; corrupt or truncated data raises
  RepositoryIndexError naming the file when it is read (`decompress` likewise), whatever the
  decompressor underneath raised.
- `parse_comps(data)` reads comps groups and environments; `expand_groups(names, comps)` turns
  `@core` into the group's mandatory + default package names (as `yum groupinstall` with its
  default group_package_types), `@^env` into its groups' packages; other names pass through.
"""
from __future__ import annotations

import io
import lzma
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO

from bootstrap import compression
from bootstrap.adapters.checks import clip
from bootstrap.adapters.yum.safexml import check_bytes
from bootstrap.compression import describe_size
from bootstrap.errors import RepositoryIndexError
from bootstrap.types import Checksum

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

REPO_NS = "{http://linux.duke.edu/metadata/repo}"
XML_BASE = "{http://www.w3.org/XML/1998/namespace}base"
_ALGOS = {"sha": "sha1", "sha1": "sha1", "sha224": "sha224", "sha256": "sha256", "sha384": "sha384",
          "sha512": "sha512", "md5": "md5"}


def checksum_algo(kind: str) -> str:
    """hashlib's name for a repomd/primary checksum type."""
    try:
        return _ALGOS[kind.lower()]
    except KeyError:
        raise RepositoryIndexError(f"unknown checksum type {clip(kind)} in repository metadata") from None


@dataclass(frozen=True)
class RepoFile:
    """One `<data>` entry of repomd.xml. `href` is relative to `base` (xml:base) when given,
    else to the repository's directory (the one holding repodata/). `size` is the file's,
    `open_size` its uncompressed size (0: not stated); `limit` is what it may inflate to."""

    type: str
    href: str
    checksum: Checksum | None = None
    open_checksum: Checksum | None = None
    size: int = 0
    base: str = ""
    database_version: int = 0
    open_size: int = 0

    @property
    def limit(self) -> int:
        """The open-size repomd.xml states, else compression.INDEX_LIMIT: no more may come out
        of decompressing the file (open-size 0 is taken as not stated: old createrepo)."""
        return self.open_size or compression.INDEX_LIMIT

    def url(self, repo_url: str) -> str:
        """The absolute URL of the file for a repository at `repo_url`."""
        return join_url(self.base or repo_url, self.href)


@dataclass(frozen=True)
class RepoMd:
    """A parsed repomd.xml: its revision, files by type (primary, filelists, group_gz...) and
    the newest `<timestamp>` of those files (0 when none states one)."""

    revision: str
    files: Mapping[str, RepoFile] = field(default_factory=dict)
    timestamp: int = 0

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


def number(text: str | None) -> int:
    """A decimal count from metadata (a size, a version), 0 when it is none: ASCII digits
    only, as `int` refuses other Unicode digits (`²`) that str.isdigit accepts. More than 30
    significant digits (far past any real size or count; int() refuses 4,300, a message
    cannot show 400 as MiB) is a RepositoryIndexError."""
    if not (text and text.isascii() and text.isdigit()):
        return 0
    if len(text.lstrip("0")) > 30:
        raise RepositoryIndexError(f"repository metadata holds the number {clip(text, 40)}, past any real "
                                   "size or count; refusing", hint="the metadata is corrupt or hostile")
    return int(text)


def _checksum(elem: ET.Element | None) -> Checksum | None:
    text = (elem.text or "").strip() if elem is not None else ""
    if elem is None or not text:
        return None
    return Checksum(checksum_algo(elem.get("type", "sha256")), text.lower())


def parse_repomd(data: bytes) -> RepoMd:
    """Parse repomd.xml; raises RepositoryIndexError if it is not one, or if it declares XML
    entities, or claims a size past compression.INDEX_LIMIT for a file."""
    check_bytes(data, "repomd.xml")
    try:
        root = ET.fromstring(data)
    except (ET.ParseError, LookupError) as exc:  # LookupError: an unknown encoding= declared
        raise RepositoryIndexError(f"repomd.xml is not valid XML: {exc}") from None
    if root.tag != f"{REPO_NS}repomd":
        raise RepositoryIndexError(f"repomd.xml has root element {root.tag!r}, not repomd")
    files: dict[str, RepoFile] = {}
    newest = 0
    for data_el in root.findall(f"{REPO_NS}data"):
        stamp = (data_el.findtext(f"{REPO_NS}timestamp") or "").strip().split(".", 1)[0]
        newest = max(newest, number(stamp) if len(stamp) <= 18 else 0)  # seconds, not a bignum
        loc = data_el.find(f"{REPO_NS}location")
        if loc is None or not loc.get("href"):
            continue
        kind = data_el.get("type", "")
        size, open_size = (_size(data_el, tag, kind) for tag in ("size", "open-size"))
        files[kind] = RepoFile(kind, loc.get("href", ""), _checksum(data_el.find(f"{REPO_NS}checksum")),
                               _checksum(data_el.find(f"{REPO_NS}open-checksum")),
                               size, loc.get(XML_BASE, ""),
                               number((data_el.findtext(f"{REPO_NS}database_version") or "").strip()),
                               open_size)
    return RepoMd((root.findtext(f"{REPO_NS}revision") or "").strip(), files, newest)


def _size(data_el: ET.Element, tag: str, kind: str) -> int:
    """A `<size>`/`<open-size>`, refused past the ceiling before anything is fetched for it."""
    value = number((data_el.findtext(f"{REPO_NS}{tag}") or "").strip())
    if value > compression.INDEX_LIMIT:
        raise RepositoryIndexError(f"repomd.xml claims {clip(kind, 40)} has {tag} {describe_size(value)}; "
                                   f"refusing (more than {describe_size(compression.INDEX_LIMIT)})",
                                   hint="the repository metadata is corrupt or hostile")
    return value


# What the decompressors raise on bad input: gzip zlib.error or BadGzipFile (an OSError), bz2
# OSError, xz LZMAError, all of them EOFError when cut short; zstd's ZstdError is added for .zst.
_CORRUPT: tuple[type[Exception], ...] = (OSError, EOFError, ValueError, lzma.LZMAError, zlib.error)


def _corrupt_errors(name: str) -> tuple[type[Exception], ...]:
    if name.endswith(".zst"):
        import zstandard  # only for .zst, as bootstrap.compression loads it

        return (*_CORRUPT, zstandard.ZstdError)
    return _CORRUPT


class _Checked(io.RawIOBase):
    """A decompressing stream whose read errors come out as RepositoryIndexError naming the
    file: the XML parsers above it then see one error type, whatever the compression."""

    def __init__(self, inner: BinaryIO, name: str) -> None:
        super().__init__()
        self._inner, self._name, self._errors = inner, name, _corrupt_errors(name)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        try:
            data = self._inner.read(len(view))
        except compression.TooLarge as exc:
            raise RepositoryIndexError(f"{self._name} {exc}",
                                       hint="the repository metadata is corrupt or hostile") from None
        except self._errors as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise RepositoryIndexError(f"{self._name}: cannot decompress: {reason}",
                                       hint="the mirror's copy is damaged or cut short; retry, "
                                            "or use another mirror") from None
        view[:len(data)] = data
        return len(data)

    def close(self) -> None:
        self._inner.close()
        super().close()


def decompress_stream(data: bytes, name: str, limit: int | None = None) -> BinaryIO:
    """A readable stream of the decompressed content of `data`, by `name`'s suffix
    (bootstrap.compression; anything unknown is plain). Corruption, and inflating past
    `limit` bytes, surface on read, as RepositoryIndexError."""
    if name.endswith(".zck"):
        raise RepositoryIndexError(f"{name}: zchunk metadata is not supported",
                                   hint="the repository also publishes .gz/.xz files; those are used")
    return io.BufferedReader(_Checked(compression.decompress_stream(data, name, limit), name), 1 << 16)


def decompress(data: bytes, name: str, limit: int | None = None) -> bytes:
    """The whole decompressed content (for small files: comps, sqlite databases); raises
    RepositoryIndexError when `data` is corrupt or truncated, or inflates past `limit`."""
    with decompress_stream(data, name, limit) as stream:
        return stream.read()


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
    """Parse comps.xml (namespace-free); RepositoryIndexError if it declares XML entities."""
    check_bytes(data, "comps")
    try:
        root = ET.fromstring(data)
    except (ET.ParseError, LookupError) as exc:  # LookupError: an unknown encoding= declared
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
