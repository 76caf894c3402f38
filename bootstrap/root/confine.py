"""The confined walk: root-relative paths resolved on disk as if the root were `/`.

Symlinks already in the tree are followed, but an absolute target restarts at the root and
`..` stops at it, so a walk never leaves the root; a symlink in `placed` (put there by the
archive being extracted) is never walked through: that is the classic "symlink, then a file
through it" escape, and no real package needs it. The unpacker and the root handle share it.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

from bootstrap.errors import UnpackError, UnsafePathError

# Linux gives up after 40 symlink hops (ELOOP); so do we, so a loop cannot hang the build.
MAX_HOPS = 40


class MissingParent(UnpackError):
    """A directory on the way to an entry does not exist (and was not to be created)."""


class NotADirectory(UnpackError):
    """A component on the way to an entry is a file, not a directory."""


class Confined:
    """Resolves root-relative directory paths on disk without ever leaving `root`.

    `placed` holds the on-disk root-relative paths of the symlinks the current archive created;
    walking through one of them raises UnsafePathError.
    """

    def __init__(self, root: Path, package: str, placed: set[str], *, who: str = "") -> None:
        self.root = root
        self.package = package
        self.placed = placed
        # Who is writing, for messages: the package being unpacked, or the tool's own writer.
        self.who = who or f"package {package}"
        # Why a string: this runs for every component of every entry, and pathlib's joins
        # cost a quarter of an unpack's CPU.
        self._root = os.fspath(root)
        # Resolved directories by their archive path: most entries share a parent with the
        # one before, and re-walking it costs an lstat per component. Sound only while no
        # directory or symlink on disk is removed or replaced: the writer calls forget() then.
        self._dirs: dict[str, list[str]] = {}

    def forget(self) -> None:
        """Drop every remembered resolution (something on disk was removed or replaced)."""
        self._dirs.clear()

    def resolve_dir(self, parts: list[str], entry: str, *, create: bool = True) -> list[str]:
        """The real root-relative components of the directory `parts`, after following
        pre-existing symlinks confined to the root. Missing directories are created (mode
        0755, as tar and dpkg do for parents an archive does not list) unless `create` is
        False, in which case UnpackError says what is missing."""
        key = "/".join(parts)
        known = self._dirs.get(key)
        if known is not None:
            return list(known)
        # Walk on from the longest remembered prefix: what `a/b` resolves to does not depend
        # on what follows it.
        start: list[str] = []
        for cut in range(len(parts) - 1, 0, -1):
            found = self._dirs.get("/".join(parts[:cut]))
            if found is not None:
                start, parts = found, parts[cut:]
                break
        cur = self._walk(parts, entry, create, start)
        self._dirs[key] = list(cur)
        return cur

    def _walk(self, parts: list[str], entry: str, create: bool, start: list[str]) -> list[str]:
        todo = list(reversed(parts))
        cur = list(start)
        here = "/".join([self._root, *cur])  # the disk path of `cur`
        hops = 0
        while todo:
            comp = todo.pop()
            if comp in ("", "."):
                continue
            if comp == "..":  # only symlink targets bring these; they stop at the root
                if cur:
                    cur.pop()
                    here = "/".join([self._root, *cur])
                continue
            path = f"{here}/{comp}"
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                if not create:
                    raise MissingParent(f"{self.who}: entry {entry!r} needs "
                                      f"'{'/'.join(cur + [comp])}', which does not exist") from None
                os.mkdir(path, 0o755)
                cur.append(comp)
                here = path
                continue
            if stat.S_ISLNK(st.st_mode):
                hops += 1
                self._check_link("/".join(cur + [comp]), entry, hops)
                target = os.readlink(path)
                if target.startswith("/"):
                    cur, here = [], self._root
                todo.extend(reversed(target.split("/")))
                continue
            if not stat.S_ISDIR(st.st_mode):
                raise NotADirectory(f"{self.who}: entry {entry!r} needs "
                                  f"'{'/'.join(cur + [comp])}' to be a directory, but it is a file",
                                  hint="two packages disagree about this path")
            cur.append(comp)
            here = path
        return cur

    def _check_link(self, rel: str, entry: str, hops: int) -> None:
        if rel in self.placed:
            raise UnsafePathError(
                f"{self.who}: entry {entry!r} would be written through the "
                f"symlink '{rel}' that the same package placed, possibly outside the root",
                hint="the package is corrupt or malicious; nothing outside the root was touched")
        if hops > MAX_HOPS:
            raise UnpackError(f"{self.who}: entry {entry!r}: too many levels of "
                              f"symbolic links at '{rel}'")

    def locate(self, rel: str, entry: str, *, create: bool = True) -> tuple[str, str]:
        """(absolute disk path, disk-relative path) of root-relative `rel`, whose parent is
        resolved by `resolve_dir`; the final component itself is not followed. Strings, not
        Paths: this runs once per entry (see `_root`)."""
        parts = rel.split("/")
        parent = self.resolve_dir(parts[:-1], entry, create=create)
        disk = "/".join(parent + [parts[-1]])
        return f"{self._root}/{disk}", disk
