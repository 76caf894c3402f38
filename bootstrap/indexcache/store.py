"""The parsed-index cache: what the fast pass over an index found, kept by the digest of the
index it was read from, so an index that has not changed is never parsed again (the idea of
apt's pkgcache.bin).

Contracts:
- `IndexCache(directory, log)`; `IndexCache.of(fetcher, log)` is the one under the fetcher's
  `cache_dir` (`<cache>/parsed/`), None for a fetcher without one (nothing is then cached).
- An entry is named by (`kind`, `key`): `kind` names the family's format and its version
  (`apt-packages/1`; a parser that changes what it records changes its version, and entries of
  the old one are simply never found), `key` the signed digest of the index (`sha256:…`).
  `origin` (the index's URL) groups the entries of one index: storing a new one removes the
  others of the same origin, so a cache refreshed every night holds one entry per index.
- `load(kind, key, origin)` returns the `Entry` (its `meta`, and `text(offset, length)` into
  the index text it keeps), or None when there is none. An entry that is truncated, fails its
  checksum, or is not the entry asked for is corrupt: it is removed, a notice says so, and
  None is returned, so the caller parses the index again. Nothing of a corrupt entry is used.
- `writer(kind, key, origin)` is a context manager giving an `EntryWriter`: the index text is
  written with `add_text(chunk)` as it streams in, then `finish(meta)`; the entry appears
  (atomically, by rename) only when the block ends without error, and `writer.entry()` hands
  it over. `new_entry(cache, ...)` is the same for a cache that may be None (then in memory). Concurrent builds on one
  cache each write their own temporary file; the last rename wins, and both hold the same.
  A cache that cannot be written costs the cache, never the build: a notice, and the entry
  the writer kept in memory is used instead.

File: a fixed header (magic, format version, lengths of meta and text, CRC-32 of both), then
`meta` (marshal: only built-in types, written and read by this Python version, which the magic
records), then the text. CRC-32, not a cryptographic digest: the check is against a torn or
damaged file; whoever can write the cache can write any checksum, and everything an entry
holds was read from an index whose signature was checked when it was made. The text is read
with pread as records are asked for, so a resolution that reads a few hundred records reads
only those (and holds nothing of the rest in memory).
"""
from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import struct
import sys
import tempfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bootstrap.errors import NO_SPACE_ERRNOS, RepositoryIndexError

_DIR = "parsed"
_MAGIC = b"RBIDX1" + bytes(sys.version_info[:2])  # marshal's format follows the Python version
_HEADER = struct.Struct("<8sQQI")  # magic, meta length, text length, CRC-32 of meta + text
_CHUNK = 1 << 20


class Entry:
    """One parsed index: `meta` (what the family's fast pass recorded) and its index text,
    read from the entry's file as needed (or held in memory, when there is no file)."""

    def __init__(self, meta: Any, text: bytes | int, offset: int, name: str = "") -> None:
        self.meta = meta
        self._text, self._offset, self._name = text, offset, name

    def take_meta(self) -> Any:
        """The meta, handed over once: the entry forgets it, so that what is made of it (the
        packages, which keep this entry for their text) is freed with the universe."""
        meta, self.meta = self.meta, None
        return meta

    def text(self, offset: int, length: int) -> bytes:
        """`length` bytes of the index text from `offset`. Read with pread, not mapped: a file
        cut short under a running build then reads short (an error here), where a mapping
        would kill the process with SIGBUS."""
        start = self._offset + offset
        if isinstance(self._text, bytes):
            return self._text[start:start + length]
        data = os.pread(self._text, length, start)
        if len(data) != length:
            raise RepositoryIndexError(f"the parsed-index cache entry {self._name} changed while in use",
                                       hint="do not edit the cache during a build; run it again")
        return data

    def __del__(self) -> None:
        if isinstance(self._text, int):
            with contextlib.suppress(OSError):
                os.close(self._text)


class EntryWriter:
    """Receives one entry while it is made (see `IndexCache.writer`): the text goes to the
    entry's file (descriptor `fd`, after the header's room) as it comes; if the file cannot
    take more (a full disk), what it holds is read back and the rest is kept in memory."""

    def __init__(self, fd: int | None, identity: list[str], origin: str = "",
                 on_error: Callable[[OSError], None] = lambda exc: None) -> None:
        self.fd = fd
        self.identity = identity
        self.origin = origin
        self._on_error = on_error
        self._crc = 0
        self._length = 0
        self._memory: list[bytes] = []  # when there is no file to write (no cache, or it failed)
        self.meta: Any = None

    def add_text(self, chunk: bytes) -> None:
        before = self._length
        self._crc = zlib.crc32(chunk, self._crc)
        self._length += len(chunk)
        if self.fd is not None:
            try:
                _write_all(self.fd, chunk, _HEADER.size + before)
                return
            except OSError as exc:  # the cache is lost for this entry; the build goes on
                self._memory = [os.pread(self.fd, before, _HEADER.size)]
                self._on_error(exc)
                self.fd = None  # closed by the cache's writer
        self._memory.append(chunk)

    def finish(self, meta: Any) -> None:
        self.meta = meta

    def entry(self) -> Entry:
        """The entry this writer made, once the block that wrote it has ended: its meta as
        the pass made it (not read and decoded again), its text read from the file written
        (stored or not), else from memory."""
        if self.fd is not None:
            fd, self.fd = self.fd, None
            return Entry(self.meta, fd, _HEADER.size, self.origin)
        return Entry(self.meta, b"".join(self._memory), 0)


