"""Extract package payloads safely into the root and return the manifest of what was written.

Every archive libarchive reads goes through here: tar (plain, gzip, xz, zstd, bzip2, lzma),
cpio, concatenated gzip streams, and members of containers (ar) opened with `nested`. Which
container a family's payload is and which member holds the data is the family's knowledge
(adapters/<family>/payload.py); writing the entries safely is this package's.

Contract (see also safety and write):
- Nothing is written outside `root`: absolute names, `..`, hard links out of the root and paths
  through a symlink the same archive placed raise UnsafePathError naming package and entry.
- The returned FileEntry list holds every entry written, in archive order, with the owners,
  mode, times and xattrs the archive asked for, whatever the disk could hold.
- Archive corruption raises UnpackError; nothing here prints.
- Where a family's metadata, not the archive, decides what an entry is (an rpm's header over
  its cpio), `declare(path)` gives a `Declared` record and the archive's own type, permission
  bits, link target and device numbers give way to it; the archive still supplies the data.
- Where the family's installer writes a package's file under another name (apk's `.apk-new`,
  rpm's `.rpmnew`: the file already in the root is kept), `divert(path, kind)` names that
  path; the entry is written there and its manifest record carries it, so the manifest says
  what is on disk. A hard link to a diverted entry links to where it was written.
"""
from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import libarchive
from libarchive.exception import ArchiveError
from libarchive.read import ArchiveRead

from bootstrap.errors import NO_SPACE_ERRNOS, UnpackError
from bootstrap.root import Root
from bootstrap.types import FileEntry
from bootstrap.unpack.ffi import clear_hardlink, data_blocks, nested_reader, set_hardlink, set_symlink
from bootstrap.unpack.safety import normalize
from bootstrap.unpack.write import Writer, entry_kind

Source = Path | bytes
_TYPES = {"file": stat.S_IFREG, "dir": stat.S_IFDIR, "symlink": stat.S_IFLNK, "char": stat.S_IFCHR,
          "block": stat.S_IFBLK, "fifo": stat.S_IFIFO}


@dataclass(frozen=True)
class Declared:
    """What a package's metadata says one archive entry is: `type` ("file", "dir", "symlink",
    "char", "block", "fifo"), permission bits, the link target of a symlink, the numbers of
    a device. A regular file keeps the archive's data: when the archive stored the entry as a
    symlink, the data is its link text (cpio keeps a symlink's target as the entry's data);
    a hard link the archive made stays one."""

    type: str
    mode: int
    linkname: str = ""
    devmajor: int = 0
    devminor: int = 0


# declare(path) -> what the entry is, or None to leave it out of the root and the manifest.
Declare = Callable[[str], Declared | None]
# skip(path, kind) -> True to leave the entry out (see Unpacker.extract).
Skip = Callable[[str, str], bool]
# divert(path, kind) -> the root-relative path to write the entry at instead, or None.
Divert = Callable[[str, str], str | None]


@dataclass(frozen=True)
class IdMap:
    """User and group names of the root being built, to their numeric ids.

    tar headers carry both names and numbers; dpkg and apk trust the names when the target's
    /etc/passwd knows them (the build host's numbering means nothing in the image).
    """

    users: Mapping[str, int] = field(default_factory=dict)
    groups: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def from_root(cls, root: Root | Path) -> IdMap:
        """Read the tree's etc/passwd and etc/group; a missing file gives an empty mapping."""
        handle = root if isinstance(root, Root) else Root(root)
        return cls(_id_file(handle.read_text_or("etc/passwd", errors="replace"), 2),
                   _id_file(handle.read_text_or("etc/group", errors="replace"), 2))


def _id_file(text: str, column: int) -> dict[str, int]:
    found: dict[str, int] = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) > column and fields[column].isdigit() and fields[0] not in found:
            found[fields[0]] = int(fields[column])
    return found


