"""What this cache has already seen of each repository's index, so a mirror cannot roll it back.

Who controls a mirror (or a mirror that stopped syncing) cannot forge a signature, but can go on
serving an old index that carries a valid one: a freeze or replay attack, in TUF's words. The
build then gets old packages, with the security fixes of the newer index missing, and every
signature checks. The defence apt has (it keeps its newer lists), dnf and TUF have (a version
that never goes backwards): remember the newest index seen, and refuse an older one.

Contract:
- `Seen(cache_dir)` keeps the records of one cache; `Seen.of(fetcher)` is that of the fetcher's
  `cache_dir`, or None for a fetcher that has none (a test double): nothing is then checked.
- A record is found by a `key` (any text; the families use the URL of the index: one mirror and
  suite, one repository's baseurl) and holds `Mark`s: a name (`Date`, `revision`), an integer
  that only grows while the index is current, and how to show it.
- `advance(key, marks, what)`: when a mark is lower than the one recorded under the same name,
  StaleIndex is raised naming `what`, the two values and the record's file (removing it is how
  to accept a rollback on purpose); nothing is written then. Otherwise each recorded mark
  becomes the larger of the two and the record is written (it exists, with no marks, when none
  was given). Equal values pass: the same index served again. A mark the index lacks is neither
  compared nor forgotten.
- `recorded(key)`: the record's marks, or None when this cache has no record for `key`. The
  families only record indexes whose signature they verified, so a record means "this
  repository was served signed here before" (yum uses that to see a stripped signature).
- Only what the caller has verified may be recorded: an unverified index could raise the bar
  (a date far ahead) and lock every later build out.
- Files: `<cache>/seen/<sha256 of key>.json`, `{"key": ..., "marks": {name: [value, text]}}`.
  A record is read, compared and replaced (a temporary file in the same directory, renamed over
  it) while holding an flock on `<cache>/seen/.lock`, so concurrent builds on one cache neither
  lose an update nor read half a file. A record that cannot be read as such counts as absent and
  is replaced.
- Wall-clock security: nothing here reads SOURCE_DATE_EPOCH or any clock; the values are the
  index's own.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bootstrap.errors import StaleIndex

_DIR = "seen"


@dataclass(frozen=True)
class Mark:
    """One comparable value of an index: `name` (`Date`), `value` (larger is newer) and `text`,
    how a message shows it (the value itself when empty)."""

    name: str
    value: int
    text: str = ""

    def shown(self) -> str:
        return self.text or str(self.value)


class Seen:
    """The newest marks this cache saw of each index (module docstring)."""

    def __init__(self, cache_dir: Path) -> None:
        self.directory = Path(cache_dir) / _DIR

    @classmethod
    def of(cls, fetcher: object) -> Seen | None:
        """The records of the fetcher's cache, None when it has no `cache_dir` (then no check
        is possible: a test's fetcher without a cache)."""
        cache_dir = getattr(fetcher, "cache_dir", None)
        return cls(Path(cache_dir)) if isinstance(cache_dir, str | os.PathLike) else None

    def path(self, key: str) -> Path:
        """The file holding `key`'s record."""
        return self.directory / (hashlib.sha256(key.encode()).hexdigest() + ".json")

    def recorded(self, key: str) -> dict[str, Mark] | None:
        """The marks recorded for `key`, None when there is no record."""
        with self._locked():
            return self._read(key)

    def advance(self, key: str, marks: Sequence[Mark], what: str) -> None:
        """Refuse marks older than the record (StaleIndex), else record the newest of each."""
        with self._locked():
            old = self._read(key) or {}
            for mark in marks:
                before = old.get(mark.name)
                if before is not None and mark.value < before.value:
                    raise StaleIndex(
                        f"{what} is older than the one this cache saw "
                        f"({mark.name} {mark.shown()} < {before.shown()})",
                        hint="the mirror may be stale or replaying an old index: use an up-to-date "
                             f"mirror; to accept the rollback, remove {self.path(key)} (or use "
                             "another --cache-dir)")
            new = dict(old)
            for mark in marks:
                if mark.name not in new or mark.value > new[mark.name].value:
                    new[mark.name] = mark
            if new != old or not self.path(key).exists():
                self._write(key, new)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the flock

    def _read(self, key: str) -> dict[str, Mark] | None:
        try:
            data = json.loads(self.path(key).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return None  # unreadable: as absent, and replaced by the next record
        return _marks(data, key)

    def _write(self, key: str, marks: Mapping[str, Mark]) -> None:
        body = {"key": key, "marks": {m.name: [m.value, m.text] for m in marks.values()}}
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(body, out, indent=1, sort_keys=True)
                out.write("\n")
            os.replace(tmp, self.path(key))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


def _marks(data: object, key: str) -> dict[str, Mark] | None:
    """The marks of a parsed record, None when it is not a record of `key`."""
    if not isinstance(data, dict) or data.get("key") != key or not isinstance(data.get("marks"), dict):
        return None
    marks = {}
    for name, entry in data["marks"].items():
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], int)
                and not isinstance(entry[0], bool) and isinstance(entry[1], str)):
            return None
        marks[name] = Mark(name, entry[0], entry[1])
    return marks
