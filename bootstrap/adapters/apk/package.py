"""apk's signed-file layout (.apk packages and APKINDEX.tar.gz): pure functions over bytes.

Both are concatenated gzip streams, each holding a tar fragment:

1. the signature stream: `.SIGN.RSA.<key>` / `.SIGN.RSA256.<key>` entries (no tar end blocks,
   so the fragments concatenate into one valid tar);
2. the control stream: `.PKGINFO` and the scripts (`.pre-install`, `.post-install`,
   `.trigger`...) of a package, or `DESCRIPTION` + `APKINDEX` of an index;
3. (packages only) the data stream: the files.

The signatures cover the *compressed* bytes of stream 2. An index's `C:` field is
`Q1` + base64(SHA-1 of those same compressed bytes), so the index vouches for the package's
control data, and `.PKGINFO`'s `datahash` (SHA-256 hex of the compressed stream 3) vouches
for the files. Streams are split with zlib's `unused_data`, never by searching for magic bytes.
"""
from __future__ import annotations

import base64
import hashlib
import io
import tarfile
import zlib
from dataclasses import dataclass, field

from bootstrap import compression
from bootstrap.adapters.apk.signature import ApkSignature, signatures_from_members
from bootstrap.errors import ChecksumError, UnpackError

# Scripts apk knows in a package's control stream (apk-tools' script types).
SCRIPT_NAMES = (".pre-install", ".post-install", ".pre-deinstall", ".post-deinstall",
                ".pre-upgrade", ".post-upgrade", ".trigger")


def split_gzip_streams(data: bytes, what: str, limit: int | None = None, first: int = 1) -> list[bytes]:
    """The compressed bytes of each gzip stream in `data`, in order. With `limit`, only that
    many streams are decompressed to find their ends; what follows is one last item, unread.
    `first` is the number of `data`'s first stream in the file (for error messages). A stream
    that inflates past compression.INDEX_LIMIT is refused (UnpackError) without reading on."""
    streams: list[bytes] = []
    rest = data
    ceiling = compression.INDEX_LIMIT
    while rest:
        if limit is not None and len(streams) >= limit:
            streams.append(rest)
            break
        decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            # Decompress in bounded pieces: only the stream boundary is wanted here.
            pending, inflated = rest, 0
            while pending and not decoder.eof:
                inflated += len(decoder.decompress(pending, 1 << 20))
                if inflated > ceiling:
                    raise UnpackError(f"{what}: gzip stream {len(streams) + first} "
                                      f"{compression.TooLarge(ceiling)}")
                pending = decoder.unconsumed_tail
        except zlib.error as exc:
            raise UnpackError(f"{what}: corrupt gzip stream {len(streams) + first}: {exc}") from None
        if not decoder.eof:
            raise UnpackError(f"{what}: gzip stream {len(streams) + first} is truncated")
        used = len(rest) - len(decoder.unused_data)
        streams.append(rest[:used])
        rest = decoder.unused_data
    return streams


def gunzip(stream: bytes) -> bytes:
    """The decompressed content of one gzip stream; zlib.error when corrupt, and when it
    inflates past compression.INDEX_LIMIT (compression.TooLarge)."""
    try:
        return compression.decompress(stream, ".gz")
    except compression.TooLarge:
        raise
    except ValueError as exc:
        raise zlib.error(str(exc)) from None


def tar_members(stream: bytes, what: str) -> list[tuple[str, bytes]]:
    """(name, data) of the regular files in one gzip stream's tar fragment."""
    members = []
    try:
        with tarfile.open(fileobj=io.BytesIO(gunzip(stream)), mode="r:") as tar:
            for info in tar:
                if info.isfile():
                    handle = tar.extractfile(info)
                    members.append((info.name.removeprefix("./"), handle.read() if handle else b""))
    except compression.TooLarge as exc:
        raise UnpackError(f"{what}: a gzip stream {exc}") from None
    except (tarfile.TarError, zlib.error) as exc:
        raise UnpackError(f"{what}: unreadable tar in gzip stream: {exc}") from None
    return members


def apk_checksum(control_stream: bytes) -> str:
    """apk's `Q1...` identity of a package: base64 of the control stream's SHA-1."""
    return "Q1" + base64.b64encode(hashlib.sha1(control_stream).digest()).decode()


def file_checksum(content: bytes) -> str:
    """apk's `Z:` digest of a file's content in /lib/apk/db/installed (`Q1` + base64 SHA-1)."""
    return "Q1" + base64.b64encode(hashlib.sha1(content).digest()).decode()


@dataclass(frozen=True)
class SignedFile:
    """An apk-signed file split: signatures, the signed control stream, the rest."""

    signatures: tuple[ApkSignature, ...]
    control_stream: bytes
    control: dict[str, bytes] = field(default_factory=dict)
    data_stream: bytes = b""


def split_signed(data: bytes, what: str) -> SignedFile:
    """Split an APKINDEX.tar.gz or .apk. An unsigned file (no `.SIGN.` stream) gives no
    signatures; the caller decides whether that is acceptable. The bytes after the control
    stream are returned unread: a corrupt data stream is then reported by its `datahash` (a
    checksum mismatch) rather than by whatever the damaged deflate data makes zlib say."""
    streams = split_gzip_streams(data, what, limit=1)
    if not streams:
        raise UnpackError(f"{what} is empty")
    first = tar_members(streams[0], what)
    signatures = signatures_from_members(first)
    if signatures or (all(name.startswith(".SIGN.") for name, _ in first) and len(streams) > 1):
        streams = split_gzip_streams(streams[1], what, limit=1, first=2) if len(streams) > 1 else []
    if not streams:
        raise UnpackError(f"{what} has signatures but no control data")
    control = dict(tar_members(streams[0], what))
    rest = streams[1] if len(streams) > 1 else b""
    return SignedFile(tuple(signatures), streams[0], control, rest)


def parse_pkginfo(text: str) -> list[tuple[str, str]]:
    """`.PKGINFO`'s `key = value` lines, in order (keys repeat: depend, provides...)."""
    fields = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#") or " = " not in line:
            continue
        key, value = line.split(" = ", 1)
        fields.append((key.strip(), value.strip()))
    return fields


@dataclass(frozen=True)
class ApkFile:
    """A .apk read into memory: what the installer and database writer need."""

    checksum: str
    signatures: tuple[ApkSignature, ...]
    control_stream: bytes
    pkginfo: tuple[tuple[str, str], ...]
    scripts: dict[str, bytes]
    data_stream: bytes

    def info(self, key: str) -> str:
        """The first `.PKGINFO` value of `key`, or ""."""
        return next((v for k, v in self.pkginfo if k == key), "")


def read_apk(data: bytes, what: str) -> ApkFile:
    """Split a .apk and check its data stream against `.PKGINFO`'s `datahash` when present."""
    signed = split_signed(data, what)
    if ".PKGINFO" not in signed.control:
        raise UnpackError(f"{what}: no .PKGINFO in its control stream (not an apk package?)")
    pkginfo = tuple(parse_pkginfo(signed.control[".PKGINFO"].decode("utf-8", "replace")))
    scripts = {name: body for name, body in signed.control.items() if name in SCRIPT_NAMES}
    apk = ApkFile(apk_checksum(signed.control_stream), signed.signatures, signed.control_stream,
                  pkginfo, scripts, signed.data_stream)
    datahash = apk.info("datahash")
    if datahash and hashlib.sha256(signed.data_stream).hexdigest() != datahash.lower():
        raise ChecksumError(f"{what}: data does not match the datahash of its .PKGINFO",
                            hint="the file is corrupt or was altered; remove it from the cache and retry")
    return apk
