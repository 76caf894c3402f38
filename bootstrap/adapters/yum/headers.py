"""Package records from bare RPM headers: yum 2.0's `headers/` (yum-arch) and anaconda's hdlist.
Pure (bytes in).

    parse_header_info(text, where) -> [HeaderInfoLine]   headers/header.info, one line a package
    hdr_blob(data, what) -> bytes                         a .hdr (gzip or raw, magic or not) as rpm stores it
    split_hdlist(data, what) -> [bytes]                   an hdlist's concatenated headers
    parse_blob(blob, what) -> Header                      its header (header.parse_header)
    header_package(header, blob, location, repo_id, where, size) -> Package
    header_identity(header) -> str                        what an .rpm's header must match

header.info lines are `EPOCH:NAME-VER-REL.ARCH=PATH`, PATH relative to the tree; the header of
each is `headers/NAME-EPOCH-VER-REL.ARCH.hdr`: the main header (`hdr.unload()`), usually
gzip-compressed, without the 8-byte magic + reserved intro (both forms are accepted here). A
blob is always returned with its intro, as `RpmFile.header_bytes` holds it; the adapter
holds a downloaded .rpm to the header it was resolved from (`fields` "header-sha256":
header_identity). The one header parser is header.parse_header.

Relations come from the header's REQUIRE*/PROVIDE*/CONFLICT*/OBSOLETE* triples (rpm's sense
bits: LESS 2, GREATER 4, EQUAL 8; PREREQ and the scriptlet bits make a pre-requirement), and
`files` is the header's whole file list, so no filelists are ever needed. Malformed input
raises RepositoryIndexError naming `where`.
"""
from __future__ import annotations

import gzip
import hashlib
import re
import struct
import zlib
from dataclasses import dataclass

from bootstrap.adapters.checks import checked_name, checked_size, checked_word
from bootstrap.adapters.yum.header import (
    ARCH,
    EPOCH,
    HEADER_MAGIC,
    NAME,
    RELEASE,
    VERSION,
    Header,
    RpmFile,
    parse_header,
)
from bootstrap.adapters.yum.primary import _conflicts, _requires
from bootstrap.adapters.yum.version import format_evr
from bootstrap.errors import RepositoryIndexError, UnpackError
from bootstrap.types import Package, Relation

SUMMARY, BUILDTIME, SIZE, VENDOR, LICENSE, PACKAGER, SOURCERPM = 1004, 1006, 1009, 1011, 1014, 1015, 1044
# name, flags, version tags of each relation kind
_RELATIONS = {"provides": (1047, 1112, 1113), "requires": (1049, 1048, 1050),
              "conflicts": (1054, 1053, 1055), "obsoletes": (1090, 1114, 1115)}
# anaconda's hdlist tags (anaconda's hdrlist.py, genhdlist): where the package file is.
FILENAME, FILESIZE, CDNUM = 1000000, 1000001, 1000002
MATCHER = 1000004  # pairs an hdlist entry with its hdlist2 entry (anaconda's genhdlist)
# ARCHIVESIZE and the file and verity signatures: what rpm merges from the signature header.
_MERGED = frozenset({1046, 5090, 5091, 5099, 5100})
# What header_identity compares in another form: file names (OLDFILENAMES, DIRINDEXES,
# BASENAMES, DIRNAMES) and provides (PROVIDENAME, PROVIDEFLAGS, PROVIDEVERSION).
_DERIVED = frozenset({1027, 1116, 1117, 1118, 1047, 1112, 1113})
_PRE = 64 | 512 | 1024  # RPMSENSE_PREREQ, SCRIPT_PRE, SCRIPT_POST
_OPS = {2: "<", 4: ">", 8: "=", 10: "<=", 12: ">="}
_LINE = re.compile(r"(?P<epoch>[0-9]+):(?P<name>.+)-(?P<ver>[^-]+)-(?P<rel>[^-]+)\.(?P<arch>[^.]+)=(?P<path>\S+)")
_HINT = "the tree's headers/ is damaged or not yum-arch's; use another mirror"
_LIMIT = 64 << 20  # one header, inflated: a hostile .hdr must not fill memory


@dataclass(frozen=True)
class HeaderInfoLine:
    """One package of header.info: its NEVRA, where its .rpm is and where its header is."""

    epoch: str
    name: str
    version: str
    release: str
    arch: str
    path: str

    @property
    def hdr(self) -> str:
        """`headers/NAME-EPOCH-VER-REL.ARCH.hdr`, relative to the tree."""
        return f"headers/{self.name}-{self.epoch}-{self.version}-{self.release}.{self.arch}.hdr"

    @property
    def evr(self) -> str:
        return format_evr(self.epoch, self.version, self.release)


def parse_header_info(text: str, where: str) -> list[HeaderInfoLine]:
    """Every line of a header.info (blank lines skipped); RepositoryIndexError naming the first
    line that is not `EPOCH:NAME-VER-REL.ARCH=PATH`, or a PATH that leaves the tree."""
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        m = _LINE.fullmatch(line.strip())
        path = m["path"] if m else ""
        if m is None or path.startswith("/") or ".." in path.split("/") or "://" in path:
            raise RepositoryIndexError(f"{where}: line {number} is not EPOCH:NAME-VER-REL.ARCH=PATH: {line[:80]!r}",
                                       hint=_HINT)
        name = checked_name(m["name"], "name", where)
        for part in ("epoch", "ver", "rel", "arch"):
            checked_word(m[part], f"{part} of {name}", where)
        out.append(HeaderInfoLine(m["epoch"], name, m["ver"], m["rel"], m["arch"], path))
    return out


