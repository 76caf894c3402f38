"""The shared download cache's writes and reads, for bootstrap.fetch.fetcher (layout in
verify.cache_path).

Contracts:
- `cache_entry(path)` gives a temporary file beside `path` (`.part-XXXX`, a name of its own
  per writer, made by mkstemp) and renames it into place (os.replace, atomic) only when the
  block ends without error; on any failure, Ctrl-C included, the temporary file is removed.
  Concurrent builds on one cache therefore never see half a file, and two writers of the
  same entry never share a temporary name (the last rename wins; both hold the same bytes).
- A write that fails because the file system is full (ENOSPC, EDQUOT) is NoSpaceError naming
  the cache; any other write failure is a WorkspaceError saying the cache is not writable.
  Neither is a FetchError: they are no reason to try another mirror. A FetchError raised
  inside the block passes through unchanged.
- `cached_size` re-verifies a cached copy fully (size and digest) before it is reused.
- A download in progress holds an flock on its `.part-` file. `sweep_parts(directory)` removes
  the ones whose lock is free and that are older than a minute: left by a build that was
  killed mid-download (a live writer takes the lock right after making the file, so a sweep
  never removes it).
"""
from __future__ import annotations

import fcntl
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

from bootstrap.errors import NO_SPACE_ERRNOS, FetchError, NoSpaceError, WorkspaceError
from bootstrap.fetch.verify import Expect

PART_PREFIX = ".part-"  # the temporary name of a download in progress


@contextmanager
def cache_entry(path: Path) -> Iterator[BinaryIO]:
    """A file to write `path`'s content into; renamed to `path` when the block succeeds."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=PART_PREFIX, dir=path.parent)
    except OSError as exc:
        raise _write_error(path, exc) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # held until the file is closed: a sweep sees it is live
        with os.fdopen(fd, "w+b") as out:
            yield out
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the cache is shared by runs
        os.replace(tmp, path)
    except OSError as exc:
        raise _write_error(path, exc) from None
    finally:
        with suppress(FileNotFoundError):
            os.unlink(tmp)


def _write_error(path: Path, exc: OSError) -> WorkspaceError:
    """The user's view of a failed cache write."""
    where = path.parent.parent if path.parent.name.startswith("by-") else path.parent
    if exc.errno in NO_SPACE_ERRNOS:
        return NoSpaceError(f"no space left on device writing the download cache {where}",
                            hint="free some space there or pass another --cache-dir")
    return WorkspaceError(f"cannot write to the download cache {where}: {exc.strerror or exc}",
                          hint="pass a writable --cache-dir")


def cached_size(path: Path, expect: Expect, log: Callable[[str], None]) -> int | None:
    """The size of a cached copy that still verifies, or None (absent or corrupt: it will be
    downloaded again, and the good copy renamed over it)."""
    try:
        with open(path, "rb") as cached:
            size = expect.check_stream(cached)
    except FileNotFoundError:
        return None
    except (OSError, FetchError) as exc:
        log(f"fetch: cached {path} is unusable ({exc}); downloading again")
        return None
    log(f"fetch: {expect.url} (cached)")
    return size


def sweep_parts(directory: Path, min_age: float = 60.0) -> int:
    """Remove the partial downloads in `directory` nobody writes any more: `.part-*` files
    older than `min_age` seconds whose flock is free. Returns how many were removed; a file
    that cannot be judged is left alone."""
    try:
        names = [name for name in os.listdir(directory) if name.startswith(PART_PREFIX)]
    except OSError:
        return 0
    removed = 0
    for name in names:
        part = directory / name
        try:
            fd = os.open(part, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            st = os.fstat(fd)
            if time.time() - st.st_mtime < min_age:
                continue  # its writer may not hold the lock yet
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            here = os.stat(part, follow_symlinks=False)
            if (here.st_dev, here.st_ino) == (st.st_dev, st.st_ino):
                os.unlink(part)
                removed += 1
        except OSError:
            continue  # locked (a live download) or gone already
        finally:
            os.close(fd)
    return removed
