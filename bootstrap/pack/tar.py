"""A reproducible tar stream of a root, written from inside it with libarchive.

What the stream holds, so two packs of the same tree are byte-identical:
- entries `./`, `./bin/`, `./etc/passwd`..., sorted bytewise by path, the root first;
- pax format (libarchive's restricted pax: an extended header only where ustar cannot say it,
  such as long names or xattrs), numeric owners only (no user or group names), no atime/ctime;
- setuid/setgid/sticky bits, symlinks, hard links (the first path of an inode in sorted order
  is the file, later ones link to it), device nodes, fifos; sockets cannot be archived and
  are left out;
- extended attributes (security.capability...) as SCHILY.xattr records; the host's SELinux
  label is left out, it describes the build machine, not the image;
- mtimes clamped to `source_date_epoch` when given.
`overrides` (root-relative path → FileEntry, from the unpack manifests) replace uid, gid, mode
and xattrs: an unprivileged build cannot own files as root on disk. When overrides are given,
paths they do not name (made by the tool itself) belong to root (0:0), and so does a path they
name as another kind of entry than the disk holds (a merged-/usr link where a package had a
directory): root and unprivileged builds then pack the same headers.
`only` limits the stream to a subset of the paths (one image layer, bootstrap.image); without
it the stream is the whole tree, byte for byte what it was before `only` existed.
`meter` advances by the bytes of file content as they go into the stream: `content_bytes` of
the tree is its total (the headers and padding around them are not counted), so a pack's bar
ends at 100% and its ETA is real. `metered` makes such a meter the one of a block: every
writer of a whole tree (pack.write_output, image.LayoutWriter.add) given no meter of its own
takes `current_meter()`, and the tar of a finished layout, which is no tree of the build, none.
"""
from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from libarchive import ffi
from libarchive.entry import ArchiveEntry, FileType
from libarchive.exception import ArchiveError
from libarchive.write import custom_writer

from bootstrap.errors import UnpackError
from bootstrap.root import Confined
from bootstrap.signals import raise_if_stopped, stops_deferred
from bootstrap.types import FileEntry, Meter, Progress
from bootstrap.unpack import add_xattr, set_hardlink, set_symlink

CHUNK = 1 << 20
_SKIPPED_XATTRS = {"security.selinux"}
_TYPES = {stat.S_IFDIR: FileType.DIRECTORY, stat.S_IFREG: FileType.REGULAR_FILE,
          stat.S_IFLNK: FileType.SYMBOLINK_LINK, stat.S_IFCHR: FileType.CHAR_DEVICE,
          stat.S_IFBLK: FileType.BLOCK_DEVICE, stat.S_IFIFO: FileType.NAMED_PIPE}
# FileEntry.type → the file type it leaves on disk (a hard link is a regular file there).
_KINDS = {"file": stat.S_IFREG, "hardlink": stat.S_IFREG, "dir": stat.S_IFDIR,
          "symlink": stat.S_IFLNK, "char": stat.S_IFCHR, "block": stat.S_IFBLK, "fifo": stat.S_IFIFO}


@dataclass(frozen=True)
class Meta:
    """What the header says about one path besides its type and content."""

    uid: int
    gid: int
    mode: int
    mtime: int
    xattrs: tuple[tuple[str, bytes], ...]


def walk(root: Path) -> list[bytes]:
    """Every path under `root` (root-relative, bytes, the root itself as b""), sorted bytewise."""
    found: list[bytes] = [b""]
    stack = [b""]
    base = os.fsencode(root)
    while stack:
        rel = stack.pop()
        with os.scandir(base + b"/" + rel if rel else base) as it:
            for item in it:
                path = rel + b"/" + item.name if rel else item.name
                found.append(path)
                if item.is_dir(follow_symlinks=False):
                    stack.append(path)
    found.sort()
    return found


def content_bytes(root: Path) -> int:
    """The bytes of file content a tar of `root` carries: regular files, each inode once (a
    later path of a hard-linked inode is a header only). One lstat of every path."""
    base = os.fsencode(root)
    seen: set[tuple[int, int]] = set()
    total = 0
    for rel in walk(root)[1:]:
        st = os.lstat(base + b"/" + rel)
        if not stat.S_ISREG(st.st_mode):
            continue
        if st.st_nlink > 1:
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
        total += st.st_size
    return total


# The meter of the pack the current block runs (`metered`): the pipeline reaches the packers
# through bootstrap.output and its Packer hook, which hand on what to write, not who watches.
_METER: ContextVar[Meter | None] = ContextVar("pack_meter", default=None)


