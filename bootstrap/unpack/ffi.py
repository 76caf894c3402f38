"""The few libarchive calls that libarchive-c does not wrap, bound once with ctypes.

libarchive-c (5.x) exposes entries' paths, owners and times but not their extended attributes,
and its `linkpath` setter picks symlink or hard link from state a fresh entry does not have.
The unpacker and the packer need both exactly, so they go through these helpers. Only
bootstrap/unpack*.py and bootstrap/pack/ may import this module (they own libarchive).
"""
from __future__ import annotations

import ctypes
from collections.abc import Iterator
from contextlib import contextmanager
from ctypes import POINTER, byref, c_char_p, c_int, c_longlong, c_size_t, c_void_p

from libarchive import ffi
from libarchive.entry import ArchiveEntry
from libarchive.exception import ArchiveError
from libarchive.read import ArchiveRead, new_archive_read

_lib = ffi.libarchive


def _bind(name: str, argtypes: list[object], restype: object) -> ctypes._CFuncPtr:  # type: ignore[name-defined]
    func = getattr(_lib, name)
    func.argtypes = argtypes
    func.restype = restype
    return func


_xattr_reset = _bind("archive_entry_xattr_reset", [c_void_p], c_int)
_xattr_next = _bind("archive_entry_xattr_next",
                    [c_void_p, POINTER(c_char_p), POINTER(c_void_p), POINTER(c_size_t)], c_int)
_xattr_add = _bind("archive_entry_xattr_add_entry", [c_void_p, c_char_p, c_void_p, c_size_t], None)
_set_symlink = _bind("archive_entry_update_symlink_utf8", [c_void_p, c_char_p], c_int)
_set_hardlink = _bind("archive_entry_update_hardlink_utf8", [c_void_p, c_char_p], c_int)
_read_block = _bind("archive_read_data_block",
                    [c_void_p, POINTER(c_void_p), POINTER(c_size_t), POINTER(c_longlong)], c_int)


def entry_xattrs(entry: ArchiveEntry) -> tuple[tuple[str, bytes], ...]:
    """The entry's extended attributes (pax SCHILY.xattr / LIBARCHIVE.xattr), sorted by name.

    libarchive's own pax writer stores each attribute under both keys and its reader returns
    both, hence the de-duplication by name."""
    found: dict[str, bytes] = {}
    count = _xattr_reset(entry._entry_p)
    for _ in range(count):
        name, value, size = c_char_p(), c_void_p(), c_size_t()
        if _xattr_next(entry._entry_p, byref(name), byref(value), byref(size)) != 0:
            break
        data = ctypes.string_at(value, size.value) if value.value else b""
        found[(name.value or b"").decode("utf-8", "surrogateescape")] = data
    return tuple(sorted(found.items()))


def add_xattr(entry: ArchiveEntry, name: str, value: bytes) -> None:
    """Attach one extended attribute to an entry about to be written."""
    _xattr_add(entry._entry_p, name.encode("utf-8", "surrogateescape"), value, len(value))


def set_symlink(entry: ArchiveEntry, target: str) -> None:
    """Make `entry` carry a symlink target (libarchive-c's setter may pick a hard link)."""
    _set_symlink(entry._entry_p, target.encode("utf-8", "surrogateescape"))


def set_hardlink(entry: ArchiveEntry, target: str) -> None:
    """Make `entry` a hard link to the archive path `target`."""
    _set_hardlink(entry._entry_p, target.encode("utf-8", "surrogateescape"))


def clear_hardlink(entry: ArchiveEntry) -> None:
    """Make `entry` no hard link (its own type decides what it is)."""
    _set_hardlink(entry._entry_p, None)


def data_blocks(archive_p: int) -> Iterator[tuple[int, bytes]]:
    """The current entry's data as (offset, bytes) blocks, in libarchive's own block sizes.

    Faster than libarchive-c's fixed page-size reads, and gives offsets so sparse files keep
    their holes. Raises libarchive's ArchiveError on corrupt data.
    """
    buf, size, offset = c_void_p(), c_size_t(), c_longlong()
    while True:
        status = _read_block(archive_p, byref(buf), byref(size), byref(offset))
        if status == ffi.ARCHIVE_EOF:
            return
        if status < ffi.ARCHIVE_WARN:
            raise ffi.archive_error(archive_p, status)
        if size.value:
            yield offset.value, ctypes.string_at(buf, size.value)


@contextmanager
def nested_reader(outer_p: int) -> Iterator[ArchiveRead]:
    """A libarchive reader over the current entry's data of another reader (a .deb's
    data.tar.xz inside its ar container), streamed block by block without copies: the read
    callback hands libarchive the outer reader's own buffer, valid until the next call."""
    buf, size, offset = c_void_p(), c_size_t(), c_longlong()
    failure: list[BaseException] = []

    def read(_archive: int, _context: int, ptrptr: int) -> int:
        # Exceptions cannot cross a ctypes callback; a fatal status ends the inner read instead.
        try:
            while True:
                status = _read_block(outer_p, byref(buf), byref(size), byref(offset))
                if status == ffi.ARCHIVE_EOF:
                    return 0
                if status < ffi.ARCHIVE_WARN:
                    failure.append(ffi.archive_error(outer_p, status))
                    return ffi.ARCHIVE_FATAL
                if size.value:
                    ctypes.cast(ptrptr, POINTER(c_void_p))[0] = buf.value
                    return size.value
        except BaseException as err:
            failure.append(err)
            return ffi.ARCHIVE_FATAL

    # libarchive-c's custom_reader insists on a seek callback; a stream must not have one
    # (libarchive would seek to skip data), so the reader is opened here directly.
    read_cb = ffi.READ_CALLBACK(read)
    try:
        with new_archive_read() as inner_p:
            ffi.read_open(inner_p, None, ffi.NO_OPEN_CB, read_cb, ffi.NO_CLOSE_CB)
            yield ArchiveRead(inner_p)
    except ArchiveError:
        if failure:
            raise failure[0] from None
        raise
