"""Where the library says what it does: phases with their timings, notices, warnings, and the
progress meters of long phases. The command line decides where the lines go and whether
meters show (bootstrap/progress.py); the library only calls these.

Contract of a phase (`with report.phase(NAME, WHAT, total=..., unit=...) as meter`):
- it starts with `I: NAME: started` (`I: NAME: started: WHAT` when WHAT says what it will do)
  when no meters show (not a terminal, or `--quiet`, whose emitter drops the line) and with
  `verbose`; on a terminal the phase's bar stands in for that line;
- with a `unit`, the block gets a meter of `total` units (None: unknown): "B" bytes, "" time
  only (nothing counted), any other word items ("repositories"); without one, or without
  progress, a meter that does nothing, so callers tick it unconditionally;
- the meter is closed when the block ends, however it ends; a block that ends normally
  then says `I: NAME: done in X.Ys` and is added to `timings`.
Sizes in lines are MiB (binary), as in the bars (`mib`).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from bootstrap.types import Meter, NoMeter, Progress

MIB = 1 << 20


def mib(size: int) -> str:
    """`size` bytes in the one unit lines and bars use: `40.1 MiB`."""
    return f"{size / MIB:.1f} MiB"


NO_METER = NoMeter()


class Reporter:
    """Where the pipeline says what it does: phases with timings, notices, warnings."""

    def __init__(self, emit: Callable[[str], None] | None = None, verbose: bool = False,
                 progress: Progress | None = None) -> None:
        self.emit = emit or (lambda line: None)
        self.verbose = verbose
        self.progress = progress  # meters for long phases (the CLI's terminal bars), or None
        self.timings: list[tuple[str, float]] = []

    def info(self, message: str) -> None:
        self.emit(f"I: {message}")

    def debug(self, message: str) -> None:
        if self.verbose:
            self.emit(f"D: {message}")

    @contextmanager
    def meter(self, label: str, total: int | None, unit: str) -> Iterator[Meter]:
        """A meter of `total` `unit`s (see the module docstring) for the block, closed at its
        end; NO_METER without progress."""
        started = self.progress(label, total, unit) if self.progress is not None else NO_METER
        try:
            yield started
        finally:
            started.close()

    @contextmanager
    def phase(self, name: str, what: str = "", *, total: int | None = None,
              unit: str | None = None) -> Iterator[Meter]:
        """Time one phase, say that it starts and how long it took (the module docstring)."""
        start = time.monotonic()
        if self.progress is None or self.verbose:
            self.info(f"{name}: started: {what}" if what else f"{name}: started")
        if unit is None:
            yield NO_METER
        else:
            with self.meter(name, total, unit) as meter:
                yield meter
        elapsed = time.monotonic() - start
        self.timings.append((name, elapsed))
        self.info(f"{name}: done in {elapsed:.1f}s")