class Unpacker:
    """Extracts payloads into one root; one instance per root (it is cheap)."""

    def __init__(self, root: Root | Path) -> None:
        # A Path is taken as the root handle of that directory (tests and tools build one).
        self.handle = root if isinstance(root, Root) else Root(root)
        self.root = self.handle.path

    def extract(self, source: Source, package: str, *, ids: IdMap | None = None,
                skip: Skip | None = None, fmt: str = "all",
                declare: Declare | None = None, divert: Divert | None = None) -> list[FileEntry]:
        """Extract any archive libarchive reads (`fmt` names one format, as "cpio" for an
        rpm's payload, or "all"). `skip(path, kind)` (root-relative path, the FileEntry type
        word the archive gives) returning True leaves that entry out of the root and out of
        the manifest (apk's control files, dpkg path-exclude, a file apk leaves to its owner);
        it may raise a BootstrapError to refuse the package before that entry is written.
        `declare(path)` (see the module docstring) runs after `skip`, for every entry;
        `divert(path, kind)` after both, with the kind `declare` made the entry."""
        with open_archive(source, package, fmt) as archive:
            return self.extract_archive(archive, package, ids=ids, skip=skip, label=_label(source),
                                        declare=declare, divert=divert)

    def extract_archive(self, archive: ArchiveRead, package: str, *, ids: IdMap | None = None,
                        skip: Skip | None = None, label: str = "",
                        declare: Declare | None = None, divert: Divert | None = None) -> list[FileEntry]:
        """extract() for an archive already open: a member of a container a family's payload
        reader walks (a .deb's data.tar inside its ar), read through `nested`."""
        return self._extract_from(archive, package, ids, skip, label or package, declare, divert)

    def _extract_from(self, archive: ArchiveRead, package: str, ids: IdMap | None,
                      skip: Skip | None, label: str,
                      declare: Declare | None = None, divert: Divert | None = None) -> list[FileEntry]:
        writer = Writer(self.root, package)
        manifest: list[FileEntry] = []
        where: dict[str, int] = {}
        moved: dict[str, str] = {}  # archive path → where divert wrote it
        try:
            for entry in archive:
                rel = normalize(_text_names(entry, package), package)
                if skip is not None and skip(rel, entry_kind(entry)):
                    continue
                data = None
                if declare is not None:
                    declared = declare(rel)
                    if declared is None:
                        continue
                    data = _impose(entry, declared)
                rel = _diverted(entry, rel, package, divert, moved)
                uid, gid, names = _owners(entry, ids)
                item = writer.write(archive._pointer, entry, rel, uid, gid, names, data)
                if item.type == "hardlink" and item.digest and item.linkname in where:
                    # cpio: the data came with this link; the first name of the set shares it.
                    first = where[item.linkname]
                    manifest[first] = replace(manifest[first], size=item.size, digest=item.digest)
                where[rel] = len(manifest)
                manifest.append(item)
        except ArchiveError as err:
            raise UnpackError(f"package {package}: cannot read {label}: {err.msg}",
                              hint="the download may be corrupt; delete it from the cache "
                                   "and retry") from None
        except OSError as err:
            if err.errno in NO_SPACE_ERRNOS:
                raise  # a full disk, not a bad package: the pipeline says where and what to free
            shown = f" ({err.filename})" if err.filename else ""
            raise UnpackError(f"package {package}: cannot write into {self.root}: "
                              f"{err.strerror or err}{shown}") from None
        for path, mtime in reversed(writer.dir_times):  # deepest last-made first
            os.utime(path, (mtime, mtime), follow_symlinks=False)
        return manifest


def _diverted(entry: libarchive.ArchiveEntry, rel: str, package: str, divert: Divert | None,
              moved: dict[str, str]) -> str:
    """Where `entry` (archive path `rel`) is written: `divert`'s answer, else `rel`. A hard
    link whose target was diverted is pointed at the target's new place (the archive's name
    for it no longer holds that file)."""
    if entry_kind(entry) == "hardlink" and moved:
        target = normalize(entry.linkpath, package)
        if target in moved:
            set_hardlink(entry, moved[target])
    if divert is None:
        return rel
    other = divert(rel, entry_kind(entry))
    if other is None:
        return rel
    moved[rel] = normalize(other, package)
    return moved[rel]


