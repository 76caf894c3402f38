"""Compression of the tar stream: the method a file name implies, and streaming sinks.

Every sink writes a deterministic stream: gzip headers carry no name and mtime 0 (so two packs
of the same tree are byte-identical), and no compressor's output depends on the machine's
core count (see ToolSink). gzip uses pigz when it is installed (parallel, about 1.7x
faster than zlib on two cores), else zlib at level 6; xz uses the xz tool when installed,
else the lzma module; each pair gives different but each reproducible bytes.
"""
from __future__ import annotations

import bz2
import errno
import lzma
import os
import shutil
import subprocess
import tempfile
import zlib
from typing import BinaryIO, Protocol

from bootstrap.errors import UsageError

METHODS = ("none", "gzip", "xz", "zstd", "bzip2")
_SUFFIXES = ((".tar", "none"), (".tar.gz", "gzip"), (".tgz", "gzip"), (".tar.xz", "xz"),
             (".txz", "xz"), (".tar.zst", "zstd"), (".tzst", "zstd"), (".tar.bz2", "bzip2"),
             (".tbz2", "bzip2"))
GZIP_LEVEL = 6
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

    def compress(self, data: bytes, /) -> bytes: ...

    def flush(self) -> bytes: ...


class PlainSink:
    """Writes through a buffered file object, optionally through a compressor object."""

    def __init__(self, out: BinaryIO, compressor: Compressor | None = None) -> None:
        self.out = out
        self.compressor = compressor

    def write(self, data: bytes) -> None:
        if self.compressor is None:
            self.out.write(data)
        else:
            self.out.write(self.compressor.compress(data))

    def close(self) -> None:
        if self.compressor is not None:
            self.out.write(self.compressor.flush())
        self.out.flush()

    def kill(self) -> None:
        """Nothing runs beside us: the caller discards the half-written file."""


class ToolSink:
    """Compression by a parallel tool (pigz, xz) reading our stream on its stdin.

    Both tools are run with at least 2 threads even on one core: their multi-threaded modes
    split the input into fixed-size blocks, so the bytes do not depend on the thread count,
    while their single-thread modes would give different bytes on a one-core machine.
    """

    def __init__(self, argv: list[str], out: BinaryIO) -> None:
        out.flush()
        self.name = argv[0]
        self.errors = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=out.fileno(),
                                     stderr=self.errors)
        assert self.proc.stdin is not None  # stdin=PIPE always gives one
        self.stdin = self.proc.stdin

    def write(self, data: bytes) -> None:
        try:
            self.stdin.write(data)
        except BrokenPipeError:
            self._failed()

    def close(self) -> None:
        try:
            self.stdin.close()
        except BrokenPipeError:
            pass
        if self.proc.wait() != 0:
            self._failed()

    def kill(self) -> None:
        """Stop the tool after a failure elsewhere."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def _failed(self) -> None:
        self.kill()
        self.errors.seek(0)
        text = self.errors.read().decode("utf-8", "replace").strip()
        code = errno.ENOSPC if "No space left" in text else errno.EIO
        raise OSError(code, f"{self.name} failed: {text or os.strerror(code)}")


def open_sink(method: str, out: BinaryIO) -> Sink:
    """A sink writing `method`-compressed data to `out`."""
    threads = str(max(2, os.cpu_count() or 1))
    if method == "gzip":
        if shutil.which("pigz"):  # -n: no name, no mtime in the header
            return ToolSink(["pigz", f"-{GZIP_LEVEL}", "-n", "-p", threads, "-c"], out)
        # wbits 31 = gzip wrapper; zlib writes mtime 0 and no name.
        return PlainSink(out, zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31))
    if method == "xz":
        if shutil.which("xz"):  # twice as fast as the lzma module on two cores
            return ToolSink(["xz", f"-{XZ_PRESET}", f"-T{threads}", "-c"], out)
        return PlainSink(out, lzma.LZMACompressor(preset=XZ_PRESET))
    if method == "bzip2":
        return PlainSink(out, bz2.BZ2Compressor(9))
    if method == "zstd":
        import zstandard

        return PlainSink(out, zstandard.ZstdCompressor(level=ZSTD_LEVEL).compressobj())
    return PlainSink(out)