def _write_all(fd: int, data: bytes, at: int) -> None:
    view = memoryview(data)
    while view:
        done = os.pwrite(fd, view, at)
        view, at = view[done:], at + done


class IndexCache:
    """The entries under one directory (module docstring)."""

    def __init__(self, directory: Path, log: Callable[[str], None]) -> None:
        self.directory = Path(directory)
        self.log = log

    @classmethod
    def of(cls, fetcher: object, log: Callable[[str], None]) -> IndexCache | None:
        cache_dir = getattr(fetcher, "cache_dir", None)
        if not isinstance(cache_dir, str | os.PathLike):
            return None
        return cls(Path(cache_dir) / _DIR, log)

    def path(self, kind: str, key: str, origin: str) -> Path:
        return self.directory / f"{_digest(origin)[:16]}-{_digest(kind + chr(0) + key)[:32]}.idx"

    def load(self, kind: str, key: str, origin: str) -> Entry | None:
        path = self.path(kind, key, origin)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError:
            return None
        try:
            problem, entry = _open(fd, kind, key, path.name)
        except BaseException:
            os.close(fd)
            raise
        if entry is None:
            os.close(fd)
        if problem:
            self.log(f"notice: the parsed index of {origin} in the cache is corrupt ({problem}); "
                     "reading the index again")
            with contextlib.suppress(OSError):
                os.unlink(path)
        return entry

    @contextlib.contextmanager
    def writer(self, kind: str, key: str, origin: str) -> Iterator[EntryWriter]:
        """Yields a writer; when the block ends without error the entry is in place (or, if it
        could not be written, a notice says so); `writer.entry()` gives it either way."""
        path = self.path(kind, key, origin)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".part-", suffix=".idx", dir=self.directory)
        except OSError as exc:
            self._unwritable(exc)
            yield EntryWriter(None, [kind, key], origin, self._unwritable)
            return
        writer = EntryWriter(fd, [kind, key], origin, self._unwritable)
        try:
            yield writer
        except BaseException:
            os.close(fd)
            raise
        else:
            if writer.fd is not None:
                self._seal(writer, tmp, path)
            else:  # the file failed: writer.entry() reads memory
                os.close(fd)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def _seal(self, writer: EntryWriter, tmp: str, path: Path) -> None:
        """Meta after the text, then the header, then the rename. The descriptor stays open
        for writer.entry(), stored or not (a failed seal unlinks the file; its inode lives on)."""
        assert writer.fd is not None
        meta = marshal.dumps([writer.identity, writer.meta])
        try:
            _write_all(writer.fd, meta, _HEADER.size + writer._length)
            crc = zlib.crc32(meta, writer._crc)
            _write_all(writer.fd, _HEADER.pack(_MAGIC, len(meta), writer._length, crc), 0)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except OSError as exc:
            self._unwritable(exc)
            return
        self._sweep(path)

    def _sweep(self, keep: Path) -> None:
        """Remove the other entries of the same index (superseded ones). A build still reading
        one keeps its mapping: the file goes when the last user closes it."""
        prefix = keep.name.split("-", 1)[0] + "-"
        with contextlib.suppress(OSError):
            for name in os.listdir(self.directory):
                if name.startswith(prefix) and name != keep.name:
                    with contextlib.suppress(OSError):
                        os.unlink(self.directory / name)

    def _unwritable(self, exc: OSError) -> None:
        why = "no space left" if exc.errno in NO_SPACE_ERRNOS else (exc.strerror or str(exc))
        self.log(f"notice: cannot write the parsed-index cache {self.directory} ({why}); "
                 "the index will be read again next time")



@contextlib.contextmanager
def new_entry(cache: IndexCache | None, kind: str, key: str, origin: str) -> Iterator[EntryWriter]:
    """A writer for a new entry of `cache` (IndexCache.writer), or, with no cache, one that
    keeps the entry in memory; either way `writer.entry()` gives it after the block."""
    if cache is None:
        yield EntryWriter(None, [kind, key], origin)
        return
    with cache.writer(kind, key, origin) as out:
        yield out


def _open(fd: int, kind: str, key: str, name: str) -> tuple[str, Entry | None]:
    """(problem, entry): ("", entry) for a sound entry of (kind, key); a problem otherwise
    ("" with None when the file is of another Python version or format: not corrupt, stale)."""
    size = os.fstat(fd).st_size
    head = os.pread(fd, _HEADER.size, 0)
    if len(head) < _HEADER.size:
        return "truncated", None
    magic, meta_len, text_len, crc = _HEADER.unpack(head)
    if magic[:6] != _MAGIC[:6]:
        return "not a parsed index", None
    if magic != _MAGIC:
        return "", None  # written by another Python: its marshal may differ; made again
    if size != _HEADER.size + text_len + meta_len:
        return f"{size} bytes, expected {_HEADER.size + text_len + meta_len}", None
    got = 0
    for start in range(_HEADER.size, size, _CHUNK):  # read, not mapped: no page stays resident
        got = zlib.crc32(os.pread(fd, _CHUNK, start), got)
    if got != crc:
        return "checksum mismatch", None
    try:
        identity, meta = marshal.loads(os.pread(fd, meta_len, _HEADER.size + text_len))
    except (EOFError, ValueError, TypeError):
        return "unreadable", None
    if identity != [kind, key]:
        return "holds another index", None
    return "", Entry(meta, fd, _HEADER.size, name)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