def _impose(entry: libarchive.ArchiveEntry, declared: Declared) -> bytes | None:
    """Make `entry` what `declared` says (see Declared); returns the data of a regular file
    the archive stored as a symlink (its link text), else None (the archive's data is read)."""
    was = entry_kind(entry)
    text = entry.linkpath if entry.issym else None  # read before the type changes what it says
    if was == "hardlink" and declared.type != "file":
        clear_hardlink(entry)
    entry.filetype = _TYPES[declared.type]
    entry.perm = declared.mode & 0o7777
    if declared.type == "symlink":
        set_symlink(entry, declared.linkname)
    elif declared.type in ("char", "block"):
        entry.rdevmajor, entry.rdevminor = declared.devmajor, declared.devminor
    if declared.type == "file" and text is not None:
        return os.fsencode(text)
    return None


def read_archive_members(source: Source) -> dict[str, bytes]:
    """The regular files of a small archive, in memory, by name without a leading `./`.

    For control archives and index tarballs (APKINDEX.tar.gz, control.tar.*); nothing touches
    the disk, so names are only tidied, not judged.
    """
    with open_archive(source, "archive") as archive:
        try:
            return read_members(archive)
        except ArchiveError as err:
            raise UnpackError(f"cannot read {_label(source)}: {err.msg}") from None


def read_members(archive: ArchiveRead) -> dict[str, bytes]:
    """The regular files of an open archive, in memory, by name without a leading `./`."""
    members: dict[str, bytes] = {}
    for entry in archive:
        if entry_kind(entry) != "file":
            continue
        name = _text_names(entry, "archive")
        while name.startswith("./"):
            name = name[2:]
        members[name.lstrip("/")] = b"".join(block for _, block in data_blocks(archive._pointer))
    return members


def _text_names(entry: libarchive.ArchiveEntry, package: str) -> str:
    """The entry's name, after checking that it and a link's target are text: libarchive-c
    gives the raw bytes of a name that is not valid UTF-8 (and None for none), which no path
    check reads; UnpackError then."""
    name, link = entry.pathname, entry.linkpath if entry.issym or entry.islnk else ""
    if not isinstance(name, str) or not isinstance(link, str):
        bad = name if not isinstance(name, str) else link
        raise UnpackError(f"package {package}: an entry's {'name' if bad is name else 'link target'} "
                          f"{bad!r:.80} is not UTF-8 text", hint="the package is corrupt or malicious")
    return name


def _owners(entry: libarchive.ArchiveEntry, ids: IdMap | None) -> tuple[int, int, tuple[str, str]]:
    """(uid, gid, (uname, gname)): names mapped through `ids` when it knows them."""
    uname, gname = entry.uname or "", entry.gname or ""
    uid, gid = entry.uid or 0, entry.gid or 0
    if ids is not None:
        uid = ids.users.get(uname, uid)
        gid = ids.groups.get(gname, gid)
    return uid, gid, (uname, gname)


def _label(source: Source) -> str:
    return Path(source).name if isinstance(source, (str, Path)) else "in-memory archive"


@contextmanager
def open_archive(source: Source, package: str, fmt: str = "all") -> Iterator[ArchiveRead]:
    """Open `source` (a file or bytes) with libarchive, turning open failures into UnpackError
    that names `package`."""
    try:
        if isinstance(source, (bytes, bytearray, memoryview)):
            # libarchive reads the bytes object's own buffer (no copy of a whole data.tar):
            # `data` stays referenced, so alive, until the reader is closed.
            data = bytes(source)
            with libarchive.memory_reader(data, format_name=fmt) as archive:
                yield archive
        else:
            with libarchive.file_reader(str(source), format_name=fmt) as archive:
                yield archive
    except ArchiveError as err:
        raise UnpackError(f"package {package}: cannot read {_label(source)}: {err.msg}",
                          hint="the download may be corrupt; delete it from the cache "
                               "and retry") from None
    except FileNotFoundError as err:
        raise UnpackError(f"package {package}: {err.filename} does not exist") from None


@contextmanager
def nested(outer: ArchiveRead, package: str, member: str) -> Iterator[ArchiveRead]:
    """The current member of `outer` (an archive inside an archive) as an archive of its own,
    streamed, never copied; read failures become UnpackError naming `member`."""
    try:
        with nested_reader(outer._pointer) as inner:
            yield inner
    except ArchiveError as err:
        raise UnpackError(f"package {package}: cannot read its {member}: {err.msg}",
                          hint="the download may be corrupt; delete it from the cache "
                               "and retry") from None
