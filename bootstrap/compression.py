"""Decompression by file-name suffix, shared by every index and payload reader.

`.gz`, `.bz2`, `.xz`, `.lzma` and `.zst` are known; any other name is plain data and comes back
unchanged. Pure: bytes in, bytes (or a stream over them) out. Corrupt data raises ValueError
(one-shot) or surfaces on read (stream) as what the decompressor underneath raises: OSError,
EOFError, ValueError, lzma.LZMAError or zstandard.ZstdError (repomd's reader catches each);
callers turn those into their own BootstrapError. The one-shot functions release the GIL while they work, so several
can run in threads (the .deb preloader relies on it).

Every decompression is bounded: `limit` is the most bytes the content may inflate to (the size
a signed index states for the file, else a ceiling such as INDEX_LIMIT). Past it, TooLarge (a
ValueError: "inflates past N MiB; refusing") is raised, by the one-shot functions before more
than `limit` bytes are held, by a stream on the read that crosses it. A small file that
inflates to gigabytes (a "decompression bomb") therefore costs at most `limit` bytes of memory.
"""
from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, cast

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

SUFFIXES = (".gz", ".bz2", ".xz", ".lzma", ".zst")

INDEX_LIMIT = 1 << 30
"""The ceiling for a repository index or metadata file whose index states no uncompressed size
(Packages.gz, primary.xml.gz, APKINDEX, comps): 1 GiB. The largest real ones are ~100 MB."""

PAYLOAD_LIMIT = 4 << 30
"""The ceiling for a package payload decompressed in memory when no size is known: 4 GiB."""

# zstd has no output bound per call: its input is fed in pieces this small, so that one call
# makes at most ~32 MiB (zstd's densest block, RLE, is 128 KiB from 4 bytes of input).
_ZSTD_PIECE = 1 << 10
# gzip input is fed in pieces this size (a call keeps what it could not take as a copy).
_GZ_PIECE = 1 << 16


