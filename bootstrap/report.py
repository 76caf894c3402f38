"""Where the library says what it does: phases with their timings, notices, warnings, and the
progress meters of long phases. The command line decides where the lines go and whether
meters show (bootstrap/progress.py); the library only calls these."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from bootstrap.types import Progress


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
    def phase(self, name: str) -> Iterator[None]:
        """Time one phase and report its duration when it ends."""
        start = time.monotonic()
        self.debug(f"{name}: starting")
        yield
        elapsed = time.monotonic() - start
        self.timings.append((name, elapsed))
        self.info(f"{name}: done in {elapsed:.1f}s")
