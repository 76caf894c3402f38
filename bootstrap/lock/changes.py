"""What changed between two locks of one profile: the change report of `refresh`. Pure: no
disk, no network (but `report_schema`, which reads the schema shipped with the package).

Contracts:
- A package is known by (name, arch): the x86_64 and i686 builds of one name are two. Between
  the old and the new lock each is `added`, `removed`, `upgraded`, `downgraded` (by the
  family's version order, which the caller gives) or `rebuilt` (same version, another payload:
  other digests or size; for a family whose index gives no payload digest, as apk, another
  index record, whose control digest tells builds apart). A package that moved repository is
  reported under its new one; one that only moved (same version, same payload) or only changed
  its URL is no change: the image would be the same.
- Each repository of either lock is compared by its signed index: `moved` when the index is
  another file (its sha256), or the repository appeared or went; `dates_moved` when the date
  the index gives itself changed. An index that moved without changing the package set is
  said, but is no change.
- `ChangeReport.changed` is True when the image or the lock's meaning would differ: a package
  change, the seed tarball, the options or the requests.
- `report_json` is described by the JSON Schema `report_schema()` returns
  (bootstrap/data/change-report.schema.json, `$id` SCHEMA_ID); keys are sorted and lists
  ordered, so the same two locks always give the same text, JSON and Markdown alike.
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, fields
from importlib import resources
from typing import Any

from bootstrap.lock.model import Lock, LockedRepo
from bootstrap.types import Package

SCHEMA_ID = "https://rootfs-bootstrap.invalid/schemas/change-report-1.json"
REPORT_FORMAT = 1
# The kinds of package change, in the order summaries and counts give them.
KINDS = ("upgraded", "added", "removed", "downgraded", "rebuilt")
_SCHEMA_FILE = "data/change-report.schema.json"

VersionCompare = Callable[[str, str], int]


@dataclass(frozen=True)
class PackageChange:
    """One package's change; a version is "" on the side where the package is absent. `repo`
    is the repository the package is in now (where it was, when removed)."""

    name: str
    arch: str
    repo: str
    kind: str
    old_version: str = ""
    new_version: str = ""


@dataclass(frozen=True)
class RepoChange:
    """One repository's signed index between the locks. A side's `present` is False where the
    mirror lacked the (optional) repository or the lock does not name it; its date and sha256
    are then ""."""

    id: str
    old_date: str
    new_date: str
    old_sha256: str
    new_sha256: str
    old_present: bool = True
    new_present: bool = True

    @property
    def moved(self) -> bool:
        """The index is another file, or the repository appeared or went."""
        return (self.old_sha256, self.old_present) != (self.new_sha256, self.new_present)

    @property
    def dates_moved(self) -> bool:
        """The date the index gives itself changed (appearing or going counts when dated)."""
        return self.old_date != self.new_date

    @property
    def appeared(self) -> bool:
        """Absent from the old lock (or missing on the mirror then), present now."""
        return not self.old_present and self.new_present

    @property
    def disappeared(self) -> bool:
        """Present in the old lock, absent now."""
        return self.old_present and not self.new_present


@dataclass(frozen=True)
class ChangeReport:
    """Every package change (sorted by repository, name, arch), every repository's index (in
    the order of the old lock, then the ones only the new lock names), whether the seed tarball
    changed, and the names of the lock options that differ (LockOptions field names, and
    `requests`), sorted."""

    profile: str
    arch: str
    packages: tuple[PackageChange, ...]
    repositories: tuple[RepoChange, ...]
    seed_changed: bool = False
    options_changed: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        """Whether anything but the indexes moved: a package, the seed or the options."""
        return bool(self.packages) or self.seed_changed or bool(self.options_changed)

    def counts(self) -> dict[str, int]:
        """How many changes of each kind (every kind of KINDS, 0 included)."""
        found = Counter(c.kind for c in self.packages)
        return {kind: found.get(kind, 0) for kind in KINDS}


def compare(old: Lock, new: Lock, version_compare: VersionCompare) -> ChangeReport:
    """The report of going from `old` to `new` (module docstring). `version_compare(a, b)` is
    the family's order (<0, 0, >0)."""
    before = _by_identity(old.packages)
    after = _by_identity(new.packages)
    changes = []
    for key in before.keys() | after.keys():
        change = _change(before.get(key), after.get(key), version_compare)
        if change is not None:
            changes.append(change)
    changes.sort(key=lambda c: (c.repo, c.name, c.arch))
    return ChangeReport(new.profile, new.arch, tuple(changes), _repositories(old, new),
                        old.seed != new.seed, _options_changed(old, new))


def _by_identity(packages: tuple[Package, ...]) -> dict[tuple[str, str], Package]:
    """The packages by (name, arch)."""
    return {(p.name, p.arch): p for p in packages}


def _change(old: Package | None, new: Package | None, version_compare: VersionCompare) -> PackageChange | None:
    """The change from `old` to `new` of one identity (None on a side where it is absent), or
    None when there is none."""
    if new is None:
        assert old is not None
        return PackageChange(old.name, old.arch, old.repo, "removed", old.version, "")
    if old is None:
        return PackageChange(new.name, new.arch, new.repo, "added", "", new.version)
    order = version_compare(new.version, old.version)
    if order > 0:
        kind = "upgraded"
    elif order < 0:
        kind = "downgraded"
    elif _payload(old) != _payload(new):
        kind = "rebuilt"
    else:
        return None
    return PackageChange(new.name, new.arch, new.repo, kind, old.version, new.version)


def _payload(pkg: Package) -> tuple[object, ...]:
    """What tells two builds of one version apart: the payload's digests and size, or, for an
    index that gives no digest of the file, the whole index record as well."""
    return frozenset(pkg.checksums), pkg.size, () if pkg.checksums else pkg.fields


