"""Reading an .rpm's payload: lead, signature header and main header, then a cpio archive in
any compression (libarchive's rpm reader strips the headers and hands over the cpio).

The header decides, as rpm's own fsm does: rpm reads only names and regular files' data from
the cpio, and takes every file's type, mode and link target (and owner) from the header. So
`declared_by(rpm)` makes the unpacker write what the header says whatever the cpio claims (a
setuid mode, a symlink or a device where the header has a plain file); %ghost entries in the
payload (rpm < 4.11 sometimes wrote them) are left out, and an entry the header does not list
is refused, as rpm refuses it ("archive file not in header"). Owners and capabilities are the
adapter's pass after the unpacker (they need the root's passwd/group).
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

from bootstrap.adapters.yum.header import RpmFile, RpmFileInfo
from bootstrap.errors import UnpackError
from bootstrap.types import FileEntry
from bootstrap.unpack import Declare, Declared, Divert, IdMap, Skip, Unpacker

_TYPES = {stat.S_IFREG: "file", stat.S_IFDIR: "dir", stat.S_IFLNK: "symlink", stat.S_IFCHR: "char",
          stat.S_IFBLK: "block", stat.S_IFIFO: "fifo"}
_HINT = "the package is corrupt or malicious; rpm refuses it too"


def header_path(path: str) -> str:
    """A header file name as the root-relative path the unpacker uses (`usr/bin/sh`)."""
    return "/".join(p for p in path.split("/") if p not in ("", "."))


def declared_by(rpm: RpmFile, package: str) -> Declare:
    """The unpacker's `declare` for this package: each payload entry as its header declares it,
    None for a %ghost, UnpackError for an entry the header does not list or a type rpm cannot
    install."""
    files: dict[str, RpmFileInfo] = {header_path(f.path): f for f in rpm.files()}

    def declare(rel: str) -> Declared | None:
        info = files.get(rel)
        if info is None:
            raise UnpackError(f"package {package}: its payload holds {rel!r}, which its header does not list",
                              hint=_HINT)
        if info.is_ghost:
            return None
        kind = _TYPES.get(stat.S_IFMT(info.mode))
        if kind is None:
            raise UnpackError(f"package {package}: {info.path}: its header declares file mode "
                              f"{info.mode:o}, which is no file type rpm installs", hint=_HINT)
        return Declared(kind, info.mode & 0o7777, info.linkto, os.major(info.rdev), os.minor(info.rdev))

    return declare


def extract_rpm(unpacker: Unpacker, path: Path, package: str, *, ids: IdMap | None = None,
                declare: Declare | None = None, skip: Skip | None = None,
                divert: Divert | None = None) -> list[FileEntry]:
    """Extract the cpio payload of the .rpm at `path` into the unpacker's root; with
    `declare` (declared_by), the header decides what each entry is; `skip` and `divert` are
    the unpacker's (files.PackageFiles: what rpm does where a path is already taken)."""
    return unpacker.extract(Path(path), package, ids=ids, fmt="cpio", declare=declare, skip=skip,
                            divert=divert)
