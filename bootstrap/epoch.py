"""The build's epoch: the one time every output of a build is dated with (tar mtimes clamped
to it, the OCI `created`, the SBOM's creation time, SOURCE_DATE_EPOCH for maintainer scripts).

Contract of `build_epoch(entries, environ, now)`:
- SOURCE_DATE_EPOCH, when set (and not empty), is the epoch; a value that is not a
  non-negative integer is a UsageError.
- Otherwise it comes from the content: the newest mtime among the packages' own entries (the
  unpack manifests), never later than `now`. The same package set therefore gives the same
  epoch tomorrow, and the same digests. With no entries at all it is 0.
Shared code: names no family.
"""
from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping

from bootstrap.errors import UsageError
from bootstrap.types import FileEntry


def build_epoch(entries: Iterable[FileEntry], environ: Mapping[str, str] | None = None,
                now: float | None = None) -> int:
    """The epoch of a build whose packages unpacked `entries` (module docstring)."""
    given = (os.environ if environ is None else environ).get("SOURCE_DATE_EPOCH", "").strip()
    if given:
        if not given.isdigit():
            raise UsageError(f"SOURCE_DATE_EPOCH={given[:40]!r} is not a number of seconds",
                             hint="set it to an integer such as $(git log -1 --format=%ct)")
        return int(given)
    limit = int(time.time() if now is None else now)
    return min(max((e.mtime for e in entries), default=0), limit)
