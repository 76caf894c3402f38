"""Extracting payloads safely into the root, with the manifest of every entry written.

`Unpacker` writes any archive libarchive reads (the families' payload readers hand it their
data stream); `safety` is the confinement, `write` the writing of one entry, `ffi` the few
libarchive calls libarchive-c does not wrap, which the packer needs too.
"""
from bootstrap.unpack.archive import (
    Declare,
    Declared,
    Divert,
    IdMap,
    Skip,
    Unpacker,
    nested,
    open_archive,
    read_archive_members,
    read_members,
)
from bootstrap.unpack.ffi import add_xattr, data_blocks, set_hardlink, set_symlink
from bootstrap.unpack.safety import normalize

__all__ = ["Declare", "Declared", "Divert", "IdMap", "Skip", "Unpacker", "add_xattr", "data_blocks", "nested",
           "normalize", "open_archive", "read_archive_members", "read_members", "set_hardlink", "set_symlink"]
