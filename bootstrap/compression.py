"""Decompression by file-name suffix, shared by every index and payload reader.

`.gz`, `.bz2`, `.xz`, `.lzma` and `.zst` are known; any other name is plain data and comes back
unchanged. Pure: bytes in, bytes (or a stream over them) out. Corrupt data raises ValueError
(one-shot) or surfaces as OSError/EOFError/ValueError on read (stream); callers turn those into
their own BootstrapError. The one-shot functions release the GIL while they work, so several
can run in threads (the .deb preloader relies on it).
"""
from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zlib
from typing import BinaryIO, cast

SUFFIXES = (".gz", ".bz2", ".xz", ".lzma", ".zst")


def is_compressed(name: str) -> bool:
    """Whether `name` ends in a suffix this module decompresses."""
    return name.endswith(SUFFIXES)


def decompress(data: bytes, name: str) -> bytes:
    """The whole decompressed content of `data`, by `name`'s suffix."""
    try:
        if name.endswith(".gz"):
            return gzip.decompress(data)
        if name.endswith(".bz2"):
            return bz2.decompress(data)
        if name.endswith((".xz", ".lzma")):
            return lzma.decompress(data)  # FORMAT_AUTO: .xz and the older .lzma alike
        if name.endswith(".zst"):
            return _unzstd(data)
    except (lzma.LZMAError, zlib.error, OSError, EOFError) as exc:
        raise ValueError(str(exc) or type(exc).__name__) from None
    return data


def decompress_stream(data: bytes, name: str) -> BinaryIO:
    """A readable stream of the decompressed content (for large XML read incrementally)."""
    return cast(BinaryIO, _open_stream(io.BytesIO(data), name))  # each reader is a binary file


def _open_stream(raw: io.BytesIO, name: str) -> object:
    if name.endswith(".gz"):
        return gzip.GzipFile(fileobj=raw)
    if name.endswith(".bz2"):
        return bz2.BZ2File(raw)
    if name.endswith((".xz", ".lzma")):
        return lzma.LZMAFile(raw)
    if name.endswith(".zst"):
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(raw)
    return raw


def _unzstd(data: bytes) -> bytes:
    """zstd is rare (some third-party apt archives, new Fedora, .deb from Ubuntu 21.10 on):
    the module loads only for it. decompressobj, unlike decompress, needs no content size,
    but reads one frame: the loop reads every frame (pzstd writes several), and a frame cut
    short is an error rather than silently shorter data."""
    import zstandard

    out, rest = [], data
    try:
        while True:
            frame = zstandard.ZstdDecompressor().decompressobj()
            out.append(frame.decompress(rest))
            if not frame.eof:
                raise ValueError("truncated zstd stream")
            rest = frame.unused_data
            if not rest:
                return b"".join(out)
    except zstandard.ZstdError as exc:
        raise ValueError(str(exc)) from None
