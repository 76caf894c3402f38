"""Where each file of one apk package goes: the unpacker's hooks for it, with apk-tools 2.x's
two rules for a path where something already stands (database.c).

1. Owned by another package (`skip`, owners.takes_over): the new file replaces it, is left
   out, or the packages conflict (UnpackError).
2. In a protected directory (protected.py; apk_db_migrate_files), as the unpacker's `divert`:
   when something stands at the path and either no package owns it (a file of the seed
   tarball itself: the minirootfs's /etc/os-release, /etc/hostname...), or its owner recorded
   no checksum, or what is on disk is not what its owner recorded (changed since, or the
   owner's own copy went to .apk-new in its turn), the file on disk is kept and the new one
   is written as PATH.apk-new; `settle` then drops that .apk-new when it is the same as the
   file kept, as apk does. Anything else (an unchanged file of its owner, an unprotected
   directory) is replaced.
Either way the new package owns the path afterwards, in the database too, with its own
checksum, owner and mode (`Kept` records them: the manifest says what is on disk, where the
path holds the kept file).

Approximations: apk compares the package's file by the checksum in its tar header
(APK-TOOLS.checksum.SHA1, which abuild and melange always write; libarchive does not hand that
header over), here by the SHA-1 of the content written, the same for any package whose header
is true. Device nodes and fifos are never diverted (none is made on disk: see
bootstrap.unpack.write).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace

from bootstrap.adapters.apk.owners import Owner, Owners
from bootstrap.adapters.apk.protected import checksum_on_disk, same_checksum
from bootstrap.root import Root
from bootstrap.types import FileEntry

SUFFIX = ".apk-new"
_DIVERTED = frozenset({"file", "symlink", "hardlink"})


@dataclass(frozen=True)
class Kept:
    """A file of the new package whose path kept the file already there. `entry` is the
    package's file as the database lists it (its path, owner, mode); `new` where it was
    written (PATH.apk-new), "" when it was dropped as the same; `checksum` its `Q1`; `at` its
    place among the settled manifest's entries (the .apk-new entry's index, or where the
    dropped one would stand)."""

    entry: FileEntry
    new: str
    checksum: str
    at: int


class Placement:
    """The unpacker's `skip` and `divert` for one package, then `settle` after it."""

    def __init__(self, owners: Owners, new: Owner, root: Root) -> None:
        self._owners, self._new, self._root = owners, new, root
        self._protected = owners.protected_in(root)
        self.skip = owners.skipper(new)
        self._diverted: dict[str, str] = {}  # PATH.apk-new → PATH

    def _guarded(self, rel: str) -> bool:
        return self._protected.covers(rel.rpartition("/")[0])

    def divert(self, rel: str, kind: str) -> str | None:
        """PATH.apk-new for an entry whose path keeps what stands there (rule 2), else None."""
        if kind not in _DIVERTED or not self._guarded(rel):
            return None
        disk = checksum_on_disk(self._root, rel)
        if disk is None or same_checksum(self._owners.checksum(rel) or "", disk):
            return None
        self._diverted[rel + SUFFIX] = rel
        return rel + SUFFIX

    def settle(self, manifest: list[FileEntry]) -> tuple[list[FileEntry], list[Kept]]:
        """After the extraction: every .apk-new that is the same as the file kept removed;
        returns the manifest of what is on disk and the kept files. The package then owns
        every path it brought (recorded in the build's Owners, with the checksum compared
        next time)."""
        settled: list[FileEntry] = []
        kept: list[Kept] = []
        claimed: list[tuple[str, str]] = []
        for entry in manifest:
            path = self._diverted.get(entry.path)
            if path is None:
                settled.append(entry)
                if entry.type != "dir":
                    checksum = checksum_on_disk(self._root, entry.path) if self._guarded(entry.path) else ""
                    claimed.append((entry.path, checksum or ""))
                continue
            new, checksum = _keep_or_drop(self._root, entry.path, path)
            kept.append(Kept(replace(entry, path=path), new, checksum, len(settled)))
            if new:
                settled.append(entry)
            claimed.append((path, checksum))
        self._owners.record(self._new, claimed)
        return settled, kept


def _keep_or_drop(root: Root, new: str, kept: str) -> tuple[str, str]:
    """(`new` when it stays, "" when it was removed as the same as `kept`; its checksum)."""
    checksum = checksum_on_disk(root, new) or ""
    if checksum == checksum_on_disk(root, kept):
        root.unlink(new)
        return "", checksum
    return new, checksum


def kept_to_bytes(kept: list[Kept]) -> bytes:
    """`Kept` records as the bytes an Installed.control entry holds (JSON)."""
    rows = [{**asdict(k), "entry": {**asdict(k.entry), "xattrs": []}} for k in kept]
    return json.dumps(rows, sort_keys=True).encode()


def kept_from_bytes(data: bytes) -> list[Kept]:
    """kept_to_bytes read back (xattrs are not kept: the database does not list them)."""
    if not data:
        return []
    found = []
    for row in json.loads(data):
        entry = FileEntry(**{**row["entry"], "xattrs": ()})
        found.append(Kept(entry, row["new"], row["checksum"], row["at"]))
    return found


def database_entries(manifest: list[FileEntry], kept: list[Kept]) -> tuple[list[FileEntry], dict[str, str]]:
    """The entries the installed database lists for a package (its paths, in archive order:
    each .apk-new entry as the path it stands for, each dropped one where it was) and the
    checksums (`Q1`) to list for the kept paths, whose disk holds another file."""
    by_new = {k.new: k for k in kept if k.new}
    dropped: dict[int, list[Kept]] = {}
    for k in kept:
        if not k.new:
            dropped.setdefault(k.at, []).append(k)
    entries: list[FileEntry] = []
    for index, entry in enumerate([*manifest, None]):
        entries += [k.entry for k in dropped.get(index, [])]
        if entry is not None:
            entries.append(by_new[entry.path].entry if entry.path in by_new else entry)
    return entries, {k.entry.path: k.checksum for k in kept}
