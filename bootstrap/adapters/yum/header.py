"""The RPM file format's lead, signature header and main header. Pure (a byte stream in).

    read_rpm(stream) -> RpmFile        reads lead + signature + header, stops at the payload

Layout (rpm's doc/manual/format): a 96-byte lead (magic ed ab ee db, format major 3), then the
signature header padded to 8 bytes, then the main header, then the compressed cpio payload.
Each header is magic 8e ad e8 01, 4 reserved bytes, the entry count and data size (big-endian),
16-byte index entries (tag, type, offset, count), then the data store.

`RpmFile` keeps the raw main header bytes (what SIGTAG_DSA/RSA/SHA1/SHA256 cover) and the
payload's offset (SIGTAG_GPG/PGP/MD5 cover header + payload) for trust.rpmsig, and exposes what
the pipeline needs: name, EVR, arch, payload compressor and format, scriptlets with their
interpreters, and the file list with modes, owners, flags (%config, %ghost) and capabilities.
RPM v6 packages (lead major 4) raise UnpackError: this reader knows format 3 only.

Every malformed input raises UnpackError, from read_rpm and parse_header and from the
accessors of what they return (a tag of the wrong type, a file list whose parts disagree):
the bytes come from a mirror.
"""
from __future__ import annotations

import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, TypeVar

from bootstrap.adapters.yum.version import format_evr
from bootstrap.errors import UnpackError

LEAD_MAGIC = b"\xed\xab\xee\xdb"
HEADER_MAGIC = b"\x8e\xad\xe8\x01"
LEAD_SIZE = 96

# Signature header tags.
SIG_SIZE, SIG_PGP, SIG_MD5, SIG_GPG, SIG_PAYLOADSIZE = 1000, 1002, 1004, 1005, 1007
SIG_DSA, SIG_RSA, SIG_SHA1, SIG_LONGSIZE, SIG_SHA256, SIG_OPENPGP = 267, 268, 269, 270, 273, 278
# Main header tags.
NAME, VERSION, RELEASE, EPOCH, SUMMARY, OS, ARCH = 1000, 1001, 1002, 1003, 1004, 1021, 1022
PREIN, POSTIN, PREUN, POSTUN = 1023, 1024, 1025, 1026
PREINPROG, POSTINPROG, PREUNPROG, POSTUNPROG = 1085, 1086, 1087, 1088
OLDFILENAMES, FILESIZES, FILEMODES, FILEMTIMES, FILELINKTOS, FILEFLAGS = 1027, 1028, 1030, 1034, 1036, 1037
FILERDEVS, FILEDIGESTS = 1033, 1035
FILEUSERNAME, FILEGROUPNAME = 1039, 1040
RPMVERSION, FILEINODES, FILECOLORS = 1064, 1096, 1140
DIRINDEXES, BASENAMES, DIRNAMES = 1116, 1117, 1118
PAYLOADFORMAT, PAYLOADCOMPRESSOR, PAYLOADFLAGS = 1124, 1125, 1126
FILECAPS, FILEDIGESTALGO = 5010, 5011
PAYLOADDIGEST, PAYLOADDIGESTALGO = 5092, 5093

# File flags (rpmfileAttrs).
FILE_CONFIG, FILE_DOC, FILE_MISSINGOK, FILE_NOREPLACE, FILE_GHOST = 1, 2, 8, 16, 64

_INT_FORMATS = {2: "B", 3: "H", 4: "I", 5: "Q"}
SCRIPTS = {"pre": (PREIN, PREINPROG), "post": (POSTIN, POSTINPROG),
           "preun": (PREUN, PREUNPROG), "postun": (POSTUN, POSTUNPROG)}
_CORRUPT_HINT = "the file is damaged; retry the download"
T = TypeVar("T")


@dataclass(frozen=True)
class RpmFileInfo:
    """One file the header declares. `path` is absolute as rpm writes it (`/etc/passwd`)."""

    path: str
    mode: int
    user: str
    group: str
    flags: int
    size: int = 0
    linkto: str = ""
    caps: str = ""
    rdev: int = 0  # a device's numbers, old-style (major << 8 | minor; os.major/os.minor read it)
    digest: str = ""  # hex, of the algorithm the header's FILEDIGESTALGO names (MD5 without it)
    color: int = 0  # FILECOLORS: 1 for an ELF32 file, 2 for ELF64, 0 for the rest
    inode: int = 0  # FILEINODES: files of one package sharing one are a hard-link set (0: unknown)

    @property
    def is_ghost(self) -> bool:
        return bool(self.flags & FILE_GHOST)

    @property
    def is_config(self) -> bool:
        return bool(self.flags & FILE_CONFIG)


