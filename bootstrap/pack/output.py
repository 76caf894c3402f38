"""Outputs appear whole or not at all: written under `.NAME.tmp-XXXX` beside the target and
renamed at the end; any failure (Ctrl-C included) removes the temporary name.

An output that already exists and is neither a regular file nor a directory (`/dev/null`,
`/dev/full`, a FIFO, a tape: anything `os.stat` calls special, a symlink to one included) is
written in place, streamed into it: renaming over it would put a regular file where the
device or pipe was. Such a write cannot be atomic; a full device is "no space left"."""
from __future__ import annotations

import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from bootstrap.errors import PackError


def umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_target(final: Path, *, directory: bool = False) -> None:
    """Refuse targets we cannot or must not replace, before any work is done."""
    if not final.parent.is_dir():
        raise PackError(f"cannot write {final}: directory {final.parent} does not exist",
                        hint="create it first or choose another output path")
    if final.is_dir() and not directory:
        raise PackError(f"cannot write {final}: it is a directory",
                        hint="give a file name such as rootfs.tar.gz, or --format dir")
    if directory and final.exists() and (not final.is_dir() or any(final.iterdir())):
        raise PackError(f"cannot write {final}: it exists and is not an empty directory",
                        hint="remove it or choose another output path")


@contextmanager
def atomic_file(final: Path) -> Iterator[BinaryIO]:
    """A buffered file to write; renamed to `final` when the block ends without error
    (streamed into `final` itself when it is a device or a FIFO, see the module docstring)."""
    check_target(final)
    if is_special(final):
        # Opening a FIFO waits for its reader, as a shell redirection does.
        with open(os.open(final, os.O_WRONLY | os.O_CLOEXEC), "wb", buffering=1 << 20) as out:
            yield out
            out.flush()
        return
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.tmp-", dir=final.parent)
    try:
        with open(fd, "wb", buffering=1 << 20) as out:
            yield out
            out.flush()
            os.fchmod(out.fileno(), 0o666 & ~umask())
        os.replace(tmp, final)
    except BaseException:
        with _quiet():
            os.unlink(tmp)
        raise


def is_special(final: Path) -> bool:
    """Whether `final` exists and is neither a regular file nor a directory (followed)."""
    try:
        mode = os.stat(final).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


@contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """A fresh directory (mode 0700) to fill; renamed to `final` when the block ends without
    error. `final` may be missing or an empty directory."""
    check_target(final, directory=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        yield tmp
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextmanager
def _quiet() -> Iterator[None]:
    try:
        yield
    except OSError:
        pass


def as_pack_error(err: OSError, output: str) -> PackError:
    """The user's view of a write failure."""
    if err.errno == errno.ENOSPC:
        return PackError(f"no space left writing {output}",
                         hint="free some space or write the output to another filesystem")
    return PackError(f"cannot write {output}: {err.strerror or err}",
                     hint="check the path and its permissions")
