"""Holding Ctrl-C, SIGTERM and SIGHUP over a block that must not be cut in the middle.

Two kinds of block need it. One whose interruption would leave state behind: a mount made but
not yet recorded, an unmount loop cut short, the build root half removed. And every call into
C that calls back into Python (libarchive's write callback): a signal handler that raises
inside a ctypes callback is "ignored" by ctypes, so the stop would be lost and the build go
on. Held signals are delivered, and their handlers run, when the block ends.
"""
from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

HELD = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP})


@contextmanager
def signals_held() -> Iterator[None]:
    """Block HELD for the block (in the main thread, where Python runs signal handlers; a
    no-op elsewhere); what arrived meanwhile is delivered when it ends."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, HELD)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
