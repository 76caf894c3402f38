"""Progress on a terminal: the command line's side of the library's `Progress` meters.

The library says what is going on (a label, a total, units done); this module decides how it
looks: a tqdm bar on standard error when that is a terminal, nothing otherwise (a cron job's
log file wants the reporter's start and done lines, not redraws).

Bars, by the unit the library gives (bootstrap.report's phase contract):
- "B": bytes in MiB (binary, the unit of every line too), rate in MiB/s, ETA;
- "": time only, for a phase that cannot count its work: the elapsed time, redrawn every
  second by a thread of its own (tqdm redraws only on an update), left off the screen when done;
- any other word: items of that name (`3/88 packages`), rate and ETA.
Lines printed while bars are up go through `TerminalProgress.write`, above the bars, which
are drawn again below them.
"""
from __future__ import annotations

import sys
import threading
from typing import Any, TextIO

from tqdm import tqdm

from bootstrap.types import Meter

MIB = 1 << 20
_REDRAW = 1.0  # seconds between redraws of a time-only bar
_FORMATS = {
    "B": "{desc}: {percentage:3.0f}%|{bar}| {done}/{whole} MiB [{elapsed}<{remaining}, {speed}{postfix}]",
    "B?": "{desc}: {done} MiB [{elapsed}, {speed}{postfix}]",
    "": "{desc}: [{elapsed}{postfix}]",
    "item": "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} {unit} [{elapsed}<{remaining}, {speed}{postfix}]",
    "item?": "{desc}: {n_fmt} {unit} [{elapsed}, {speed}{postfix}]",
}


class _MiBBar(tqdm):
    """tqdm with the fields our formats use: sizes in MiB (tqdm's own scaling says `MB` for
    MiB and switches to kB and GB), the rate in the bar's unit."""

    @property
    def format_dict(self) -> dict[str, Any]:
        fields: dict[str, Any] = super().format_dict
        n, total, elapsed = fields["n"], fields["total"], fields["elapsed"]
        rate = fields["rate"] or (n / elapsed if elapsed else None)
        if self.unit == "B":
            fields["done"] = f"{n / MIB:.1f}"
            fields["whole"] = f"{total / MIB:.1f}" if total else "?"
            fields["speed"] = f"{rate / MIB:.1f} MiB/s" if rate else "? MiB/s"
        else:
            fields["done"] = fields["whole"] = ""
            fields["speed"] = f"{rate:.1f} {self.unit}/s" if rate else f"? {self.unit}/s"
        return fields


class _Bar:
    """A Meter drawn by tqdm (the module docstring says how each unit looks)."""

    def __init__(self, label: str, total: int | None, unit: str, stream: TextIO) -> None:
        total = total or None  # nothing to measure against: counted, not a share
        kind = unit if unit in ("B", "") else "item"
        if total is None and unit:
            kind += "?"
        self._bar = _MiBBar(total=total, unit=unit, desc=label, file=stream, bar_format=_FORMATS[kind],
                            leave=bool(unit))
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        if not unit:
            self._ticker = threading.Thread(target=self._redraw, name=f"bar {label}", daemon=True)
            self._ticker.start()

    def _redraw(self) -> None:
        while not self._stop.wait(_REDRAW):
            self._bar.refresh()

    def advance(self, amount: int) -> None:
        self._bar.update(amount)

    def note(self, text: str) -> None:
        self._bar.set_postfix_str(text)

    def close(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        self._bar.close()


class TerminalProgress:
    """The library's `Progress` (called as one: `(label, total, unit) -> Meter`) drawing tqdm
    bars on `stream`, and the way to print a line without breaking them (`write`)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def __call__(self, label: str, total: int | None, unit: str) -> Meter:
        return _Bar(label, total, unit, self.stream)

    def write(self, line: str) -> None:
        """`line` above the bars on the screen (tqdm clears them, prints, draws them again)."""
        tqdm.write(line, file=self.stream)


def terminal_progress(stream: TextIO | None = None) -> TerminalProgress | None:
    """Bars on `stream` (standard error by default) when it is a terminal, else None."""
    out = stream if stream is not None else sys.stderr
    if not out.isatty():
        return None
    return TerminalProgress(out)
