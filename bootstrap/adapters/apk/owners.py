"""Who owns each file of the root being built, and apk's rule for a package that ships a file
another package already owns (apk-tools 2.x: database.c, apk_db_install_archive_entry).

For each file (anything but a directory) of a new package that an installed package owns:
- the same package name (an upgrade), or the same non-empty origin: the new file replaces it;
- otherwise the `replaces` of both decide: when the old owner replaces the new package with a
  higher `replaces_priority` than the reverse, the old file stays and the new one is left out
  (silently, as apk does); when the new package replaces the old owner, it takes the file;
- otherwise it is a conflict, which apk refuses ("trying to overwrite X owned by Y") and so
  does this tool: UnpackError before the file is written.
`replaces` entries are matched by name; a version constraint in them (`name<2`) is not read.

`Owners` is filled from a seeded root's lib/apk/db/installed and from each package as it is
unpacked; `skipper(new)` is the unpacker's `skip` that applies the rule.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from bootstrap.adapters.apk.db import parse_installed
from bootstrap.errors import UnpackError
from bootstrap.types import FileEntry

_CONSTRAINT = re.compile(r"[<>=~]")


@dataclass(frozen=True)
class Owner:
    """A package as the file-ownership rule sees it."""

    name: str
    version: str = ""
    origin: str = ""
    replaces: frozenset[str] = field(default_factory=frozenset)
    priority: int = 0

    @property
    def label(self) -> str:
        return f"{self.name}-{self.version}" if self.version else self.name

    @classmethod
    def from_pairs(cls, pairs: Sequence[tuple[str, str]], keys: dict[str, str]) -> Owner:
        """From (key, value) pairs, `keys` naming which key holds name, version, origin,
        replaces and replaces_priority (.PKGINFO words or installed-database letters)."""
        values: dict[str, list[str]] = {}
        for key, value in pairs:
            values.setdefault(key, []).extend(value.split())

        def get(what: str) -> list[str]:
            return values.get(keys[what], [])

        priority = get("priority")
        return cls(" ".join(get("name")), " ".join(get("version")), " ".join(get("origin")),
                   frozenset(_CONSTRAINT.split(dep, 1)[0] for dep in get("replaces")),
                   int(priority[0]) if priority and priority[0].isdigit() else 0)


PKGINFO_KEYS = {"name": "pkgname", "version": "pkgver", "origin": "origin", "replaces": "replaces",
                "priority": "replaces_priority"}
_DB_KEYS = {"name": "P", "version": "V", "origin": "o", "replaces": "r", "priority": "q"}


def takes_over(old: Owner, new: Owner) -> bool | None:
    """Whether `new` takes a file `old` owns (True), leaves it to `old` (False), or conflicts
    with it (None): apk-tools 2.x's order of checks (see the module docstring)."""
    if old.name == new.name or (old.origin and old.origin == new.origin):
        return True
    old_priority = old.priority if new.name in old.replaces else -1
    new_priority = new.priority if old.name in new.replaces else -1
    if old_priority > new_priority:
        return False
    if new_priority >= 0:
        return True
    return None


class Owners:
    """Root-relative path → the package that owns it, for one build."""

    def __init__(self) -> None:
        self._by_path: dict[str, Owner] = {}

    def record_installed(self, text: str) -> None:
        """Every file an existing lib/apk/db/installed (a seed's) lists, with its package."""
        for stanza in parse_installed(text):
            pairs = [(line[:1], line[2:]) for line in stanza.header if line[1:2] == ":"]
            owner = Owner.from_pairs(pairs, _DB_KEYS)
            for path in stanza.paths():
                self._by_path[path] = owner

    def record(self, owner: Owner, manifest: Iterable[FileEntry]) -> None:
        """The files `owner` just unpacked are now its own."""
        for entry in manifest:
            if entry.type != "dir":
                self._by_path[entry.path.strip("/")] = owner

    def skipper(self, new: Owner) -> Callable[[str, str], bool]:
        """The unpacker's `skip` for `new`: True for a file an earlier owner keeps; raises
        UnpackError for a conflict, before anything is written there. Directories are no
        one's in this sense (apk shares them; the unpacker judges one over a file)."""
        def skip(rel: str, kind: str) -> bool:
            old = self._by_path.get(rel)
            if old is None or kind == "dir":
                return False
            verdict = takes_over(old, new)
            if verdict is None:
                raise UnpackError(f"package {new.label}: trying to overwrite {rel} owned by {old.label}",
                                  hint="apk refuses this too: the packages conflict (a `replaces` "
                                       "in either one would settle it)")
            return not verdict
        return skip
