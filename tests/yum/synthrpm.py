"""Small, valid .rpm files built in memory for tests that must not depend on rpmbuild or the
real-data folder: a format-3 lead, a signature header whose SIZE/MD5/SHA1 match, and a main
header with name, EVR, arch, scriptlets and a dir/basename file list with modes, owners and
capabilities. Only what bootstrap.adapters.yum.header reads is written."""
from __future__ import annotations

import gzip
import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

from bootstrap.adapters.yum import header as h

INT16, INT32, STRING, BIN, STRING_ARRAY = 3, 4, 6, 7, 8


@dataclass(frozen=True)
class SynthFile:
    path: str
    mode: int = 0o100644
    user: str = "root"
    group: str = "root"
    caps: str = ""


@dataclass(frozen=True)
class SynthRpm:
    name: str = "synth"
    version: str = "1.0"
    release: str = "1"
    epoch: int | None = 2
    arch: str = "noarch"
    files: Sequence[SynthFile] = (SynthFile("/usr/bin/synth", 0o104755, "root", "wheel", "cap_net_raw=ep"),
                                  SynthFile("/etc/synth.conf"))
    scripts: dict[str, tuple[str, str]] = field(default_factory=lambda: {"pre": ("echo pre", "/bin/sh")})
    payload: bytes = gzip.compress(b"070701 not really cpio", mtime=0)


def _strings(values: Sequence[str]) -> bytes:
    return b"".join(v.encode() + b"\0" for v in values)


def header(entries: Sequence[tuple[int, int, bytes, int]]) -> bytes:
    """A header of (tag, type, stored bytes, count) entries, in that order, numbers aligned
    in the store as rpm requires."""
    index, store = b"", b""
    for tag, typ, data, count in entries:
        align = {INT16: 2, INT32: 4}.get(typ, 1)
        store += b"\0" * (-len(store) % align)
        index += struct.pack(">IIII", tag, typ, len(store), count)
        store += data
    return h.HEADER_MAGIC + b"\0" * 4 + struct.pack(">II", len(entries), len(store)) + index + store


def main_header(spec: SynthRpm) -> bytes:
    dirs = sorted({f.path.rsplit("/", 1)[0] + "/" for f in spec.files})
    entries: list[tuple[int, int, bytes, int]] = [
        (h.NAME, STRING, _strings([spec.name]), 1), (h.VERSION, STRING, _strings([spec.version]), 1),
        (h.RELEASE, STRING, _strings([spec.release]), 1), (h.ARCH, STRING, _strings([spec.arch]), 1),
        (h.PAYLOADCOMPRESSOR, STRING, _strings(["gzip"]), 1),
    ]
    if spec.epoch is not None:
        entries.append((h.EPOCH, INT32, struct.pack(">I", spec.epoch), 1))
    for kind, (body, prog) in spec.scripts.items():
        body_tag, prog_tag = h.SCRIPTS[kind]
        entries += [(body_tag, STRING, _strings([body]), 1), (prog_tag, STRING, _strings([prog]), 1)]
    n = len(spec.files)
    entries += [
        (h.DIRNAMES, STRING_ARRAY, _strings(dirs), len(dirs)),
        (h.DIRINDEXES, INT32, b"".join(struct.pack(">I", dirs.index(f.path.rsplit("/", 1)[0] + "/"))
                                       for f in spec.files), n),
        (h.BASENAMES, STRING_ARRAY, _strings([f.path.rsplit("/", 1)[1] for f in spec.files]), n),
        (h.FILEMODES, INT16, b"".join(struct.pack(">H", f.mode) for f in spec.files), n),
        (h.FILEFLAGS, INT32, b"\0\0\0\0" * n, n),
        (h.FILEUSERNAME, STRING_ARRAY, _strings([f.user for f in spec.files]), n),
        (h.FILEGROUPNAME, STRING_ARRAY, _strings([f.group for f in spec.files]), n),
        (h.FILECAPS, STRING_ARRAY, _strings([f.caps for f in spec.files]), n),
    ]
    return header(entries)


def rpm_bytes(spec: SynthRpm | None = None) -> bytes:
    """The whole .rpm: lead, signature header (SIZE, MD5, SHA1 all matching), padding, main
    header, payload."""
    spec = spec or SynthRpm()
    main = main_header(spec)
    signature = header([
        (h.SIG_SIZE, INT32, struct.pack(">I", len(main) + len(spec.payload)), 1),
        (h.SIG_MD5, BIN, hashlib.md5(main + spec.payload).digest(), 16),
        (h.SIG_SHA1, STRING, _strings([hashlib.sha1(main).hexdigest()]), 1),
    ])
    name = f"{spec.name}-{spec.version}-{spec.release}".encode()[:65]
    lead = h.LEAD_MAGIC + bytes([3, 0]) + b"\0\0" + b"\0\1" + name.ljust(66, b"\0") + b"\0\1" + b"\0\5"
    lead = lead.ljust(h.LEAD_SIZE, b"\0")
    pad = b"\0" * ((8 - len(signature) % 8) % 8)
    return lead + signature + pad + main + spec.payload
