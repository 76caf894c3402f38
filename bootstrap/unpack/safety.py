"""Where an archive entry may land: path normalisation and symlink resolution confined to a root.

The unpacker's promise is that nothing it writes ends up outside the root. Three rules keep it:
1. An entry name must be relative and free of `..` (`normalize`), so the archive cannot name
   a place outside on its own.
2. Parent directories are walked one component at a time (bootstrap.root's `Confined`). Symlinks
   that were already in the root (merged-/usr links the tool made, earlier packages, a
   minirootfs) are followed, but as if the root were `/`: an absolute target restarts at the
   root and `..` stops at it. A symlink placed by the archive being extracted is never followed:
   that is the classic "symlink, then a file through it" escape, and no real package needs it.
3. The final component is never written through: callers replace an existing symlink there.
No libarchive here: this module only reasons about names.
"""
from __future__ import annotations

from bootstrap.errors import UnsafePathError


def outside(package: str, entry: str) -> UnsafePathError:
    """The one error users see for every escape attempt."""
    return UnsafePathError(f"package {package}: entry {entry!r} would be written outside the root",
                           hint="the package is corrupt or malicious; nothing outside the root "
                                "was touched")


def normalize(name: str, package: str) -> str:
    """An archive member name as a root-relative path (`usr/bin/sh`; the root itself is `.`).

    Accepts `./usr/bin`, `usr/bin` and trailing slashes; refuses absolute names and any `..`
    component with UnsafePathError naming the package and the entry.
    """
    if name.startswith("/"):
        raise outside(package, name)
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise outside(package, name)
    return "/".join(parts) or "."
