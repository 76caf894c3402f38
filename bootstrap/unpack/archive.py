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
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import libarchive
from libarchive.exception import ArchiveError
from libarchive.read import ArchiveRead

from bootstrap.errors import UnpackError
from bootstrap.root import Root
from bootstrap.types import FileEntry
from bootstrap.unpack.ffi import data_blocks, nested_reader
from bootstrap.unpack.safety import normalize
from bootstrap.unpack.write import Writer, entry_kind

Source = Path | bytes


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
                skip: Callable[[str], bool] | None = None, fmt: str = "all") -> list[FileEntry]:
        """Extract any archive libarchive reads (`fmt` names one format, as "cpio" for an
        rpm's payload, or "all"). `skip(path)` (root-relative path) returning True leaves that
        entry out of the root and out of the manifest (apk's control files, dpkg path-exclude)."""
        with open_archive(source, package, fmt) as archive:
            return self.extract_archive(archive, package, ids=ids, skip=skip, label=_label(source))

    def extract_archive(self, archive: ArchiveRead, package: str, *, ids: IdMap | None = None,
                        skip: Callable[[str], bool] | None = None, label: str = "") -> list[FileEntry]:
        """extract() for an archive already open: a member of a container a family's payload
        reader walks (a .deb's data.tar inside its ar), read through `nested`."""
        return self._extract_from(archive, package, ids, skip, label or package)


    def _extract_from(self, archive: ArchiveRead, package: str, ids: IdMap | None,
                      skip: Callable[[str], bool] | None, label: str) -> list[FileEntry]:
        writer = Writer(self.root, package)
        manifest: list[FileEntry] = []
        where: dict[str, int] = {}
        try:
            for entry in archive:
                rel = normalize(entry.pathname, package)
                if skip is not None and skip(rel):
                    continue
                uid, gid, names = _owners(entry, ids)
                item = writer.write(archive._pointer, entry, rel, uid, gid, names)
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
            raise UnpackError(f"package {package}: cannot write into {self.root}: "
                              f"{err.strerror} ({err.filename})") from None
        for path, mtime in reversed(writer.dir_times):  # deepest last-made first
            os.utime(path, (mtime, mtime), follow_symlinks=False)
        return manifest


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
        name = entry.pathname
        while name.startswith("./"):
            name = name[2:]
        members[name.lstrip("/")] = b"".join(block for _, block in data_blocks(archive._pointer))
    return members


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
