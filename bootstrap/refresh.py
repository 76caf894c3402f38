"""`rootfs-bootstrap refresh NAME.lock`: resolve again against the lock's repositories and
options; build and rewrite the lock only when something changed.

Contract of `refresh(path, build, report)`:
- Nothing changed → `Refreshed(changed=False)`: nothing is built and the lock file is left as
  it is. When every repository still serves the very index the lock recorded (same sha256 of
  its InRelease / repomd.xml / APKINDEX.tar.gz), the repositories the mirror lacked are still
  missing and the seed tarball is the same, that alone answers: no index is parsed. Otherwise
  the profile is resolved again and the new package set compared with the lock's (an index
  that moved without changing the set is no change).
- Something changed → the image is built from the new lock into the output, then the new
  lock replaces the old one (atomically, after the build succeeded), the change report is
  written where asked (`report_json`, `report_md`), and `Refreshed(changed=True)` carries it.
- Any failure raises, with the old lock untouched and nothing at the output path.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from bootstrap.adapters import Adapter
from bootstrap.buildroot import build_root
from bootstrap.errors import RepositoryNotFound
from bootstrap.lock import Lock, read_lock, write_lock
from bootstrap.lock.changes import ChangeReport, compare, report_json, report_markdown, summary_line
from bootstrap.locked import build_from_lock, lock_from_plan, options_of
from bootstrap.pipeline import BuildOptions, load_profile, make_adapter, plan
from bootstrap.report import Reporter
from bootstrap.types import Fetcher, Profile

EXIT_CHANGED = 10  # refresh's "something changed: built, lock rewritten"
# The build options that replace what a lock recorded of its sources: given any, the indexes' digests
# in the lock prove nothing and the profile is resolved again.
SOURCE_OVERRIDES = ("mirror", "keyrings", "keyring_only")


@dataclass(frozen=True)
class Refreshed:
    """What a refresh did: `line` says it in one line; `report` is the change report when
    the packages were compared (None when the indexes alone answered)."""

    changed: bool
    line: str
    report: ChangeReport | None = None
    output: Path | None = None
    markdown: str = ""  # the change report to print; "" = report_markdown(report)

    def printed(self) -> str:
        """The change report as the command prints it."""
        if self.markdown:
            return self.markdown
        return report_markdown(self.report) if self.report is not None else ""


@dataclass(frozen=True)
class Assessment:
    """Whether `old` still holds: `new` is the lock a fresh resolution gives when the packages
    were compared (None when the indexes alone answered), `changes` the report between them."""

    changed: bool
    line: str
    new: Lock | None = None
    changes: ChangeReport | None = None


def assess(old: Lock, opts: BuildOptions, report: Reporter, *, overridden: bool = False) -> Assessment:
    """Resolve `old` again (or see from the indexes' digests that nothing can have changed,
    unless `overridden`: another mirror or keyring was given); builds nothing."""
    from bootstrap.pipeline import make_fetcher

    fetcher = make_fetcher(opts, report)
    if not overridden:
        with report.phase("check"):
            same = _indexes_unchanged(old, opts, fetcher, report)
        if same:
            return Assessment(False, "nothing changed: every repository still serves the index the lock was "
                                     "resolved from")
    new = _resolve_again(old, opts, fetcher, report)
    changes = compare(old, new, make_adapter(load_profile(opts)).version_scheme(old.arch).compare)
    if not changes.changed:
        moved = [r.id for r in changes.repositories if r.moved]
        said = f" (the index of {', '.join(moved)} moved; its packages did not)" if moved else ""
        return Assessment(False, f"nothing changed{said}", new, changes)
    return Assessment(True, f"changed: {summary_line(changes)}", new, changes)


def refresh(path: Path, build: dict[str, object], report: Reporter, *,
            report_json_path: Path | None = None, report_md_path: Path | None = None) -> Refreshed:
    """See the module docstring. `build` holds the output's options (output, fmt, compress,
    mode, cache_dir, jobs, image...) and any --mirror / --keyring that override the lock's.
    An image build (bootstrap.imagebuild: --format oci/docker, --push) makes the image from
    the new lock."""
    old = read_lock(path)
    opts = options_of(old, **build)
    done = assess(old, opts, report, overridden=any(build.get(k) for k in SOURCE_OVERRIDES))
    if not done.changed:
        return Refreshed(False, done.line, done.changes)
    assert done.new is not None and done.changes is not None  # a change is always compared
    from bootstrap.imagebuild import build_image, is_image_build

    if is_image_build(opts):
        out = build_image(opts, report, {done.new.arch: done.new}).output
    else:
        out = build_from_lock(done.new, opts, report)
    write_lock(path, done.new)
    write_reports(done.changes, report_json_path, report_md_path)
    return Refreshed(True, f"{done.line}; lock {path} rewritten", done.changes, out)


def write_reports(changes: ChangeReport, json_path: Path | None, md_path: Path | None) -> None:
    """The change report where asked, as JSON and as Markdown."""
    if json_path is not None:
        _write_text(json_path, report_json(changes))
    if md_path is not None:
        _write_text(md_path, report_markdown(changes))


def _indexes_unchanged(lock: Lock, opts: BuildOptions, fetcher: Fetcher, report: Reporter) -> bool:
    """Whether every locked repository still serves the index the lock recorded, every one
    it lacked is still missing, and the seed is the same (module docstring)."""
    profile = load_profile(opts)
    if [r.id for r in profile.repositories] != [r.id for r in lock.repositories]:
        report.info("the profile's repositories are not the lock's: resolving again")
        return False
    adapter = make_adapter(profile, report)
    for locked in lock.repositories:
        if not locked.present:
            if _appeared(adapter, profile, locked.id, fetcher, report):
                report.info(f"repository {locked.id} is on the mirror now")
                return False
            continue
        if locked.index is None:
            return False
        data = fetcher.try_get_bytes(locked.index.url)
        if data is None or hashlib.sha256(data).hexdigest() != locked.index.sha256:
            report.info(f"repository {locked.id}: its index changed ({locked.index.url})")
            return False
    if lock.seed is not None:
        now = adapter.seed_source(fetcher, report.info, lock.options.variant)
        if now is None or (now.url, now.checksums) != (lock.seed.url, lock.seed.checksums):
            report.info("the seed tarball changed")
            return False
    return True


def _appeared(adapter: Adapter, profile: Profile, repo_id: str, fetcher: Fetcher, report: Reporter) -> bool:
    """Whether an optional repository the lock found missing is there now."""
    repo = next(r for r in profile.repositories if r.id == repo_id)
    try:
        adapter.load(repo, profile.arch, fetcher, report.debug)
    except RepositoryNotFound:
        return False
    return True


def _resolve_again(old: Lock, opts: BuildOptions, fetcher: Fetcher, report: Reporter) -> Lock:
    """The lock a fresh resolution with the old lock's options gives (the root it seeds, if
    any, is thrown away: the build that follows seeds its own from the new lock)."""
    with build_root(None, report.info) as root:
        the_plan = plan(opts, fetcher, report, root=root)
    return lock_from_plan(the_plan, opts)


def _write_text(path: Path, text: str) -> None:
    """A report file, written whole (a temporary file beside it, renamed)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
