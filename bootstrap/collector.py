"""Python's cyclic garbage collector paused over a block, for the phases that make objects by
the million and no garbage cycles: reading a 60,000-package index, resolving over it.

Why: the collector runs every 700 allocations and each of its passes walks the objects made
since; over a full index it spent more time scanning them than making them took (0.5 s of
0.65 s for bookworm's main from the parsed-index cache; 1 s of a 1.4 s resolve). Acyclic
garbage is still freed at once by reference counting.

Contract: `paused()` disables the collector inside the block and restores its previous state
after it, whatever happens; blocks nest.
"""
from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """No cyclic collection inside the block (module docstring)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
