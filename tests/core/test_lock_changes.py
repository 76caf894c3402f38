"""The change report between two locks (bootstrap.lock.changes): every kind of change, by
(name, arch), per repository, index dates, and the JSON validated against its schema."""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest

from bootstrap.adapters.apt.packages import compare_versions
from bootstrap.lock import Lock, LockedRepo, LockedSeed, LockOptions
from bootstrap.lock.changes import (
    SCHEMA_ID,
    ChangeReport,
    compare,
    report_json,
    report_markdown,
    report_schema,
    summary_line,
)
from bootstrap.types import Checksum, IndexStamp, Package

DAY1 = "2026-12-01T00:00:00Z"
DAY2 = "2026-12-02T00:00:00Z"


def pkg(name: str, version: str, arch: str = "amd64", repo: str = "main", digest: str = "1",
        size: int = 100) -> Package:
    """A package with a payload digest made of `digest` repeated."""
    return Package(name, version, arch, repo=repo, location=f"http://m.invalid/{name}_{version}_{arch}.deb",
                   checksums=(Checksum("sha256", digest * 64),), size=size)


def repo(repo_id: str, digest: str = "a", date: str = DAY1, present: bool = True) -> LockedRepo:
    """A locked repository whose index digest is `digest` repeated (no index when absent)."""
    stamp = IndexStamp(f"http://m.invalid/dists/{repo_id}/InRelease", digest * 64, date) if present else None
    return LockedRepo(repo_id, "http://m.invalid", repo_id, ("main",), present, stamp)


def lock(packages: list[Package], *repos: LockedRepo, options: LockOptions | None = None) -> Lock:
    """A lock of debian-bookworm/amd64 (repositories main and an absent updates by default)."""
    return Lock("debian-bookworm", "apt", "debian", "bookworm", "amd64", options or LockOptions("minbase"),
                repos or (repo("main"), repo("updates", present=False)), tuple(packages))


def check(text: str) -> None:
    """`text` is a valid change report by the shipped schema."""
    schema = report_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(json.loads(text), schema, cls=jsonschema.Draft202012Validator)


BASE = [pkg("bash", "5.2-1"), pkg("libc6", "2.36-9"), pkg("old", "1.0"), pkg("same", "1")]


def test_no_change_is_no_change() -> None:
    report = compare(lock(BASE), lock(list(reversed(BASE))), compare_versions)
    assert not report.changed and report.packages == ()
    assert not any(r.moved or r.dates_moved for r in report.repositories)
    assert summary_line(report) == "no package changed"
    text = report_markdown(report)
    assert text.splitlines()[0] == "# debian-bookworm (amd64): no change"
    assert "- index: unchanged (2026-12-01T00:00:00Z)" in text and "- packages: no change" in text
    check(report_json(report))


def test_every_kind_of_change() -> None:
    new = [pkg("bash", "5.2-2"), pkg("libc6", "2.36-8"), pkg("new", "0.1"), pkg("same", "1", digest="2")]
    report = compare(lock(BASE), lock(new), compare_versions)
    assert [(c.name, c.kind, c.old_version, c.new_version) for c in report.packages] == [
        ("bash", "upgraded", "5.2-1", "5.2-2"), ("libc6", "downgraded", "2.36-9", "2.36-8"),
        ("new", "added", "", "0.1"), ("old", "removed", "1.0", ""), ("same", "rebuilt", "1", "1")]
    assert report.changed
    assert report.counts() == {"upgraded": 1, "added": 1, "removed": 1, "downgraded": 1, "rebuilt": 1}
    assert summary_line(report) == "1 upgraded, 1 added, 1 removed, 1 downgraded, 1 rebuilt"
    text = report_markdown(report)
    for line in ("- upgraded: bash 5.2-1 → 5.2-2 (amd64)", "- downgraded: libc6 2.36-9 → 2.36-8 (amd64)",
                 "- added: new 0.1 (amd64)", "- removed: old 1.0 (amd64)", "- rebuilt: same 1 → 1 (amd64)"):
        assert line in text
    check(report_json(report))


def test_a_rebuild_is_told_by_size_or_by_the_record_when_there_is_no_digest() -> None:
    report = compare(lock([pkg("a", "1")]), lock([pkg("a", "1", size=101)]), compare_versions)
    assert [c.kind for c in report.packages] == ["rebuilt"]
    bare = Package("musl", "1.2.5-r0", "x86_64", repo="main", fields=(("C", "Q1aaa="),))
    other = replace(bare, fields=(("C", "Q1bbb="),))
    assert [c.kind for c in compare(lock([bare]), lock([other]), compare_versions).packages] == ["rebuilt"]
    assert compare(lock([bare]), lock([bare]), compare_versions).packages == ()


