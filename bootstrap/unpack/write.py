"""Writing one archive entry to disk, confined to the root (see unpack_safety), and describing it.

Order of operations matters: content first, then owner, then mode (chown clears setuid/setgid),
then extended attributes (chown also clears security.capability), then times. Directory times
are set last by the caller, because creating children changes them.

Running unprivileged (extract mode) the disk keeps our own uid and modes widened to u+rwx for
directories and u+rw for files, so later packages can write into them and the packer can read
them back; the returned FileEntry always carries what the archive asked for.

What stands at an entry's path gives way, never followed, with two exceptions that end the
package with UnpackError, as dpkg, rpm and apk refuse them too: a non-empty directory (another
package's) replaced by anything but a directory, and a file replaced by a directory. A symlink
standing where a directory comes (merged-/usr) is kept when an earlier package or the tool put
it there.

Device nodes are never made on disk, as root or not: a 0666 block device in the build root
would be raw disk access for any local user while the build runs. They are recorded in the
manifest (type char/block, devmajor/devminor) and the tar writer makes their headers from it
(as mmdebstrap does); a directory output has none.
"""
from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from libarchive.entry import ArchiveEntry

from bootstrap.errors import UnpackError
from bootstrap.root import Confined
from bootstrap.types import FileEntry
from bootstrap.unpack.ffi import data_blocks, entry_xattrs
from bootstrap.unpack.safety import normalize

_ZEROS = bytes(1 << 20)
# Extended attributes we cannot set (unprivileged, or a filesystem without them) are only
# recorded: the packer writes them from the manifest.
_XATTR_SOFT_ERRORS = {errno.EPERM, errno.EACCES, errno.ENOTSUP, errno.EOPNOTSUPP}


_KINDS = {stat.S_IFDIR: "dir", stat.S_IFLNK: "symlink", stat.S_IFREG: "file",
          stat.S_IFCHR: "char", stat.S_IFBLK: "block", stat.S_IFIFO: "fifo"}


def entry_kind(entry: ArchiveEntry) -> str:
    """The FileEntry type word for a libarchive entry."""
    if entry.islnk:  # before the type: libarchive reports hard links as regular files
        return "hardlink"
    return _KINDS.get(stat.S_IFMT(entry.filetype), "socket")