@contextmanager
def metered(progress: Progress | None, root: Path) -> Iterator[Meter | None]:
    """A "pack" meter of `progress` for the block, of `content_bytes(root)` bytes (one walk of
    the tree), which `current_meter()` gives in it; closed when the block ends. Without
    progress: None, and no walk."""
    if progress is None:
        yield None
        return
    meter = progress("pack", content_bytes(root), "B")
    token = _METER.set(meter)
    try:
        yield meter
    finally:
        _METER.reset(token)
        meter.close()


def current_meter() -> Meter | None:
    """The meter `metered` set for the running block, or None."""
    return _METER.get()


def _no_tick(amount: int) -> None:
    """The meter of an unwatched stream."""


def write_tar(root: Path, sink: Callable[[bytes], None], *,
              overrides: Mapping[str, FileEntry] | None = None,
              devices: Sequence[FileEntry] = (),
              source_date_epoch: int | None = None,
              only: Container[bytes] | None = None,
              meter: Meter | None = None) -> None:
    """Write the tar stream of `root` to `sink` (see the module docstring for its shape).
    `devices` are device nodes to write where the disk has nothing (they are never made in a
    build root), for builds whose disk owners are right and so give no `overrides`.
    `only`: the root-relative paths to write (as `walk` gives them, b"" for the root); a
    device node of `devices` or `overrides` (see `missing_nodes`) is written when its on-disk
    path is in `only`. None writes everything. `meter`: the module docstring."""
    failure: list[BaseException] = []
    tick = meter.advance if meter is not None else _no_tick

    def emit(data: bytes) -> int:
        # An exception cannot cross libarchive's C callback: keep it, report a failure.
        try:
            sink(bytes(data))
        except BaseException as err:
            failure.append(err)
            return -1
        return len(data)

    table = _canonical_overrides(root, overrides) if overrides is not None else None
    nodes = _nodes(root, table, devices)
    paths = sorted(walk(root) + list(nodes))
    if only is not None:
        paths = [rel for rel in paths if rel in only]
    try:
        # xattrs only as SCHILY.xattr records (what GNU tar, Go's archive/tar and so docker
        # read): libarchive's own LIBARCHIVE.xattr duplicates make GNU tar warn on every one.
        # A stop is only noted while libarchive runs (it calls back into Python, where ctypes
        # would swallow an exception): after every call into it, a stop that arrived ends
        # the stream (bootstrap.signals.stops_deferred).
        with stops_deferred():
            writer = custom_writer(emit, "pax_restricted", block_size=CHUNK, options="xattrheader=SCHILY")
            archive = writer.__enter__()
            try:
                links: dict[tuple[int, int], str] = {}
                for rel in paths:
                    if rel in nodes:
                        _add_node(archive._pointer, rel, nodes[rel], source_date_epoch)
                    else:
                        _add(archive._pointer, root, rel, links, table, source_date_epoch, tick)
            except BaseException:
                writer.__exit__(*sys.exc_info())  # archive_write_fail: no further callback
                raise
            writer.__exit__(None, None, None)  # the closing flush calls back into Python
            raise_if_stopped()
    except ArchiveError:
        if failure:
            raise failure[0] from None
        raise
    if failure:
        # The closing flush may fail (or a signal land in the callback) without libarchive
        # reporting it as an error: the stream is incomplete all the same.
        raise failure[0]


def _add(archive_p: int, root: Path, rel: bytes, links: dict[tuple[int, int], str],
         table: Mapping[str, FileEntry] | None, epoch: int | None,
         tick: Callable[[int], None] = _no_tick) -> None:
    path = os.path.join(os.fsencode(root), rel) if rel else os.fsencode(root)
    st = os.lstat(path)
    kind = stat.S_IFMT(st.st_mode)
    if kind not in _TYPES:
        return  # sockets: tar has no way to carry them
    name = os.fsdecode(rel)
    meta = _meta(path, name or ".", st, table, epoch)
    entry = ArchiveEntry(header_codec="utf-8")
    entry.pathname = "./" + name if name else "."
    entry.filetype = _TYPES[kind]
    entry.perm = meta.mode
    entry.uid, entry.gid = meta.uid, meta.gid
    entry.mtime = meta.mtime
    for key, value in meta.xattrs:
        add_xattr(entry, key, value)
    linked = False
    if kind != stat.S_IFDIR and st.st_nlink > 1:
        first = links.setdefault((st.st_dev, st.st_ino), entry.pathname)
        linked = first != entry.pathname
    if linked:
        set_hardlink(entry, first)
    elif kind == stat.S_IFLNK:
        set_symlink(entry, os.fsdecode(os.readlink(path)))
    elif kind in (stat.S_IFCHR, stat.S_IFBLK):
        entry.rdevmajor, entry.rdevminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    entry.size = st.st_size if kind == stat.S_IFREG and not linked else 0
    ffi.write_header(archive_p, entry._entry_p)
    if kind == stat.S_IFREG and entry.size:
        for chunk in _chunks(path):
            ffi.write_data(archive_p, chunk, len(chunk))
            raise_if_stopped()
            tick(len(chunk))
    ffi.write_finish_entry(archive_p)
    raise_if_stopped()


