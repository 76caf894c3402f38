"""Checks every family's index parser applies to what a repository says, before it is used.

An index can carry a valid signature and still say hostile things: a name that becomes a path
(`../../etc/passwd`, a newline that splits a database line), a size of 10^18 bytes. Pure.

- `checked_name(value, field, where)`: a package name, as a path component, is refused when it
  is empty, holds `/`, `..`, NUL, a newline or any other control character.
- `checked_word(value, field, where)`: a version or architecture used in file names is refused
  when it holds `/` or a control character or is `.` or `..` (empty is the caller's decision).
- `checked_size(value, field, where)`: a size an index states for a package (download or
  installed) is refused past MAX_PACKAGE_SIZE.
- `clip(value)`: the bounded repr of index text for an error message.
All refusals are RepositoryIndexError naming the repository (`where`) and the value (clipped).
"""
from __future__ import annotations

import re

from bootstrap.errors import RepositoryIndexError

MAX_PACKAGE_SIZE = 64 << 30
"""The largest download or installed size a package may claim: 64 GiB (the largest real ones
are a few GiB)."""

CLIP = 80
_CONTROL = re.compile(r"[\x00-\x1f\x7f/]")
_HINT = "the repository's index is corrupt or hostile; use another mirror"


def clip(value: object, length: int = CLIP) -> str:
    """repr(value), cut to about `length` characters (a message must stay one short line)."""
    text = repr(value)
    return text if len(text) <= length else text[:length] + "…"


def checked_name(value: str, field: str, where: str) -> str:
    """`value` if it is a usable package name (see the module docstring)."""
    if not value or _CONTROL.search(value) or ".." in value:
        raise RepositoryIndexError(f"{where}: refusing package {field} {clip(value)}", hint=_HINT)
    return value


def checked_word(value: str, field: str, where: str) -> str:
    """`value` if it can be part of a file name (a version, an architecture)."""
    if _CONTROL.search(value) or value in (".", ".."):
        raise RepositoryIndexError(f"{where}: refusing {field} {clip(value)}", hint=_HINT)
    return value


def checked_size(value: int, field: str, where: str) -> int:
    """`value` if it is a plausible package size in bytes."""
    if value > MAX_PACKAGE_SIZE:
        raise RepositoryIndexError(f"{where}: {field} claims {value} bytes; refusing "
                                   f"(more than {MAX_PACKAGE_SIZE >> 30} GiB)", hint=_HINT)
    return value