@dataclass
class Writer:
    """Writes the entries of one archive for one package into `root`."""

    root: Path
    package: str
    as_root: bool = field(default_factory=lambda: os.geteuid() == 0)
    placed: set[str] = field(default_factory=set)
    dir_times: list[tuple[str, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.confined = Confined(self.root, self.package, self.placed)

    def write(self, archive_p: int, entry: ArchiveEntry, rel: str, uid: int, gid: int,
              names: tuple[str, str], data: bytes | None = None) -> FileEntry:
        """Create `entry` at root-relative `rel` and return its manifest record. `data`, when
        given, is a regular file's content instead of the archive's."""
        kind = entry_kind(entry)
        mode = entry.mode & 0o7777
        mtime = int(entry.mtime or 0)
        xattrs = entry_xattrs(entry)
        name = entry.pathname
        if kind == "file" and rel != ".":
            # The common case, kept short: created first and cleared only if something stands
            # there (one lstat saved per file); owner, mode, xattrs and times go through the
            # open descriptor; the record is made once.
            target, disk = self.confined.locate(rel, name)
            size, digest = _write_data(
                archive_p, target, (entry.size or 0) if data is None else len(data), create=True,
                finish=lambda fd: self._fd_finish(fd, uid, gid, mode, xattrs, mtime),
                clear=lambda: self._clear_slot(target, disk, name), data=data)
            return FileEntry(path=rel, type=kind, mode=mode, uid=uid, gid=gid, mtime=mtime, size=size,
                             xattrs=xattrs, package=self.package, digest=digest, uname=names[0],
                             gname=names[1])
        base = FileEntry(path=rel, type=kind, mode=mode, uid=uid, gid=gid, mtime=mtime,
                         xattrs=xattrs, package=self.package, uname=names[0], gname=names[1])
        if rel == ".":
            self._meta(self.root, "dir", uid, gid, mode, xattrs)
            return base
        target, disk = self.confined.locate(rel, name)
        if kind == "dir":
            path = self._make_dir(target, disk, name)
            if path is not None:
                self._meta(path, kind, uid, gid, mode, xattrs)
                self.dir_times.append((path, mtime))
            return base
        return self._write_nondir(archive_p, entry, base, target, disk, data)

    def _write_nondir(self, archive_p: int, entry: ArchiveEntry, base: FileEntry, target: str,
                      disk: str, data: bytes | None = None) -> FileEntry:
        kind, name = base.type, entry.pathname
        self._clear_slot(target, disk, name)
        extra: dict[str, object] = {}
        if kind == "symlink":
            os.symlink(entry.linkpath, target)
            self.placed.add(disk)
            extra = {"linkname": entry.linkpath}
        elif kind == "hardlink":
            return self._hardlink(archive_p, entry, base, target, data)
        elif kind in ("char", "block"):
            # Recorded only (see the module docstring); what stood at the path is gone.
            return replace(base, devmajor=entry.rdevmajor, devminor=entry.rdevminor)
        elif kind == "fifo":
            os.mkfifo(target, 0o600)
        else:
            raise UnpackError(f"package {self.package}: entry {name!r} is a socket, which an "
                              f"archive cannot carry")
        self._meta(target, kind, base.uid, base.gid, base.mode, base.xattrs)
        os.utime(target, (base.mtime, base.mtime), follow_symlinks=False)
        return replace(base, **extra)  # type: ignore[arg-type]

    def _hardlink(self, archive_p: int, entry: ArchiveEntry, base: FileEntry,
                  target: str, data: bytes | None = None) -> FileEntry:
        link = normalize(entry.linkpath, self.package)
        source, _ = self.confined.locate(link, entry.linkpath, create=False)
        if not os.path.lexists(source):
            raise UnpackError(f"package {self.package}: hard link {entry.pathname!r} points to "
                              f"{entry.linkpath!r}, which the archive has not created")
        # follow_symlinks=False: linking *to* a symlink must never reach what it points to.
        os.link(source, target, follow_symlinks=False)
        size, digest = 0, ""
        if data is not None:
            size, digest = _write_data(archive_p, target, len(data), create=False, data=data)
        elif entry.size:  # cpio (rpm) stores the data with the last link of a set
            size, digest = _write_data(archive_p, target, entry.size, create=False)
        return replace(base, linkname=link, size=size, digest=digest)

    def _make_dir(self, target: str, disk: str, name: str) -> str | None:
        """Ensure a directory at `target`; returns the path whose metadata to set, or None
        when an existing symlink stands there (merged-/usr: keep it, as dpkg does). A file
        standing there (another package's, or the seed's) is not replaced: UnpackError, as
        dpkg, rpm and apk refuse it; only a symlink this archive placed gives way."""
        try:
            st = os.lstat(target)
        except FileNotFoundError:
            os.mkdir(target, 0o700)
            return target
        if stat.S_ISDIR(st.st_mode):
            return target
        if stat.S_ISLNK(st.st_mode) and disk not in self.placed:
            self.confined.resolve_dir(disk.split("/"), name)  # must lead to a directory inside
            return None
        if not stat.S_ISLNK(st.st_mode):
            raise UnpackError(f"package {self.package}: entry {name!r} would replace the file "
                              f"'{disk}' with a directory", hint="two packages disagree about this path")
        self._clear_slot(target, disk, name)
        os.mkdir(target, 0o700)
        return target

    def _clear_slot(self, target: str, disk: str, name: str) -> None:
        """Remove what stands at `target` so a new entry can take its place; never follow it."""
        try:
            st = os.lstat(target)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            try:
                os.rmdir(target)
            except OSError:
                raise UnpackError(f"package {self.package}: entry {name!r} would replace the "
                                  f"non-empty directory '{disk}'",
                                  hint="two packages disagree about this path") from None
        else:
            os.unlink(target)
        if stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode):
            self.confined.forget()  # a remembered walk may have gone through it
        self.placed.discard(disk)

    def _fd_finish(self, fd: int, uid: int, gid: int, mode: int,
                   xattrs: tuple[tuple[str, bytes], ...], mtime: int) -> None:
        """A regular file still open as `fd`: _meta, then its times."""
        self._meta(fd, "file", uid, gid, mode, xattrs)
        os.utime(fd, (mtime, mtime))

    def _meta(self, where: str | Path | int, kind: str, uid: int, gid: int, mode: int,
              xattrs: tuple[tuple[str, bytes], ...]) -> None:
        """Owner, then mode, then xattrs of a path (never followed) or of an open descriptor."""
        nofollow = {} if isinstance(where, int) else {"follow_symlinks": False}
        if self.as_root:
            os.chown(where, uid, gid, **nofollow)
        if kind != "symlink":
            widen = 0 if self.as_root else (0o700 if kind == "dir" else 0o600)
            os.chmod(where, mode | widen)
        for key, value in xattrs:
            try:
                os.setxattr(where, key, value, **nofollow)
            except OSError as err:
                if err.errno not in _XATTR_SOFT_ERRORS:
                    raise


def _write_data(archive_p: int, target: str, size: int, *, create: bool,
                finish: Callable[[int], None] | None = None,
                clear: Callable[[], None] | None = None, data: bytes | None = None) -> tuple[int, str]:
    """Stream the current entry's data (or `data`, when given) into `target`; returns (size,
    sha256 hex). With `create`, `clear()` (if given) removes whatever already stands at
    `target` before a second try. `finish(fd)` runs on the descriptor after the data, before
    it is closed."""
    flags = os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    flags |= (os.O_CREAT | os.O_EXCL) if create else os.O_TRUNC
    digest = hashlib.sha256()
    pos = 0
    try:
        fd = os.open(target, flags, 0o600)
    except FileExistsError:
        if clear is None:
            raise
        clear()
        fd = os.open(target, flags, 0o600)
    try:
        for offset, block in data_blocks(archive_p) if data is None else iter([(0, data)]):
            if offset > pos:  # a hole in a sparse file: the content still reads as zeros
                os.lseek(fd, offset, os.SEEK_SET)
                _hash_zeros(digest, offset - pos)
            _write_all(fd, block)
            digest.update(block)
            pos = offset + len(block)
        if pos < size:
            os.ftruncate(fd, size)
            _hash_zeros(digest, size - pos)
            pos = size
        if finish is not None:
            finish(fd)
    finally:
        os.close(fd)
    return pos, digest.hexdigest()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _hash_zeros(digest: hashlib._Hash, count: int) -> None:
    while count > 0:
        chunk = min(count, len(_ZEROS))
        digest.update(_ZEROS[:chunk])
        count -= chunk