def test_a_new_url_alone_is_no_change() -> None:
    moved = replace(BASE[0], location="http://other.invalid/bash.deb")
    assert not compare(lock(BASE), lock([moved, *BASE[1:]]), compare_versions).changed


def test_versions_compare_in_the_family_order() -> None:
    report = compare(lock([pkg("x", "1.0~rc1"), pkg("y", "1:0.1")]), lock([pkg("x", "1.0"), pkg("y", "9.9")]),
                     compare_versions)
    assert [(c.name, c.kind) for c in report.packages] == [("x", "upgraded"), ("y", "downgraded")]


def test_a_package_that_moved_repository_counts_under_the_new_one() -> None:
    repos = (repo("main"), repo("updates"))
    new = [pkg("bash", "5.2-2", repo="updates"), *BASE[1:]]
    report = compare(lock(BASE, *repos), lock(new, *repos), compare_versions)
    assert [(c.repo, c.name, c.kind) for c in report.packages] == [("updates", "bash", "upgraded")]
    text = report_markdown(report)
    assert text.index("## main") < text.index("## updates") < text.index("- upgraded: bash 5.2-1 → 5.2-2")
    same = compare(lock(BASE, *repos), lock([replace(BASE[0], repo="updates"), *BASE[1:]], *repos),
                   compare_versions)
    assert not same.changed  # the very same payload, now served by another repository


def test_packages_are_sorted_by_repository_name_arch() -> None:
    repos = (repo("main"), repo("updates"))
    new = [pkg("zz", "1", repo="main"), pkg("aa", "1", repo="updates"), pkg("mm", "1", "i386"), pkg("mm", "1")]
    report = compare(lock([], *repos), lock(new, *repos), compare_versions)
    assert [(c.repo, c.name, c.arch) for c in report.packages] == [
        ("main", "mm", "amd64"), ("main", "mm", "i386"), ("main", "zz", "amd64"), ("updates", "aa", "amd64")]


def test_multilib_builds_are_two_packages() -> None:
    old = [pkg("glibc", "2.34-1", "x86_64"), pkg("glibc", "2.34-1", "i686")]
    new = [pkg("glibc", "2.34-1", "x86_64"), pkg("glibc", "2.34-2", "i686"), pkg("zlib", "1.3", "i686")]
    report = compare(lock(old), lock(new), compare_versions)
    assert [(c.name, c.arch, c.kind) for c in report.packages] == [
        ("glibc", "i686", "upgraded"), ("zlib", "i686", "added")]
    gone = compare(lock(old), lock(old[:1]), compare_versions)
    assert [(c.arch, c.kind, c.old_version) for c in gone.packages] == [("i686", "removed", "2.34-1")]


def test_index_moved_without_package_change_is_said_not_changed() -> None:
    new = lock(BASE, repo("main", digest="b", date=DAY2), repo("updates", present=False))
    report = compare(lock(BASE), new, compare_versions)
    main = report.repositories[0]
    assert not report.changed and main.moved and main.dates_moved
    assert (main.old_date, main.new_date, main.old_sha256, main.new_sha256) == (DAY1, DAY2, "a" * 64, "b" * 64)
    text = report_markdown(report)
    assert "no change" in text.splitlines()[0]
    assert "- index: moved, dates moved (2026-12-01T00:00:00Z → 2026-12-02T00:00:00Z)" in text
    document = json.loads(report_json(report))
    assert document["changed"] is False and document["repositories"][0]["dates_moved"] is True
    resigned = compare(lock(BASE), lock(BASE, repo("main", digest="b"), repo("updates", present=False)),
                       compare_versions)
    assert resigned.repositories[0].moved and not resigned.repositories[0].dates_moved
    assert "- index: moved, same date (2026-12-01T00:00:00Z)" in report_markdown(resigned)


