"""Reading a .deb: an ar container of debian-binary, control.tar* and data.tar*.

The control members are read into memory (dpkg's database needs them); data.tar is either
streamed from inside the ar into the root (a nested libarchive reader fed by the outer one,
never loaded whole) or, by `load_deb`, decompressed in memory ahead of time on a thread. Either
way the entries are written by the shared Unpacker, which keeps them inside the root. Members
other than those three (signatures such as _gpgbuilder) are ignored, as dpkg does.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from libarchive.exception import ArchiveError
from libarchive.read import ArchiveRead

from bootstrap import compression
from bootstrap.errors import UnpackError
from bootstrap.types import FileEntry
from bootstrap.unpack import IdMap, Skip, Unpacker, data_blocks, nested, open_archive, read_members

T = TypeVar("T")
_INSTALLED_SIZE = re.compile(rb"^Installed-Size:[ \t]*([0-9]{1,15})[ \t]*$", re.MULTILINE | re.IGNORECASE)
_CORRUPT = "the download may be corrupt; delete it from the cache and retry"


@dataclass(frozen=True)
class LoadedDeb:
    """A .deb read into memory: its control members and its data.tar, decompressed."""

    name: str
    control: dict[str, bytes]
    data_member: str
    data_tar: bytes


def extract_deb(unpacker: Unpacker, path: Path, package: str,
                skip: Skip | None = None) -> tuple[dict[str, bytes], list[FileEntry]]:
    """Extract a .deb into the unpacker's root: returns (control members by name, data manifest).

    Owners map through the root's own /etc/passwd and /etc/group when they exist (as dpkg
    does), falling back to the numeric ids in the tar headers. `skip` is the unpacker's (the
    adapter's: dpkg's rule for a path another package has, overwrite.py).
    """
    def extract(outer: ArchiveRead, name: str) -> list[FileEntry]:
        with nested(outer, package, name) as inner:
            return unpacker.extract_archive(inner, package, ids=IdMap.from_root(unpacker.root),
                                            label=f"{Path(path).name}:{name}", skip=skip)

    return _read_deb(Path(path), package, extract)


def extract_loaded_deb(unpacker: Unpacker, loaded: LoadedDeb, package: str,
                       skip: Skip | None = None) -> tuple[dict[str, bytes], list[FileEntry]]:
    """extract_deb for a .deb already read by `load_deb`: same result, same checks."""
    label = f"{loaded.name}:{loaded.data_member}"
    with open_archive(loaded.data_tar, package, fmt="tar") as inner:
        manifest = unpacker.extract_archive(inner, package, ids=IdMap.from_root(unpacker.root),
                                            label=label, skip=skip)
    return loaded.control, manifest


def payload_limit(installed_kib: int) -> int:
    """How far a .deb's data.tar may inflate in memory: 4 × its Installed-Size (KiB; the
    tar's headers and padding of many small files add to it), at least 16 MiB;
    compression.PAYLOAD_LIMIT when none is stated. The control file's Installed-Size is the
    index's (the index is made from it, and the .deb was checked against the index's digest)."""
    if installed_kib <= 0:
        return compression.PAYLOAD_LIMIT
    return min(max(installed_kib << 12, 16 << 20), compression.PAYLOAD_LIMIT)


def load_deb(path: Path, package: str) -> LoadedDeb:
    """Read a .deb and decompress its data.tar in memory, touching no root; UnpackError when
    it inflates past payload_limit of its Installed-Size.

    Why: decompression is most of the CPU an unpack costs, and Python's lzma, zlib, bz2 and
    zstandard release the GIL, so the packages after the one being written can be loaded in
    threads on the other cores. Raises UnpackError like extract_deb.
    """
    def read(outer: ArchiveRead, name: str) -> tuple[str, bytes]:
        return name, b"".join(block for _, block in data_blocks(outer._pointer))

    control, (member, raw) = _read_deb(Path(path), package, read)
    limit = payload_limit(_installed_kib(control.get("control", b"")))
    return LoadedDeb(Path(path).name, control, member, _decompress(raw, member, package, limit))


def _installed_kib(control: bytes) -> int:
    match = _INSTALLED_SIZE.search(control)
    return int(match[1]) if match else 0


def _read_deb(path: Path, package: str,
              on_data: Callable[[ArchiveRead, str], T]) -> tuple[dict[str, bytes], T]:
    """Walk a .deb's ar members: control.tar* read into memory, `on_data(outer, name)` for
    data.tar* (streamed extraction, or a copy into memory)."""
    control: dict[str, bytes] | None = None
    data: tuple[T] | None = None
    with open_archive(path, package, fmt="ar") as outer:
        try:
            for member in outer:
                name = member.pathname.rstrip("/")
                if name.startswith("control.tar"):
                    with nested(outer, package, name) as inner:
                        control = read_members(inner)
                elif name.startswith("data.tar"):
                    data = (on_data(outer, name),)
        except ArchiveError as err:
            raise UnpackError(f"package {package}: cannot read {path.name}: {err.msg}",
                              hint=_CORRUPT) from None
    if control is None or data is None:
        missing = "control.tar" if control is None else "data.tar"
        raise UnpackError(f"package {package}: {path.name} has no {missing} member",
                          hint="the file is not a Debian package or is truncated")
    return control, data[0]


def _decompress(raw: bytes, member: str, package: str, limit: int) -> bytes:
    """data.tar.{xz,gz,bz2,zst,lzma} or plain data.tar, decompressed."""
    if member != "data.tar" and not compression.is_compressed(member):
        raise UnpackError(f"package {package}: unknown compression of {member}")
    try:
        return compression.decompress(raw, member, limit)
    except compression.TooLarge as err:
        raise UnpackError(f"package {package}: its {member} {err}",
                          hint="the package is far larger than its index says; it is corrupt or hostile") from None
    except ValueError as err:
        raise UnpackError(f"package {package}: cannot read its {member}: {err}",
                          hint=_CORRUPT) from None