class TooLarge(ValueError):
    """The content inflates past the limit given for it."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"inflates past {describe_size(limit)}; refusing")
        self.limit = limit


def describe_size(size: int) -> str:
    """`size` in the unit a message needs: bytes below 1 MiB, MiB above."""
    return f"{size} bytes" if size < 1 << 20 else f"{size / (1 << 20):.0f} MiB"


def is_compressed(name: str) -> bool:
    """Whether `name` ends in a suffix this module decompresses."""
    return name.endswith(SUFFIXES)


class _Decoder(Protocol):
    eof: bool
    unused_data: bytes

    def decompress(self, data: bytes, max_length: int = ..., /) -> bytes: ...


def decompress(data: bytes, name: str, limit: int | None = None) -> bytes:
    """The whole decompressed content of `data`, by `name`'s suffix; TooLarge past `limit`
    (INDEX_LIMIT when None, read at the call)."""
    limit = INDEX_LIMIT if limit is None else limit
    try:
        if name.endswith(".gz"):
            return _members(lambda: zlib.decompressobj(16 + zlib.MAX_WBITS), data, limit, zero_padded=True)
        if name.endswith(".bz2"):
            return _members(bz2.BZ2Decompressor, data, limit)
        if name.endswith((".xz", ".lzma")):
            # FORMAT_AUTO: .xz and the older .lzma alike; trailing garbage after a stream is
            # ignored, as lzma.decompress does.
            return _members(lzma.LZMADecompressor, data, limit, lenient=True)
        if name.endswith(".zst"):
            return _unzstd(data, limit)
    except TooLarge:
        raise
    except (lzma.LZMAError, zlib.error, OSError, EOFError) as exc:
        raise ValueError(str(exc) or type(exc).__name__) from None
    if len(data) > limit:
        raise TooLarge(limit)
    return data


def _members(make: Callable[[], object], data: bytes, limit: int, *, zero_padded: bool = False,
             lenient: bool = False) -> bytes:
    """Every concatenated stream (member) of `data`, each decoder asked for no more than what
    is left of `limit` (plus one byte, to tell "exactly the limit" from "past it")."""
    if not data and not lenient:
        return b""  # as gzip.decompress and bz2.decompress give for no input
    out: list[bytes] = []
    total = 0
    rest = data
    while True:
        decoder = cast(_Decoder, make())
        try:
            chunk = decoder.decompress(rest, limit - total + 1)
        except (lzma.LZMAError, OSError):
            if lenient and out:
                break  # leftover data that is no stream: ignored, as lzma.decompress does
            raise
        total += len(chunk)
        if total > limit:
            raise TooLarge(limit)
        out.append(chunk)
        if not decoder.eof:
            raise EOFError("compressed data ended before the end-of-stream marker was reached")
        rest = decoder.unused_data
        if zero_padded:
            rest = rest.lstrip(b"\0")  # zero padding between members, as gzip.decompress skips
        if not rest:
            break
    return out[0] if len(out) == 1 else b"".join(out)


def chunks(data: bytes, name: str, limit: int | None = None, size: int = 1 << 20) -> Iterator[bytes]:
    """The decompressed content of `data` piece by piece (about `size` bytes each), for
    indexes read as they inflate, never whole; TooLarge from the piece that crosses `limit`.
    gzip, the quickest of the index compressions to decode, goes through ISA-L when it is
    installed (twice zlib's speed on a 50 MB Packages), else zlib."""
    limit = INDEX_LIMIT if limit is None else limit
    errors: tuple[type[Exception], ...] = (lzma.LZMAError, zlib.error, OSError, EOFError)
    if name.endswith(".zst"):
        import zstandard

        errors += (zstandard.ZstdError,)
    try:
        if name.endswith(".gz"):
            yield from _gunzip_chunks(data, limit, size)
            return
        stream = decompress_stream(data, name, limit)
        try:
            while piece := stream.read(size):
                yield piece
        finally:
            stream.close()
    except TooLarge:
        raise
    except errors as exc:
        raise ValueError(str(exc) or type(exc).__name__) from None


def _gunzip_chunks(data: bytes, limit: int, size: int) -> Iterator[bytes]:
    """Every member of a gzip file (zero padding between them skipped, as gzip does); input
    goes in pieces and each call makes at most `size` bytes, so a bomb is caught early."""
    gz = _gzip_module()
    total = 0
    rest = bytes(data)
    try:
        while rest:
            decoder = gz.decompressobj(16 + zlib.MAX_WBITS)
            pos = 0
            while not decoder.eof:
                if pos >= len(rest):
                    raise EOFError("compressed data ended before the end-of-stream marker was reached")
                feed = rest[pos:pos + _GZ_PIECE]
                pos += _GZ_PIECE
                while feed and not decoder.eof:
                    piece = decoder.decompress(feed, size)
                    total += len(piece)
                    if total > limit:
                        raise TooLarge(limit)
                    if piece:
                        yield piece
                    feed = decoder.unconsumed_tail
            rest = (decoder.unused_data + rest[pos:]).lstrip(b"\0")
    except gz.error as exc:
        raise ValueError(str(exc)) from None


def _gzip_module() -> Any:
    """ISA-L's zlib (a declared dependency), or zlib itself, which has the same interface."""
    try:
        from isal import isal_zlib
    except ImportError:  # pragma: no cover
        return zlib
    return isal_zlib


def decompress_stream(data: bytes, name: str, limit: int | None = None) -> BinaryIO:
    """A readable stream of the decompressed content (for large XML read incrementally); the
    read that would take it past `limit` (INDEX_LIMIT when None) raises TooLarge."""
    limit = INDEX_LIMIT if limit is None else limit
    return cast(BinaryIO, _Bounded(cast(BinaryIO, _open_stream(io.BytesIO(data), name)), limit))


class _Bounded(io.RawIOBase):
    """A stream that refuses to give more than `limit` bytes in all; each read asks the
    decompressor underneath for no more than what is left (+1), so memory stays bounded."""

    def __init__(self, inner: BinaryIO, limit: int) -> None:
        super().__init__()
        self._inner, self._left = inner, limit
        self.limit = limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self._inner.read(min(len(view), self._left + 1))
        if len(data) > self._left:
            raise TooLarge(self.limit)
        self._left -= len(data)
        view[:len(data)] = data
        return len(data)

    def close(self) -> None:
        self._inner.close()
        super().close()


def _open_stream(raw: io.BytesIO, name: str) -> object:
    if name.endswith(".gz"):
        return gzip.GzipFile(fileobj=raw)
    if name.endswith(".bz2"):
        return bz2.BZ2File(raw)
    if name.endswith((".xz", ".lzma")):
        return lzma.LZMAFile(raw)
    if name.endswith(".zst"):
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
    return raw


def _unzstd(data: bytes, limit: int) -> bytes:
    """zstd is rare (some third-party apt archives, new Fedora, .deb from Ubuntu 21.10 on):
    the module loads only for it. decompressobj, unlike decompress, needs no content size,
    but reads one frame: the loop reads every frame (pzstd writes several), and a frame cut
    short is an error rather than silently shorter data. Input goes in small pieces, so a
    bomb is caught before much more than `limit` is held."""
    import zstandard

    out: list[bytes] = []
    total = 0
    rest = memoryview(data)
    try:
        while True:
            frame = zstandard.ZstdDecompressor().decompressobj()
            pos = 0
            while not frame.eof and pos < len(rest):
                piece = frame.decompress(rest[pos:pos + _ZSTD_PIECE])
                pos += _ZSTD_PIECE
                total += len(piece)
                if total > limit:
                    raise TooLarge(limit)
                out.append(piece)
            if not frame.eof:
                raise ValueError("truncated zstd stream")
            rest = memoryview(frame.unused_data + bytes(rest[pos:]))
            if not rest:
                return b"".join(out)
    except zstandard.ZstdError as exc:
        raise ValueError(str(exc)) from None

