"""How the command line asks the C allocator to give memory back (glibc only; elsewhere a
no-op).

Why: a build decompresses payloads of several MiB on worker threads. glibc serves such blocks
from per-thread arenas once its dynamic mmap threshold has risen past them (it rises to the
size of the largest block freed, up to 32 MiB), and memory freed in an arena mostly stays with
the process: a minbase build held ~100 MiB more than Python itself used after the unpack
phase. A fixed threshold of 256 KiB has every large block mapped and unmapped on its own,
and two arenas bound what the threads keep. Only the CLI calls this: it is process-wide.
"""
from __future__ import annotations

import ctypes
import ctypes.util

_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


def return_freed_memory() -> None:
    """Set glibc's mmap threshold and arena count (see the module docstring)."""
    name = ctypes.util.find_library("c")
    if not name:
        return
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return  # not glibc (musl has no mallopt): nothing to tune
    mallopt(_M_MMAP_THRESHOLD, 256 << 10)
    mallopt(_M_ARENA_MAX, 2)
