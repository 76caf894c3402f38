"""Progress on a terminal: the command line's side of the library's `Progress` meters.

The library says what is going on (a label, a total, units done); this module decides how it
looks: a tqdm bar on standard error when that is a terminal, nothing otherwise (a cron job's
log file wants the reporter's start and done lines, not redraws).
"""
from __future__ import annotations

import sys
from typing import TextIO

from tqdm import tqdm

from bootstrap.types import Meter, Progress


class _Bar:
    """A Meter drawn by tqdm."""

    def __init__(self, label: str, total: int | None, unit: str, stream: TextIO) -> None:
        scaled = unit == "B"
        self._bar = tqdm(total=total, unit=unit, unit_scale=scaled, unit_divisor=1024 if scaled else 1000,
                         desc=label, file=stream)

    def advance(self, amount: int) -> None:
        self._bar.update(amount)

    def note(self, text: str) -> None:
        self._bar.set_postfix_str(text)

    def close(self) -> None:
        self._bar.close()


def terminal_progress(stream: TextIO | None = None) -> Progress | None:
    """Bars on `stream` (standard error by default) when it is a terminal, else None."""
    out = stream if stream is not None else sys.stderr
    if not out.isatty():
        return None

    def start(label: str, total: int | None, unit: str) -> Meter:
        return _Bar(label, total, unit, out)

    return start
