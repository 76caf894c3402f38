"""Holding Ctrl-C, SIGTERM and SIGHUP over a block that must not be cut in the middle.

Two kinds of block need it. One whose interruption would leave state behind: a mount made but
not yet recorded, an unmount loop cut short, the build root half removed. And every call into
C that calls back into Python (libarchive's write callback): a signal handler that raises
inside a ctypes callback is "ignored" by ctypes, so the stop would be lost and the build go
on. Held signals are delivered, and their handlers run, when the block ends.

Holding is wrong where the C call may block for long (a write into a compressor's full pipe):
there the stop handler may raise inside the callback, and code that calls back into Python
checks `raise_if_stopped()` after each call, so a stop that ctypes swallowed still ends the
build at the next safe point.
"""
from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

HELD = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP})
_stops: list[int] = []  # the stop signals received (the CLI's handler notes each)


class Stopped(KeyboardInterrupt):
    """Raised in the main thread by the SIGTERM / SIGHUP handler. A KeyboardInterrupt, so every
    cleanup the library has for Ctrl-C (finally blocks, `except BaseException`, `except
    KeyboardInterrupt`) runs unchanged; the CLI turns it into the signal's exit code."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def note_stop(signum: int) -> None:
    """Record that a stop signal arrived (before its handler raises Stopped)."""
    _stops.append(signum)


_deferring = [0]  # how deep we are in blocks whose stops wait for raise_if_stopped


@contextmanager
def stops_deferred() -> Iterator[None]:
    """A block that calls into C which calls back into Python (libarchive's writer): a stop
    that arrives is only noted (the CLI's handlers ask `deferring()`), never raised inside a
    callback, where ctypes would print it as "Exception ignored" and go on; the block's own
    raise_if_stopped() after each call ends it. Signals are not blocked: the stop is seen
    as soon as the C call returns."""
    _deferring[0] += 1
    try:
        yield
    finally:
        _deferring[0] -= 1


def deferring() -> bool:
    """Whether a stop that arrives now must be noted rather than raised (stops_deferred)."""
    return _deferring[0] > 0


def raise_if_stopped() -> None:
    """Raise Stopped when a stop signal arrived: for code after a C call whose callback the
    handler's exception may have been swallowed in."""
    if _stops:
        raise Stopped(_stops[0])


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
