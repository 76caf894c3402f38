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
unpacked, with the checksum each owner recorded for its files in protected directories;
placement.py gives the unpacker's hooks for one package (the rule above as `skip`, apk's
protected-path rule as `divert`).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from bootstrap.adapters.apk.db import parse_installed
from bootstrap.adapters.apk.protected import ProtectedPaths
from bootstrap.errors import UnpackError
from bootstrap.root import Root

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
    """Root-relative path → the package that owns it and the checksum (`Q1...`) that package
    recorded for it ("" where none was recorded or none is needed: only files in protected
    directories are ever compared), for one build. `protected` is the root's protected-path
    rules (`protected_in`)."""

    def __init__(self) -> None:
        self._by_path: dict[str, tuple[Owner, str]] = {}
        self.protected: ProtectedPaths | None = None

    def record_installed(self, text: str) -> None:
        """Every file an existing lib/apk/db/installed (a seed's) lists, with its package and
        its `Z:` checksum."""
        for stanza in parse_installed(text):
            pairs = [(line[:1], line[2:]) for line in stanza.header if line[1:2] == ":"]
            owner = Owner.from_pairs(pairs, _DB_KEYS)
            for directory in stanza.dirs:
                for item in directory.files:
                    path = f"{directory.name}/{item.name}" if directory.name else item.name
                    z = next((line[2:] for line in item.lines if line.startswith("Z:")), "")
                    self._by_path[path] = (owner, z)

    def record(self, owner: Owner, files: Iterable[tuple[str, str]]) -> None:
        """The (path, checksum) files `owner` just claimed are now its own."""
        for path, checksum in files:
            self._by_path[path.strip("/")] = (owner, checksum)

    def owner(self, rel: str) -> Owner | None:
        found = self._by_path.get(rel)
        return found[0] if found else None

    def checksum(self, rel: str) -> str | None:
        """The checksum the owner of `rel` recorded ("" for none); None when no one owns it."""
        found = self._by_path.get(rel)
        return found[1] if found else None

    def skipper(self, new: Owner) -> Callable[[str, str], bool]:
        """The unpacker's `skip` for `new`: True for a file an earlier owner keeps; raises
        UnpackError for a conflict, before anything is written there. Directories are no
        one's in this sense (apk shares them; the unpacker judges one over a file)."""
        def skip(rel: str, kind: str) -> bool:
            old = self.owner(rel)
            if old is None or kind == "dir":
                return False
            verdict = takes_over(old, new)
            if verdict is None:
                raise UnpackError(f"package {new.label}: trying to overwrite {rel} owned by {old.label}",
                                  hint="apk refuses this too: the packages conflict (a `replaces` "
                                       "in either one would settle it)")
            return not verdict
        return skip

    def protected_in(self, root: Root) -> ProtectedPaths:
        """The root's protected-path rules, read the first time they are asked for (as apk
        reads them when it opens its database, before it installs anything) and kept."""
        if self.protected is None:
            self.protected = ProtectedPaths.from_root(root)
        return self.protected
