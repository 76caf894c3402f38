"""Compression of the tar stream: the method a file name implies, and streaming sinks.

Every method has exactly one implementation, in this process, from what the project itself
installs: gzip through ISA-L (python-isal), xz through the lzma module, zstd through
zstandard, bzip2 through bz2. The bytes therefore depend on neither the host's tools (pigz or
zlib, the xz tool or the lzma module: two machines used to give two digests of one tree) nor its core
count: no compressor here is run multi-threaded, whose block splits could follow the thread
count. gzip headers carry no name and mtime 0. That costs the parallel tools' speed on
xz (the lzma module uses one core); ISA-L's gzip is faster on one core than pigz on two.
Reproducibility across hosts is worth more than that speed: a nightly rebuild that changed
nothing must give the digest it gave yesterday, wherever it ran.

ISA-L's stream also depends on how its input is cut into calls, so every sink hands its
compressor fixed BLOCK-sized pieces (PlainSink): the bytes are a function of the tar stream
alone, not of how libarchive happens to call back. Known limit: an x86-64 CPU without SSE4.2
(before 2008, or a VM's bare `qemu64` model) makes ISA-L use its portable C code, whose gzip
differs; xz, zstd and bzip2 give the same bytes there too. python-isal and zstandard bundle
their libraries, so their bytes follow those packages' versions; lzma and bz2 are Python's,
linked to the system's liblzma and libbz2.
"""
from __future__ import annotations

import bz2
import lzma
from typing import BinaryIO, Protocol

from bootstrap.errors import UsageError

METHODS = ("none", "gzip", "xz", "zstd", "bzip2")
_SUFFIXES = ((".tar", "none"), (".tar.gz", "gzip"), (".tgz", "gzip"), (".tar.xz", "xz"),
             (".txz", "xz"), (".tar.zst", "zstd"), (".tzst", "zstd"), (".tar.bz2", "bzip2"),
             (".tbz2", "bzip2"))
# ISA-L level 2, not 3: level 3 picks its matcher by CPU (AVX2, AVX-512 and older x86-64 gave
# three different streams of one tar under qemu-x86_64 -cpu), levels 0-2 give one stream on
# every x86-64 with SSE4.2. Measured on a 613 MB tar of /usr: 2.1 s on one core, 0.449 of the
# input (level 3: 2.6 s, 0.444; zlib -6: 31.8 s, 0.408; pigz -6 on two cores: 17 s).
GZIP_LEVEL = 2
ZSTD_LEVEL = 3  # zstd's own default: near gzip -9 ratio at several times gzip -6 speed
XZ_PRESET = 6


def choose(output: str, compress: str) -> str:
    """The method for `output`: explicit `compress` wins; "auto" reads the file name
    (.tar → none, .tar.gz/.tgz → gzip, .tar.xz/.txz → xz, .tar.zst/.tzst → zstd,
    .tar.bz2 → bzip2, anything else → gzip); stdout ("-") defaults to none."""
    if compress != "auto":
        if compress not in METHODS:
            raise UsageError(f"unknown compression {compress!r}",
                             hint=f"use one of: auto, {', '.join(METHODS)}")
        return compress
    if output == "-":
        return "none"
    name = output.lower()
    for suffix, method in sorted(_SUFFIXES, key=lambda s: -len(s[0])):
        if name.endswith(suffix):
            return method
    return "gzip"


class Sink(Protocol):
    """Where tar bytes go: `write` as they come, `close` to finish (raises OSError on failure),
    `kill` to give up after a failure elsewhere (no child process may outlive it)."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...

    def kill(self) -> None: ...


class Compressor(Protocol):
    """An in-process compressor object (zlib, lzma, zstandard all have this shape)."""

    def compress(self, data: bytes | memoryview, /) -> bytes: ...

    def flush(self) -> bytes: ...


BLOCK = 1 << 20  # what each compressor is fed at a time (the module docstring)


class PlainSink:
    """Writes through a buffered file object, optionally through a compressor object, which
    gets the stream in BLOCK-sized pieces whatever sizes `write` is called with."""

    def __init__(self, out: BinaryIO, compressor: Compressor | None = None) -> None:
        self.out = out
        self.compressor = compressor
        self.pending = bytearray()

    def write(self, data: bytes) -> None:
        if self.compressor is None:
            self.out.write(data)
            return
        self.pending += data
        if len(self.pending) < BLOCK:
            return
        whole = len(self.pending) - len(self.pending) % BLOCK
        with memoryview(self.pending) as view:
            for start in range(0, whole, BLOCK):
                self.out.write(self.compressor.compress(view[start:start + BLOCK]))
        del self.pending[:whole]

    def close(self) -> None:
        if self.compressor is not None:
            if self.pending:
                self.out.write(self.compressor.compress(bytes(self.pending)))
                self.pending.clear()
            self.out.write(self.compressor.flush())
        self.out.flush()

    def kill(self) -> None:
        """Nothing runs beside us: the caller discards the half-written file."""


def open_sink(method: str, out: BinaryIO) -> Sink:
    """A sink writing `method`-compressed data to `out` (one implementation per method: the
    module docstring)."""
    if method == "gzip":
        from isal import isal_zlib

        # wbits 31 = the gzip wrapper, written with mtime 0, no name, OS 255.
        return PlainSink(out, isal_zlib.compressobj(GZIP_LEVEL, isal_zlib.DEFLATED, 31))
    if method == "xz":
        return PlainSink(out, lzma.LZMACompressor(preset=XZ_PRESET))
    if method == "bzip2":
        return PlainSink(out, bz2.BZ2Compressor(9))
    if method == "zstd":
        import zstandard

        # threads=0: zstd's single-threaded mode, never a count taken from the machine.
        return PlainSink(out, zstandard.ZstdCompressor(level=ZSTD_LEVEL, threads=0).compressobj())
    return PlainSink(out)