def _repositories(old: Lock, new: Lock) -> tuple[RepoChange, ...]:
    """Each repository either lock names, old lock's order first."""
    ids = dict.fromkeys([r.id for r in old.repositories] + [r.id for r in new.repositories])
    out = []
    for repo_id in ids:
        a, b = old.repository(repo_id), new.repository(repo_id)
        out.append(RepoChange(repo_id, _date(a), _date(b), _digest(a), _digest(b), _present(a), _present(b)))
    return tuple(out)


def _present(repo: LockedRepo | None) -> bool:
    """Whether the lock has the repository's index."""
    return repo is not None and repo.present and repo.index is not None


def _date(repo: LockedRepo | None) -> str:
    """The index date the lock recorded, or ""."""
    return repo.index.date if repo is not None and repo.index is not None else ""


def _digest(repo: LockedRepo | None) -> str:
    """The index sha256 the lock recorded, or ""."""
    return repo.index.sha256 if repo is not None and repo.index is not None else ""


def _options_changed(old: Lock, new: Lock) -> tuple[str, ...]:
    """The LockOptions fields (and `requests`) whose values differ, sorted. Where the packages
    came from and which keys checked them (`mirrors`, `keyrings`, `keyring_only`: a refresh's
    --mirror, --keyring and --keyring-only) do not count: the same packages make the same image."""
    names = [f.name for f in fields(old.options) if f.name not in ("mirrors", "keyrings", "keyring_only")
             and getattr(old.options, f.name) != getattr(new.options, f.name)]
    if old.requests != new.requests:
        names.append("requests")
    return tuple(sorted(names))


def report_document(report: ChangeReport) -> dict[str, Any]:
    """The report as the JSON document the schema describes (`schema` is the schema's $id)."""
    return {
        "schema": SCHEMA_ID, "format": REPORT_FORMAT, "profile": report.profile, "arch": report.arch,
        "changed": report.changed, "seed_changed": report.seed_changed,
        "options_changed": list(report.options_changed), "counts": report.counts(),
        "packages": [{"repo": c.repo, "name": c.name, "arch": c.arch, "kind": c.kind,
                      "old_version": c.old_version, "new_version": c.new_version} for c in report.packages],
        "repositories": [{"id": r.id, "old_date": r.old_date, "new_date": r.new_date,
                          "old_sha256": r.old_sha256, "new_sha256": r.new_sha256,
                          "old_present": r.old_present, "new_present": r.new_present,
                          "moved": r.moved, "dates_moved": r.dates_moved} for r in report.repositories],
    }


def report_json(report: ChangeReport) -> str:
    """The JSON text of the report: sorted keys, two-space indent, UTF-8 as is, one newline
    at the end."""
    return json.dumps(report_document(report), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def report_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of report_json's documents, as shipped in the package."""
    text = resources.files("bootstrap").joinpath(_SCHEMA_FILE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def summary_line(report: ChangeReport) -> str:
    """One line: `1 upgraded, 2 added` (the kinds that happened; "no package changed" when
    none), then `; seed changed` and `; options changed: include` when they did."""
    line = ", ".join(f"{n} {kind}" for kind, n in report.counts().items() if n) or "no package changed"
    if report.seed_changed:
        line += "; seed changed"
    if report.options_changed:
        line += f"; options changed: {', '.join(report.options_changed)}"
    return line


def report_markdown(report: ChangeReport) -> str:
    """A short Markdown report: a title line with the summary (or "no change"), then for each
    repository its index and one line per package change (`- upgraded: bash 5.2-1 → 5.2-2
    (amd64)`), or "no change"."""
    said = summary_line(report) if report.changed else "no change"
    lines = [f"# {report.profile} ({report.arch}): {said}", ""]
    if report.seed_changed:
        lines += ["- the seed tarball changed", ""]
    if report.options_changed:
        lines += [f"- options changed: {', '.join(report.options_changed)}", ""]
    by_repo: dict[str, list[PackageChange]] = {}
    for change in report.packages:
        by_repo.setdefault(change.repo, []).append(change)
    for repo in report.repositories:
        changes = by_repo.pop(repo.id, [])
        lines += [f"## {repo.id}", _index_line(repo)]
        lines += [_change_line(c) for c in changes] or ["- packages: no change"]
        lines.append("")
    for repo_id, changes in sorted(by_repo.items()):  # packages of no locked repository (seeded)
        lines += [f"## {repo_id or '(no repository)'}"] + [_change_line(c) for c in changes] + [""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _index_line(repo: RepoChange) -> str:
    """The Markdown line of one repository's index: unchanged, moved (with its dates),
    appeared or gone."""
    if repo.appeared:
        return f"- index: now on the mirror ({repo.new_date or 'undated'})"
    if repo.disappeared:
        return "- index: no longer on the mirror"
    if not repo.new_present:
        return "- index: not on the mirror"
    if not repo.moved:
        return f"- index: unchanged ({repo.new_date or 'undated'})"
    if repo.dates_moved:
        return f"- index: moved, dates moved ({repo.old_date or 'undated'} → {repo.new_date or 'undated'})"
    return f"- index: moved, same date ({repo.new_date or 'undated'})"


def _change_line(c: PackageChange) -> str:
    """`- upgraded: bash 5.2-1 → 5.2-2 (amd64)`, `- added: zstd 1.5 (amd64)`."""
    versions = {"added": c.new_version, "removed": c.old_version}.get(c.kind, f"{c.old_version} → {c.new_version}")
    return f"- {c.kind}: {c.name} {versions} ({c.arch})"
