"""Extract package payloads safely into the root and return the manifest of what was written.

Every archive libarchive reads goes through here: tar (plain, gzip, xz, zstd, bzip2, lzma),
cpio, rpm (libarchive's rpm filter strips the lead and header and hands over the cpio
payload), concatenated gzip streams (apk), and Debian's ar container.

Contract (see also unpack_safety and unpack_write):
- Nothing is written outside `root`: absolute names, `..`, hard links out of the root and paths
  through a symlink the same archive placed raise UnsafePathError naming package and entry.
- The returned FileEntry list holds every entry written, in archive order, with the owners,
  mode, times and xattrs the archive asked for, whatever the disk could hold.
- Archive corruption raises UnpackError; nothing here prints.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator, Mapping, TypeVar

import libarchive
from libarchive.exception import ArchiveError
from libarchive.read import ArchiveRead

from bootstrap import compression
from bootstrap.errors import UnpackError
from bootstrap.types import FileEntry
from bootstrap.unpack_ffi import data_blocks, nested_reader
from bootstrap.unpack_safety import normalize
from bootstrap.unpack_write import Writer, entry_kind

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
    def from_root(cls, root: Path) -> IdMap:
        """Read root/etc/passwd and root/etc/group; a missing file gives an empty mapping."""
        return cls(_id_file(root / "etc" / "passwd", 2), _id_file(root / "etc" / "group", 2))


def _id_file(path: Path, column: int) -> dict[str, int]:
    found: dict[str, int] = {}
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, NotADirectoryError):
        return found
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) > column and fields[column].isdigit() and fields[0] not in found:
            found[fields[0]] = int(fields[column])
    return found


class Unpacker:
    """Extracts payloads into one root; one instance per root (it is cheap)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def extract(self, source: Source, package: str, *, ids: IdMap | None = None,
                skip: Callable[[str], bool] | None = None) -> list[FileEntry]:
        """Extract any archive libarchive reads. `skip(path)` (root-relative path) returning
        True leaves that entry out of the root and out of the manifest (apk's control files,
        dpkg path-exclude)."""
        with _reader(source, package) as archive:
            return self._extract_from(archive, package, ids, skip, _label(source))

    def extract_deb(self, path: Path, package: str) -> tuple[dict[str, bytes], list[FileEntry]]:
        """Extract a .deb: returns (control members by name, data manifest).

        data.tar is streamed from inside the ar container (a nested libarchive reader fed by
        the outer one), never loaded into memory or a temporary file. Members other than
        debian-binary, control.tar* and data.tar* (signatures such as _gpgbuilder) are ignored.
        Owners map through the root's own /etc/passwd and /etc/group when they exist (as dpkg
        does), falling back to the numeric ids in the tar headers.
        """
        def extract(outer: ArchiveRead, name: str) -> list[FileEntry]:
            with _nested(outer, package, name) as inner:
                return self._extract_from(inner, package, IdMap.from_root(self.root), None,
                                          f"{Path(path).name}:{name}")

        return _read_deb(Path(path), package, extract)

    def extract_loaded_deb(self, loaded: LoadedDeb, package: str) -> tuple[dict[str, bytes], list[FileEntry]]:
        """extract_deb for a .deb already read by `load_deb`: same result, same checks."""
        label = f"{loaded.name}:{loaded.data_member}"
        with _reader(loaded.data_tar, package, fmt="tar") as inner:
            manifest = self._extract_from(inner, package, IdMap.from_root(self.root), None, label)
        return loaded.control, manifest

    def extract_rpm(self, path: Path, package: str, *,
                    ids: IdMap | None = None) -> list[FileEntry]:
        """Extract an .rpm's cpio payload (any compression libarchive supports). Owners are
        what the cpio says (usually root); the yum adapter overrides them from the header."""
        with _reader(Path(path), package, fmt="cpio") as archive:
            return self._extract_from(archive, package, ids, None, Path(path).name)

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


@dataclass(frozen=True)
class LoadedDeb:
    """A .deb read into memory: its control members and its data.tar, decompressed."""

    name: str
    control: dict[str, bytes]
    data_member: str
    data_tar: bytes


def load_deb(path: Path, package: str) -> LoadedDeb:
    """Read a .deb and decompress its data.tar in memory, touching no root.

    Why: decompression is most of the CPU an unpack costs, and Python's lzma, zlib, bz2 and
    zstandard release the GIL, so the packages after the one being written can be loaded in
    threads on the other cores. Raises UnpackError like extract_deb.
    """
    def read(outer: ArchiveRead, name: str) -> tuple[str, bytes]:
        return name, b"".join(block for _, block in data_blocks(outer._pointer))

    control, (member, raw) = _read_deb(Path(path), package, read)
    return LoadedDeb(Path(path).name, control, member, _decompress(raw, member, package))


T = TypeVar("T")


def _read_deb(path: Path, package: str,
              on_data: Callable[[ArchiveRead, str], T]) -> tuple[dict[str, bytes], T]:
    """Walk a .deb's ar members: control.tar* read into memory, `on_data(outer, name)` for
    data.tar* (streamed extraction, or a copy into memory). Members other than debian-binary,
    control.tar* and data.tar* (signatures such as _gpgbuilder) are ignored."""
    control: dict[str, bytes] | None = None
    data: tuple[T] | None = None
    with _reader(path, package, fmt="ar") as outer:
        try:
            for member in outer:
                name = member.pathname.rstrip("/")
                if name.startswith("control.tar"):
                    with _nested(outer, package, name) as inner:
                        control = _read_members(inner)
                elif name.startswith("data.tar"):
                    data = (on_data(outer, name),)
        except ArchiveError as err:
            raise UnpackError(f"package {package}: cannot read {path.name}: {err.msg}",
                              hint="the download may be corrupt; delete it from the cache and retry") from None
    if control is None or data is None:
        missing = "control.tar" if control is None else "data.tar"
        raise UnpackError(f"package {package}: {path.name} has no {missing} member",
                          hint="the file is not a Debian package or is truncated")
    return control, data[0]


def _decompress(raw: bytes, member: str, package: str) -> bytes:
    """data.tar.{xz,gz,bz2,zst,lzma} or plain data.tar, decompressed."""
    if member != "data.tar" and not compression.is_compressed(member):
        raise UnpackError(f"package {package}: unknown compression of {member}")
    try:
        return compression.decompress(raw, member)
    except ValueError as err:
        raise UnpackError(f"package {package}: cannot read its {member}: {err}",
                          hint="the download may be corrupt; delete it from the cache and retry") from None


def read_archive_members(source: Source) -> dict[str, bytes]:
    """The regular files of a small archive, in memory, by name without a leading `./`.

    For control archives and index tarballs (APKINDEX.tar.gz, control.tar.*); nothing touches
    the disk, so names are only tidied, not judged.
    """
    with _reader(source, "archive") as archive:
        try:
            return _read_members(archive)
        except ArchiveError as err:
            raise UnpackError(f"cannot read {_label(source)}: {err.msg}") from None


def _read_members(archive: ArchiveRead) -> dict[str, bytes]:
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
def _reader(source: Source, package: str, fmt: str = "all") -> Iterator[ArchiveRead]:
    """Open `source` with libarchive, turning open failures into UnpackError."""
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
def _nested(outer: ArchiveRead, package: str, member: str) -> Iterator[ArchiveRead]:
    try:
        with nested_reader(outer._pointer) as inner:
            yield inner
    except ArchiveError as err:
        raise UnpackError(f"package {package}: cannot read its {member}: {err.msg}",
                          hint="the download may be corrupt; delete it from the cache "
                               "and retry") from None