def missing_nodes(root: Path, overrides: Mapping[str, FileEntry] | None,
                  devices: Sequence[FileEntry] = ()) -> dict[bytes, FileEntry]:
    """The device nodes `write_tar` adds to what the disk holds, by on-disk root-relative path
    (the same `overrides` and `devices` given, the same nodes): a layered image places each
    of them in exactly one layer's `only`."""
    return _nodes(root, _canonical_overrides(root, overrides) if overrides is not None else None, devices)


def _nodes(root: Path, table: Mapping[str, FileEntry] | None, devices: Sequence[FileEntry]) -> dict[bytes, FileEntry]:
    """`missing_nodes` of the re-keyed overrides `table`: theirs win over `devices`."""
    return _missing_nodes(root, {**_canonical_overrides(root, {e.path: e for e in devices}), **(table or {})})


def _missing_nodes(root: Path, table: Mapping[str, FileEntry]) -> dict[bytes, FileEntry]:
    """Device nodes the manifest has but the disk lacks: unprivileged builds cannot mknod
    (CentOS's `dev` package ships /dev in its payload), so they come from the manifest."""
    return {os.fsencode(path): item for path, item in table.items()
            if item.type in ("char", "block") and not os.path.lexists(root / path)}


def _add_node(archive_p: int, rel: bytes, item: FileEntry, epoch: int | None) -> None:
    entry = ArchiveEntry(header_codec="utf-8")
    entry.pathname = "./" + os.fsdecode(rel)
    entry.filetype = FileType.CHAR_DEVICE if item.type == "char" else FileType.BLOCK_DEVICE
    entry.perm = item.mode & 0o7777
    entry.uid, entry.gid = item.uid, item.gid
    entry.mtime = item.mtime if epoch is None else min(item.mtime, epoch)
    entry.rdevmajor, entry.rdevminor = item.devmajor, item.devminor
    entry.size = 0
    ffi.write_header(archive_p, entry._entry_p)
    ffi.write_finish_entry(archive_p)
    raise_if_stopped()


def _meta(path: bytes, name: str, st: os.stat_result, table: Mapping[str, FileEntry] | None,
          epoch: int | None) -> Meta:
    mtime = int(st.st_mtime)
    if epoch is not None:
        mtime = min(mtime, epoch)
    if table is not None:
        known = table.get(name)
        # An entry of another kind than the disk's is no longer there: the package's `bin/`
        # directory is the merged-/usr link `bin -> usr/bin` on disk, which the tool made
        # (root's, mode 0777, as a root build packs it), not a 0755 directory.
        if known is not None and _KINDS.get(known.type) == stat.S_IFMT(st.st_mode):
            return Meta(known.uid, known.gid, known.mode & 0o7777, mtime, tuple(known.xattrs))
        return Meta(0, 0, st.st_mode & 0o7777, mtime, _xattrs(path))
    return Meta(st.st_uid, st.st_gid, st.st_mode & 0o7777, mtime, _xattrs(path))


def _xattrs(path: bytes) -> tuple[tuple[str, bytes], ...]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:  # a filesystem without xattrs
        return ()
    found = []
    for key in sorted(names):
        if key not in _SKIPPED_XATTRS:
            found.append((key, os.getxattr(path, key, follow_symlinks=False)))
    return tuple(found)


def _chunks(path: bytes) -> Iterator[bytes]:
    with open(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC), "rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk


def canonical_paths(root: Path, paths: Iterable[str]) -> dict[str, str]:
    """Each manifest path (root-relative, as the manifests say it) → where it is on disk: a
    package's `bin/sh` lives at `usr/bin/sh` when the root has the merged-/usr link
    `bin -> usr/bin`. Only the parent is resolved (the entry itself may be a symlink); a
    parent that does not resolve inside the root leaves the path as it is."""
    confined = Confined(root, "pack", set())
    parents: dict[str, str | None] = {}
    found: dict[str, str] = {}
    for path in paths:
        head, _, tail = path.rpartition("/")
        if head not in parents:
            try:
                parents[head] = "/".join(confined.resolve_dir(head.split("/"), path, create=False))
            except UnpackError:
                parents[head] = None
        real = parents[head]
        found[path] = path if real is None else (f"{real}/{tail}" if real else tail)
    return found


def _canonical_overrides(root: Path, overrides: Mapping[str, FileEntry]) -> dict[str, FileEntry]:
    """The manifest re-keyed by where each path is on disk (`canonical_paths`); of two paths
    that land on one, the later in the manifest wins."""
    where = canonical_paths(root, overrides)
    return {where[path]: item for path, item in overrides.items()}
