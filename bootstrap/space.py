"""Enough room, checked before the download: the build root (in TMPDIR, or beside a directory
output) and the output, estimated from the payload sizes the indexes give.

Contract of `check_space(packages, output, fmt, root_at, in_tmpdir)`: raises NoSpaceError (naming TMPDIR
when the root goes there) or PackError (naming the output's file system) when the free space
is below the estimate; says nothing otherwise. The estimate is deliberately low, so that a
build this refuses could never have fit (a disk that fills later still ends the build with
one clear line, as before): the unpacked root is taken as the payloads themselves (they are
compressed two to four times), an uncompressed output (tar, docker archive) likewise, a
compressed one (gzip, xz, zstd, bzip2, OCI's gzip layers) as half of them.
Installed sizes are not used: each family counts them in its own unit, and some leave them
out. A file system whose free space cannot be read (statvfs fails) is not checked.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from bootstrap.errors import NoSpaceError, PackError
from bootstrap.types import Package

MIB = 1 << 20
ROOT_FACTOR = 1  # the unpacked root against its compressed payloads, at least
COMPRESSED = (".gz", ".tgz", ".xz", ".txz", ".zst", ".tzst", ".bz2", ".tbz2")


def _free(path: Path) -> int | None:
    """Bytes free to an unprivileged writer at `path`'s file system (None if unknown)."""
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def _device(path: Path) -> int | None:
    try:
        return os.stat(path).st_dev
    except OSError:
        return None


def check_space(packages: Sequence[Package], output: str, fmt: str, root_at: Path, in_tmpdir: bool) -> None:
    """See the module docstring. `root_at` is the build root (its file system is checked),
    `in_tmpdir` whether it is in TMPDIR (rather than beside a directory output)."""
    payloads = sum(p.size for p in packages)
    root_need = payloads * ROOT_FACTOR
    free = _free(root_at)
    if free is not None and free < root_need:
        home = root_at.parents[1]  # the root is <TMPDIR>/.rootfs-bootstrap.XXXX/root
        where = f"{home} (TMPDIR)" if in_tmpdir else f"{home}"
        raise NoSpaceError(f"not enough space for the build root in {where}: about {root_need / MIB:.0f} MiB "
                           f"needed, {free / MIB:.0f} MiB free",
                           hint="free space there" + (", or set TMPDIR to a larger file system" if in_tmpdir else ""))
    if output == "-" or fmt == "dir" or not output:
        return  # a directory output is the root itself, renamed; a stream needs no room here
    target = Path(output).resolve().parent
    squeezed = fmt == "oci" or output.endswith(COMPRESSED)
    out_need = payloads // 2 if squeezed else payloads
    out_free = _free(target)
    if out_free is None:
        return
    if _device(target) == _device(root_at):
        out_free -= root_need  # both on one file system: the root is there while the output is written
    if out_free < out_need:
        raise PackError(f"not enough space for {output}: about {out_need / MIB:.0f} MiB needed, "
                        f"{max(out_free, 0) / MIB:.0f} MiB free on {target}",
                        hint="free space there, or write the output to another file system")