def hdr_blob(data: bytes, what: str) -> bytes:
    """A .hdr as the header bytes rpm stores in a package (magic + reserved intro first):
    gzip-compressed or raw, with or without the intro."""
    if data[:2] == b"\x1f\x8b":
        try:
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            data = d.decompress(data, _LIMIT)
        except (zlib.error, gzip.BadGzipFile) as exc:
            raise RepositoryIndexError(f"{what} is corrupt: {exc}", hint=_HINT) from None
    if data[:4] != HEADER_MAGIC:
        data = HEADER_MAGIC + b"\0\0\0\0" + data
    return data


def split_hdlist(data: bytes, what: str) -> list[bytes]:
    """The headers an hdlist holds, each with its intro (anaconda writes them back to back)."""
    out, pos = [], 0
    while pos < len(data):
        if data[pos:pos + 4] != HEADER_MAGIC or len(data) < pos + 16:
            raise RepositoryIndexError(f"{what}: no header at byte {pos}", hint=_HINT)
        count, size = struct.unpack_from(">II", data, pos + 8)
        end = pos + 16 + 16 * count + size
        if end > len(data):
            raise RepositoryIndexError(f"{what}: the header at byte {pos} is truncated", hint=_HINT)
        out.append(data[pos:end])
        pos = end
    return out


def parse_blob(blob: bytes, what: str) -> Header:
    """The header of a blob (hdr_blob or split_hdlist), RepositoryIndexError when it is corrupt."""
    try:
        header, _ = parse_header(blob, what)
    except UnpackError as exc:
        raise RepositoryIndexError(f"{what}: {exc.message}", hint=_HINT) from None
    return header


def header_identity(header: Header) -> str:
    """What `fields` "header-sha256" holds: a digest of what a header says of its package, as
    rpm's hdrFromFdno (which yum-arch wrote .hdr files with) returns it for the .rpm. That
    merges the signature's tags (below 1000, _MERGED) into the header, and for packages older
    than rpm 4 turns OLDFILENAMES into DIRNAMES/BASENAMES and adds the `NAME = EVR` provide;
    so the tags 1000 up to anaconda's 1000000 count, but file names as paths and provides as
    a set without that one."""
    h = header
    kept = sorted((tag, value) for tag, value in h.tags.items()
                  if 1000 <= tag < FILENAME and tag not in _MERGED and tag not in _DERIVED)
    try:
        paths = [f.path for f in RpmFile("", Header({}), h, b"", 0, 0).files()]
    except UnpackError:
        paths = []  # a corrupt file list: it fails elsewhere; here it only differs
    names, flags, versions = (h.strings(1047), h.ints(1112), h.strings(1113))
    provides = {p for p in zip(names, flags, versions, strict=False) if p[0] != h.string(NAME) or p[1] & 0xE != 8}
    text = repr((kept, paths, sorted(provides)))
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def _relations(h: Header, kind: str) -> list[tuple[Relation | str, bool]]:
    names_tag, flags_tag, versions_tag = _RELATIONS[kind]
    names = h.strings(names_tag)
    flags = h.ints(flags_tag) + [0] * len(names)
    versions = h.strings(versions_tag) + [""] * len(names)
    out: list[tuple[Relation | str, bool]] = []
    for name, flag, version in zip(names, flags, versions, strict=False):
        if name.startswith("("):
            out.append((name, bool(flag & _PRE)))
            continue
        op = _OPS.get(flag & 0xE)
        epoch, _, rest = version.rpartition(":") if ":" in version else ("", "", version)
        evr = format_evr(epoch, rest, None) if op and version else ""
        out.append((Relation(name, op, evr) if evr and op else Relation(name), bool(flag & _PRE)))
    return out


def header_package(h: Header, blob: bytes, location: str, repo_id: str, where: str, size: int = 0) -> Package:
    """The Package a main header describes; `location` is the .rpm's URL, `size` its length
    when the metadata gives it (hdlist's FILESIZE; 0: unchecked); `blob` the header's bytes
    when the package's own header must equal them (b"": not held to them)."""
    name = checked_name(h.string(NAME), "name", where)
    arch = checked_word(h.string(ARCH), f"architecture of {name}", where)
    epoch = h.ints(EPOCH)
    version = format_evr(str(epoch[0]) if epoch else None, h.string(VERSION), h.string(RELEASE))
    checked_word(version, f"version of {name}", where)
    deps, pre = _requires(_relations(h, "requires"))
    conflicts, clauses = _conflicts(_relations(h, "conflicts"))
    try:
        files = tuple(RpmFile("", Header({}), h, blob, 0, 0).files())
    except UnpackError as exc:
        raise RepositoryIndexError(f"{where}: {exc.message}", hint=_HINT) from None
    fields = [("summary", h.string(SUMMARY)), ("sourcerpm", h.string(SOURCERPM)), ("license", h.string(LICENSE)),
              ("vendor", h.string(VENDOR)), ("packager", h.string(PACKAGER)),
              ("buildtime", str(h.ints(BUILDTIME)[0]) if h.ints(BUILDTIME) else ""),
              ("header-sha256", header_identity(h) if blob else "")]
    return Package(
        name=name, version=version, arch=arch, depends=tuple(deps), pre_depends=tuple(pre),
        conflict_clauses=tuple(clauses),
        provides=tuple(r for r, _ in _relations(h, "provides") if isinstance(r, Relation)),
        conflicts=conflicts,
        obsoletes=tuple(r for r, _ in _relations(h, "obsoletes") if isinstance(r, Relation)),
        files=tuple(f.path for f in files), size=checked_size(size, f"size of {name}", where),
        installed_size=h.ints(SIZE)[0] if h.ints(SIZE) else 0,
        location=location, repo=repo_id, fields=tuple((k, v) for k, v in fields if v))
