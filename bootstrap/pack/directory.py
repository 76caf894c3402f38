"""Directory output: the root's tree, with owners, modes, links, devices and xattrs, at the
output path.

The build root normally lives beside the output (the pipeline puts it there), so this is one
rename. Across filesystems the tree is copied with `cp -a` (which keeps hard links, devices,
owners, times and xattrs) into a temporary name and renamed, so a failed copy leaves nothing
at the output path. Ownership on disk is what the build could make: an unprivileged build
keeps the builder's uid (the manifest's owners only reach tar and OCI outputs).

Device nodes are never made in the build root (a 0666 block device there would be raw disk
access for any local user while the build runs). A directory output gets them only when asked
(`--devices`, root only), once the tree is in place, through the root handle, as mmdebstrap's
directory format makes them only when it can and is told to.
"""
from __future__ import annotations

import errno
import os
import stat
import subprocess
from collections.abc import Iterable
from pathlib import Path

from bootstrap.errors import PackError
from bootstrap.pack.output import atomic_dir, check_target
from bootstrap.root import Root
from bootstrap.types import FileEntry

_KINDS = {"char": stat.S_IFCHR, "block": stat.S_IFBLK}


def write_directory(root: Path, final: Path) -> Path:
    """Move or copy `root`'s tree to `final` (missing or an empty directory); returns `final`.
    After a rename `root` no longer exists."""
    check_target(final, directory=True)
    try:
        os.rename(root, final)
        return final
    except OSError as err:
        if err.errno != errno.EXDEV:
            raise
    with atomic_dir(final) as tmp:
        # "root/." copies the contents and gives tmp the root directory's own attributes.
        done = subprocess.run(["cp", "-a", "--", f"{root}/.", str(tmp)],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["cp failed"])[-1]
            if "No space left" in last:
                raise OSError(errno.ENOSPC, last)
            raise PackError(f"cannot copy the root to {final}: {last}")
    return final


def device_nodes(entries: Iterable[FileEntry]) -> list[FileEntry]:
    """The char and block devices among manifest entries, in path order, the last entry of a
    path winning (as a later package's file replaces an earlier one's)."""
    found = {e.path: e for e in entries}
    return [found[path] for path in sorted(found) if found[path].type in _KINDS]


def make_devices(tree: Path, nodes: Iterable[FileEntry]) -> int:
    """Create `nodes` in the finished directory `tree` with their modes and owners; what
    already stands at a node's path is left (a package may ship a symlink or file there).
    Returns how many were made. Needs CAP_MKNOD (root)."""
    root, made = Root(tree), 0
    for node in nodes:
        if root.lexists(node.path):
            continue
        try:
            root.mknod(node.path, _KINDS[node.type] | (node.mode & 0o7777),
                       os.makedev(node.devmajor, node.devminor))
            root.chown(node.path, node.uid, node.gid)
            root.chmod(node.path, node.mode & 0o7777)  # chown clears setuid/setgid bits
        except PermissionError as err:
            raise PackError(f"cannot create device node /{node.path}: {err.strerror}",
                            hint="--devices needs root (CAP_MKNOD)") from None
        made += 1
    return made
