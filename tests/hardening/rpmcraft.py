"""Rewriting the cpio payload of a real rpmbuild output, digests kept consistent.

rpm takes a file's type, mode, owner and link target from the header; the cpio archive only
supplies names and the data of regular files. A hostile packager can therefore make the cpio
say something the header does not (a setuid mode, a symlink, a device where the header has a
0644 regular file), or carry entries the header never lists. `rewrite_payload` does that to a
package built with `%_binary_payload w.ufdio` (an uncompressed cpio, so the payload digest is
the digest of the cpio itself) and then repairs every digest and size the signature header and
the main header keep, so the result checks as intact and rpmsign signs it. Only the content is
hostile.

    entries = read_newc(cpio)            # every member, with its data
    write_newc(entries) -> bytes         # the archive again, trailer included
    rewrite_payload(rpm, edit, header_edits)   # edit(entries) -> entries, in place in the file
"""
from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from bootstrap.adapters.yum.header import read_rpm

NEWC = b"070701"
TRAILER = "TRAILER!!!"
_FIELDS = ("ino", "mode", "uid", "gid", "nlink", "mtime", "size", "devmajor", "devminor",
           "rdevmajor", "rdevminor", "namesize", "check")
# Signature header: header+payload size and MD5, header SHA-1/SHA-256, uncompressed payload size.
SIG_SIZE, SIG_MD5, SIG_SHA1, SIG_SHA256, SIG_PAYLOADSIZE = 1000, 1004, 269, 273, 1007
SIG_LONGSIZE, SIG_LONGARCHIVESIZE = 270, 271
# Main header: payload digests (compressed, uncompressed), file modes and flags.
PAYLOADDIGEST, PAYLOADDIGESTALT, FILEMODES, FILEFLAGS = 5092, 5097, 1030, 1037


@dataclass(frozen=True)
class CpioEntry:
    """One newc member: `name` as stored (`./opt/x`), numeric fields, and its data."""

    name: str
    mode: int
    data: bytes = b""
    ino: int = 0
    nlink: int = 1
    uid: int = 0
    gid: int = 0
    mtime: int = 0
    rdevmajor: int = 0
    rdevminor: int = 0

    def but(self, **changes: object) -> CpioEntry:
        return replace(self, **changes)  # type: ignore[arg-type]


def _pad4(n: int) -> int:
    return (4 - n % 4) % 4


def read_newc(data: bytes) -> list[CpioEntry]:
    """Every member of a newc archive up to its trailer."""
    found: list[CpioEntry] = []
    pos = 0
    while True:
        if data[pos:pos + 6] != NEWC:
            raise ValueError(f"not a newc header at {pos}")
        values = [int(data[pos + 6 + 8 * i:pos + 14 + 8 * i], 16) for i in range(13)]
        fields = dict(zip(_FIELDS, values, strict=True))
        pos += 110
        name = data[pos:pos + fields["namesize"] - 1].decode()
        pos += fields["namesize"]
        pos += _pad4(110 + fields["namesize"])
        body = data[pos:pos + fields["size"]]
        pos += fields["size"] + _pad4(fields["size"])
        if name == TRAILER:
            return found
        found.append(CpioEntry(name, fields["mode"], body, fields["ino"], fields["nlink"], fields["uid"],
                               fields["gid"], fields["mtime"], fields["rdevmajor"], fields["rdevminor"]))


def _member(entry: CpioEntry) -> bytes:
    name = entry.name.encode() + b"\0"
    values = (entry.ino, entry.mode, entry.uid, entry.gid, entry.nlink, entry.mtime, len(entry.data),
              0, 0, entry.rdevmajor, entry.rdevminor, len(name), 0)
    head = NEWC + b"".join(b"%08x" % v for v in values) + name
    return head + b"\0" * _pad4(len(head)) + entry.data + b"\0" * _pad4(len(entry.data))


def write_newc(entries: list[CpioEntry]) -> bytes:
    """The archive of `entries`, then the trailer, padded as rpmbuild pads it."""
    out = b"".join(_member(e) for e in entries) + _member(CpioEntry(TRAILER, 0, nlink=1))
    return out + b"\0" * _pad4(len(out))


def _slots(raw: bytes) -> dict[int, tuple[int, int, int]]:
    """tag → (type, absolute offset of its data in `raw`, count) of one header blob."""
    count, _ = struct.unpack_from(">II", raw, 8)
    store = 16 + 16 * count
    slots = {}
    for i in range(count):
        tag, typ, offset, n = struct.unpack_from(">IIII", raw, 16 + 16 * i)
        slots[tag] = (typ, store + offset, n)
    return slots


def _put(raw: bytearray, tag: int, value: int | bytes | str | list[int]) -> None:
    """Overwrite a tag's value in place (same size); an absent tag is left alone."""
    slots = _slots(bytes(raw))
    if tag not in slots:
        return
    typ, at, n = slots[tag]
    if isinstance(value, str):
        data = value.encode()
    elif isinstance(value, bytes):
        data = value
    else:
        values = value if isinstance(value, list) else [value]
        fmt = {3: "H", 4: "I", 5: "Q"}[typ]
        data = struct.pack(f">{len(values)}{fmt}", *values)
        assert len(values) == n, (tag, n, values)
    raw[at:at + len(data)] = data


def rewrite_payload(rpm: Path, edit: Callable[[list[CpioEntry]], list[CpioEntry]],
                    header_edits: dict[int, list[int]] | None = None) -> None:
    """Replace the cpio payload of the (unsigned, w.ufdio) package at `rpm` by `edit`'s result,
    apply `header_edits` (tag → new integer list of the same length, as FILEMODES or FILEFLAGS),
    and repair every digest and size so the package verifies as intact."""
    with open(rpm, "rb") as fh:
        info = read_rpm(fh)
        payload = fh.read()
    blob = rpm.read_bytes()
    sig = bytearray(blob[96:96 + info.header_offset - 96])
    header = bytearray(info.header_bytes)
    new = write_newc(edit(read_newc(payload)))
    digest = hashlib.sha256(new).hexdigest()
    _put(header, PAYLOADDIGEST, digest)
    _put(header, PAYLOADDIGESTALT, digest)
    for tag, values in (header_edits or {}).items():
        _put(header, tag, values)
    head = bytes(header)
    _put(sig, SIG_SHA1, hashlib.sha1(head).hexdigest())
    _put(sig, SIG_SHA256, hashlib.sha256(head).hexdigest())
    _put(sig, SIG_MD5, hashlib.md5(head + new).digest())
    _put(sig, SIG_SIZE, len(head) + len(new))
    _put(sig, SIG_LONGSIZE, len(head) + len(new))
    _put(sig, SIG_PAYLOADSIZE, len(new))
    _put(sig, SIG_LONGARCHIVESIZE, len(new))
    rpm.write_bytes(blob[:96] + bytes(sig) + head + new)