def test_a_repository_that_appeared_or_went() -> None:
    now = lock([*BASE, pkg("tzdata", "2026a", repo="updates")], repo("main"), repo("updates", "c", DAY2))
    report = compare(lock(BASE), now, compare_versions)
    updates = next(r for r in report.repositories if r.id == "updates")
    assert updates.appeared and updates.moved and not updates.disappeared
    assert [(c.repo, c.kind) for c in report.packages] == [("updates", "added")]
    assert "- index: now on the mirror (2026-12-02T00:00:00Z)" in report_markdown(report)
    back = compare(now, lock(BASE), compare_versions)
    went = next(r for r in back.repositories if r.id == "updates")
    assert went.disappeared and went.moved and (went.new_sha256, went.new_date) == ("", "")
    assert "- index: no longer on the mirror" in report_markdown(back)
    check(report_json(report))
    check(report_json(back))


def test_a_repository_only_one_lock_names() -> None:
    report = compare(lock(BASE, repo("main")), lock(BASE, repo("main"), repo("extra")), compare_versions)
    assert [r.id for r in report.repositories] == ["main", "extra"] and report.repositories[1].appeared
    assert not report.changed


def test_seed_change_is_a_change() -> None:
    seeded = replace(lock(BASE), seed=LockedSeed("http://m.invalid/a.tar.gz", (Checksum("sha256", "1" * 64),)))
    other = replace(seeded, seed=LockedSeed("http://m.invalid/b.tar.gz", (Checksum("sha256", "2" * 64),)))
    assert not compare(seeded, seeded, compare_versions).changed
    report = compare(seeded, other, compare_versions)
    assert report.changed and report.packages == () and summary_line(report).endswith("; seed changed")
    assert "- the seed tarball changed" in report_markdown(report)
    check(report_json(report))


def test_options_and_requests_changes_are_changes() -> None:
    old = lock(BASE)
    new = replace(lock(BASE, options=LockOptions("minbase", include=("zstd",), verify=False)), requests=("zstd",))
    report = compare(old, new, compare_versions)
    assert report.changed and report.options_changed == ("include", "requests", "verify")
    assert summary_line(report).endswith("; options changed: include, requests, verify")
    assert json.loads(report_json(report))["options_changed"] == ["include", "requests", "verify"]
    check(report_json(report))


def test_json_validates_against_its_schema_and_is_stable() -> None:
    new = [pkg("bash", "5.2-2"), pkg("new", "1", repo="updates")]
    now = (repo("main", "b", DAY2), repo("updates", "c", DAY2))
    text = report_json(compare(lock(BASE), lock(new, *now), compare_versions))
    again = report_json(compare(lock(list(reversed(BASE))), lock(list(reversed(new)), *now), compare_versions))
    assert text == again and text.endswith("}\n") and not text.endswith("\n\n")
    document = json.loads(text)
    assert document["schema"] == SCHEMA_ID == report_schema()["$id"] and document["format"] == 1
    assert list(document) == sorted(document)
    check(text)


@pytest.mark.parametrize("breaks", [
    lambda d: d["packages"][0].__setitem__("kind", "sideways"),
    lambda d: d.pop("counts"),
    lambda d: d.__setitem__("format", 2),
    lambda d: d["repositories"][0].__setitem__("new_sha256", "not hex"),
    lambda d: d.__setitem__("extra", 1),
])
def test_the_schema_refuses_what_is_not_a_report(breaks: Callable[[dict[str, Any]], object]) -> None:
    report = compare(lock(BASE), lock([pkg("bash", "5.2-2")]), compare_versions)
    document = json.loads(report_json(report))
    breaks(document)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, report_schema(), cls=jsonschema.Draft202012Validator)


def test_markdown_is_stable_and_ends_with_one_newline() -> None:
    report = compare(lock(BASE), lock([pkg("bash", "5.2-2")]), compare_versions)
    text = report_markdown(report)
    assert text == report_markdown(compare(lock(BASE), lock([pkg("bash", "5.2-2")]), compare_versions))
    assert text.endswith("\n") and not text.endswith("\n\n")
    assert text.splitlines()[0] == "# debian-bookworm (amd64): 1 upgraded, 3 removed"


def test_a_report_of_no_repository_still_renders() -> None:
    report = ChangeReport("p", "x86_64", (), ())
    assert report_markdown(report) == "# p (x86_64): no change\n"
    check(report_json(report))


def test_another_mirror_or_keyring_is_no_change() -> None:
    moved = lock(BASE, options=LockOptions("minbase", mirrors=("http://other.invalid",), keyrings=("/k.gpg",)))
    assert not compare(lock(BASE), moved, compare_versions).changed
