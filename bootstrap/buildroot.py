"""The temporary build root: made private, held by a lock for the build's life, always
removed (never while something is mounted in it), and a killed build's leftovers found and
removed by the next build."""
from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bootstrap.errors import BootstrapError
from bootstrap.root import Root
from bootstrap.types import Log

ROOT_PREFIX = ".rootfs-bootstrap."
_OWNER = "owner"  # in the holder: the pid of the build, written once its flock is held


@contextmanager
def build_root(parent: Path | None, log: Log | None = None) -> Iterator[Root]:
    """A fresh directory for the root, removed at the end whatever happens.

    The root is `root/` (mode 0755, what the image's / gets) inside a locked holder of mode
    0700, so no other user of the host reaches the tree (its setuid files, its /etc/shadow)
    while it is built, and commands in the root still traverse their / as any system's.
    Leftovers of killed builds in the same place are removed first. For directory output it
    lives beside the output (`parent`) so the packer can rename it into place; else in TMPDIR.
    """
    where = Path(parent or tempfile.gettempdir())
    remove_stale_roots(where, log)
    holder, lock = _locked_holder(where)
    try:
        (holder / _OWNER).write_text(f"{os.getpid()}\n")  # written under the lock
        root = holder / "root"
        root.mkdir()
        os.chmod(root, 0o755)
        yield Root(root)
    finally:
        from bootstrap.sandbox import signals_held

        # A signal arriving while the tree is removed must not cut the removal short (a
        # half-removed root would stay behind): it is delivered once the root is gone.
        with signals_held():
            try:
                _remove_root(holder)
            finally:
                os.close(lock)


def _locked_holder(where: Path) -> tuple[Path, int]:
    """A new `.rootfs-bootstrap.XXXX` (0700) in `where`, with an open descriptor holding its
    flock. (A sweep skips a directory with no `owner` file yet; should one take it all the
    same, it is gone when the lock is ours, and another one is made.)"""
    while True:
        holder = Path(tempfile.mkdtemp(prefix=ROOT_PREFIX, dir=where))
        fd = os.open(holder, os.O_RDONLY | os.O_DIRECTORY)
        fcntl.flock(fd, fcntl.LOCK_EX)
        if _same_dir(holder, fd):
            return holder, fd
        os.close(fd)


def _same_dir(path: Path, fd: int) -> bool:
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


def remove_stale_roots(where: Path, log: Log | None = None) -> list[Path]:
    """Remove the `.rootfs-bootstrap.*` directories in `where` that no running build holds
    (they have an `owner` file, written under the build's flock, and the flock is free: the
    build that made them was killed), after detaching what is still mounted under them,
    deepest first. Returns what was removed; leaves what it cannot."""
    removed: list[Path] = []
    try:
        candidates = sorted(where.glob(ROOT_PREFIX + "*"))
    except OSError:
        return removed
    for path in candidates:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:
            continue  # not a directory (or a link): not ours
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # a live build holds it
            st = os.fstat(fd)
            if not _same_dir(path, fd) or (os.geteuid() != 0 and st.st_uid != os.geteuid()):
                continue
            if not os.path.isfile(os.path.join(path, _OWNER)):
                # Not (yet) a locked build's: one being set up, or made by a version of this
                # tool that takes no lock and may still be running. Never ours to judge.
                continue
            if log is not None:
                log(f"removing {path}, left by a build that was killed")
            try:
                _remove_root(path, log)
            except (BootstrapError, OSError) as exc:
                if log is not None:
                    log(f"cannot remove {path}: {exc}")
                continue
            removed.append(path)
        finally:
            os.close(fd)
    return removed


def _remove_root(root: Path, log: Log | None = None) -> None:
    """Delete the build root, never while something is mounted inside it (that would delete
    the host's /dev or /proc contents through the mount): whatever is still mounted there is
    detached first (lazily, deepest first), and the root is left in place if that fails."""
    from bootstrap.sandbox import release_mounts_under

    if not root.exists():
        return
    busy = release_mounts_under(root, log)
    if busy:
        raise BootstrapError(f"{busy[0]} is still mounted; left {root} in place",
                             hint="unmount it by hand, then remove the directory")
    shutil.rmtree(root, ignore_errors=True)
