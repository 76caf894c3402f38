"""Reading an .rpm's payload: lead, signature header and main header, then a cpio archive in
any compression (libarchive's rpm reader strips the headers and hands over the cpio).

Owners in the cpio are what the packager's build machine had (usually root); the adapter
replaces them from the header's FILEUSERNAME/FILEGROUPNAME afterwards.
"""
from __future__ import annotations

from pathlib import Path

from bootstrap.types import FileEntry
from bootstrap.unpack import IdMap, Unpacker


def extract_rpm(unpacker: Unpacker, path: Path, package: str, *,
                ids: IdMap | None = None) -> list[FileEntry]:
    """Extract the cpio payload of the .rpm at `path` into the unpacker's root."""
    return unpacker.extract(Path(path), package, ids=ids, fmt="cpio")
