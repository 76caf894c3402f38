"""Directory output: the root's tree, with owners, modes, links, devices and xattrs, at the
output path.

The build root normally lives beside the output (the pipeline puts it there), so this is one
rename. Across filesystems the tree is copied with `cp -a` (which keeps hard links, devices,
owners, times and xattrs) into a temporary name and renamed, so a failed copy leaves nothing
at the output path. Ownership on disk is what the build could make: an unprivileged build
keeps the builder's uid (the manifest's owners only reach tar and OCI outputs).
"""
from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

from bootstrap.errors import PackError
from bootstrap.pack.output import atomic_dir, check_target


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