@dataclass(frozen=True)
class Script:
    """A scriptlet: its body ("" for an interpreter-only `%post -p /sbin/ldconfig`) and argv."""

    body: str
    prog: tuple[str, ...]


@dataclass(frozen=True)
class Header:
    """A parsed header: tag → value (int list, str, str list or bytes)."""

    tags: Mapping[int, object]

    def get(self, tag: int, default: object = None) -> object:
        return self.tags.get(tag, default)

    def string(self, tag: int) -> str:
        value = self.tags.get(tag)
        if isinstance(value, list):
            return str(value[0]) if value else ""
        return "" if value is None else str(value)

    def strings(self, tag: int) -> list[str]:
        value = self.tags.get(tag)
        if value is None:
            return []
        return [str(v) for v in value] if isinstance(value, list) else [str(value)]

    def ints(self, tag: int) -> list[int]:
        """The numbers of an integer tag ([] when absent or not a list); UnpackError when the
        tag holds strings where rpm stores numbers."""
        value = self.tags.get(tag)
        if not isinstance(value, list):
            return []
        if not all(isinstance(v, int) for v in value):
            raise UnpackError(f"corrupt rpm header: tag {tag} holds strings, not numbers", hint=_CORRUPT_HINT)
        return [int(v) for v in value]


@dataclass(frozen=True)
class RpmFile:
    """An .rpm's lead, signature and main header; `header_bytes` are the main header as stored,
    `payload_offset` where the compressed payload starts in the file."""

    lead_name: str
    signature: Header
    header: Header
    header_bytes: bytes
    header_offset: int
    payload_offset: int

    @property
    def name(self) -> str:
        return self.header.string(NAME)

    @property
    def evr(self) -> str:
        epoch = self.header.ints(EPOCH)
        return format_evr(str(epoch[0]) if epoch else None, self.header.string(VERSION),
                          self.header.string(RELEASE))

    @property
    def arch(self) -> str:
        return self.header.string(ARCH)

    @property
    def nevra(self) -> str:
        """`name-[epoch:]version-release.arch`, for messages: control characters and bytes
        that were not UTF-8 in the header show escaped (`\\n`, `\\udc80`), so a message
        naming a damaged or hostile package stays one printable line."""
        text = f"{self.name}-{self.evr}.{self.arch}"
        if text.isprintable():
            return text
        return "".join(c if c.isprintable() else c.encode("unicode_escape", "backslashreplace").decode()
                       for c in text)

    @property
    def rpm_version(self) -> tuple[int, ...]:
        """The version of the rpm that built the package (RPMVERSION: `4.11.3` → (4, 11, 3));
        () when the header does not say."""
        parts = []
        for word in self.header.string(RPMVERSION).split(".")[:4]:
            digits = re.match(r"[0-9]{1,9}", word)
            if digits is None:
                break
            parts.append(int(digits[0]))
        return tuple(parts)

    @property
    def payload_compressor(self) -> str:
        """gzip, bzip2, xz, lzma, zstd as the header says; "" when the tag is absent (old rpms,
        always gzip, and uncompressed ufdio payloads: the unpacker detects the format itself)."""
        return self.header.string(PAYLOADCOMPRESSOR)

    @property
    def payload_format(self) -> str:
        return self.header.string(PAYLOADFORMAT) or "cpio"

    def scripts(self) -> dict[str, Script]:
        """pre/post/preun/postun scriptlets that exist (body or interpreter)."""
        found = {}
        for name, (body_tag, prog_tag) in SCRIPTS.items():
            body = self.header.string(body_tag)
            prog = tuple(self.header.strings(prog_tag))
            if body or prog:
                found[name] = Script(body, prog or ("/bin/sh",))
        return found

    def files(self) -> list[RpmFileInfo]:
        """Every file of the header, in header order."""
        h = self.header
        paths = h.strings(OLDFILENAMES) or _dir_paths(h)
        n = len(paths)
        modes = _pad(h.ints(FILEMODES), n, 0)
        flags = _pad(h.ints(FILEFLAGS), n, 0)
        sizes = _pad(h.ints(FILESIZES), n, 0)
        users = _pad(h.strings(FILEUSERNAME), n, "root")
        groups = _pad(h.strings(FILEGROUPNAME), n, "root")
        links = _pad(h.strings(FILELINKTOS), n, "")
        caps = _pad(h.strings(FILECAPS), n, "")
        rdevs = _pad(h.ints(FILERDEVS), n, 0)
        digests = _pad(h.strings(FILEDIGESTS), n, "")
        colors = _pad(h.ints(FILECOLORS), n, 0)
        inodes = _pad(h.ints(FILEINODES), n, 0)
        return [RpmFileInfo(paths[i], modes[i] & 0o177777, users[i], groups[i], flags[i], sizes[i],
                            links[i], caps[i], rdevs[i], digests[i], colors[i], inodes[i]) for i in range(n)]


def _dir_paths(h: Header) -> list[str]:
    """rpm >= 4.1's file names: DIRNAMES[DIRINDEXES[i]] + BASENAMES[i]."""
    dirs, indexes, bases = h.strings(DIRNAMES), h.ints(DIRINDEXES), h.strings(BASENAMES)
    if len(indexes) != len(bases) or any(i >= len(dirs) for i in indexes):
        raise UnpackError(f"corrupt rpm header: {len(bases)} file names, {len(indexes)} directory "
                          f"indexes into {len(dirs)} directories", hint=_CORRUPT_HINT)
    return [dirs[i] + base for i, base in zip(indexes, bases, strict=True)]


def _pad(values: list[T], n: int, fill: T) -> list[T]:
    return values + [fill] * (n - len(values))


def _read_exact(stream: IO[bytes], size: int, what: str) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise UnpackError(f"truncated rpm: {what} ends early", hint="the download is incomplete; retry")
    return data


def _decode(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _value(store: bytes, typ: int, offset: int, count: int) -> object:
    if typ in _INT_FORMATS:
        return list(struct.unpack_from(f">{count}{_INT_FORMATS[typ]}", store, offset))
    if typ == 1:  # CHAR
        return list(store[offset:offset + count])
    if typ == 7:  # BIN
        return store[offset:offset + count]
    if typ in (6, 8, 9):  # STRING, STRING_ARRAY, I18NSTRING: NUL-terminated strings
        out, pos = [], offset
        for _ in range(1 if typ == 6 else count):
            end = store.index(b"\0", pos)
            out.append(_decode(store[pos:end]))
            pos = end + 1
        return out[0] if typ == 6 else out
    return None


def parse_header(data: bytes, what: str = "header") -> tuple[Header, int]:
    """Parse one header at the start of `data`; returns it and its length in bytes."""
    if data[:4] != HEADER_MAGIC:
        raise UnpackError(f"not an rpm: bad {what} magic", hint="the file is corrupt or not an rpm")
    if len(data) < 16:
        raise UnpackError(f"truncated rpm {what}")
    count, size = struct.unpack_from(">II", data, 8)
    start = 16 + 16 * count
    if len(data) < start + size:
        raise UnpackError(f"truncated rpm {what}")
    store = data[start:start + size]
    tags: dict[int, object] = {}
    try:
        for i in range(count):
            tag, typ, offset, n = struct.unpack_from(">IIII", data, 16 + 16 * i)
            tags[tag] = _value(store, typ, offset, n)
    except (struct.error, ValueError) as exc:
        raise UnpackError(f"corrupt rpm {what}: {exc}", hint=_CORRUPT_HINT) from None
    return Header(tags), start + size


def _read_header(stream: IO[bytes], what: str) -> tuple[Header, bytes]:
    intro = _read_exact(stream, 16, what)
    if intro[:4] != HEADER_MAGIC:
        raise UnpackError(f"not an rpm: bad {what} magic", hint="the file is corrupt or not an rpm")
    count, size = struct.unpack_from(">II", intro, 8)
    if count > 1 << 20 or size > 1 << 30:
        raise UnpackError(f"corrupt rpm {what}: implausible size")
    raw = intro + _read_exact(stream, 16 * count + size, what)
    header, _ = parse_header(raw, what)
    return header, raw


def read_rpm(stream: IO[bytes]) -> RpmFile:
    """Read lead, signature and header from `stream` (left positioned at the payload)."""
    lead = _read_exact(stream, LEAD_SIZE, "lead")
    if lead[:4] != LEAD_MAGIC:
        raise UnpackError("not an rpm file (no rpm lead magic)", hint="the mirror served something else")
    major = lead[4]
    name = lead[10:76].split(b"\0", 1)[0].decode("latin-1")
    if major != 3:
        # rpm 6 writes lead major 4 for its new format ("RPM v6"); rpm 3.0 to 4.x write 3.
        what = "an RPM v6 package (rpm format version 4)" if major == 4 else f"in rpm format version {major}"
        raise UnpackError(f"{name or 'package'} is {what}, which is not supported: only the format of "
                          "rpm 3.0 to 4.x (version 3) is read",
                          hint="RPM v6 packages need rpm >= 6; build or fetch v4 packages")
    signature, sig_raw = _read_header(stream, "signature header")
    pad = (8 - len(sig_raw) % 8) % 8
    _read_exact(stream, pad, "signature padding")
    header_offset = LEAD_SIZE + len(sig_raw) + pad
    header, raw = _read_header(stream, "header")
    return RpmFile(name, signature, header, raw, header_offset, header_offset + len(raw))
