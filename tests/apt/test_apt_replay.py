"""A frozen or replaying apt mirror: Releases with a valid signature that are expired, dated
ahead of the clock, or older than one this cache already saw; and Releases whose signature was
stripped. Archives made here with dpkg-deb, apt-ftparchive and gpg, served on 127.0.0.1, read
with the project's own fetcher and a cache of the test's own."""
from __future__ import annotations

import email.utils
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bootstrap.adapters.apt.index import load_apt_repository
from bootstrap.errors import StaleIndex, VerificationError
from bootstrap.fetch import Fetcher
from bootstrap.freshness import Seen
from bootstrap.types import Repository
from tests.apt.aptrepo import Deb, build_deb, build_repo, make_key
from tests.server import Server

DIST = "dists/bookworm/"


def rfc2822(moment: datetime) -> str:
    return email.utils.format_datetime(moment.astimezone(UTC), usegmt=True)


def days(n: float) -> datetime:
    return datetime.now(UTC) + timedelta(days=n)


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], Path, Path]:
    """(debs, gnupg home of the archive key, its public keyring)."""
    work = tmp_path_factory.mktemp("replay")
    debs = [build_deb(Deb("hello", "1.0", files={"usr/bin/hello": b"#!/bin/sh\n"}), work)]
    keyring = make_key(work / "gnupg")
    return debs, work / "gnupg", keyring


class Mirror:
    """One archive directory, re-published at will, served while the test runs."""

    def __init__(self, parts: tuple[list[Path], Path, Path], top: Path) -> None:
        self.debs, self.home, self.keyring = parts
        self.top = top
        self.server = Server(top)
        top.mkdir(parents=True, exist_ok=True)

    def publish(self, date: datetime | None = None, valid_until: datetime | None = None) -> None:
        build_repo(self.top, self.debs, self.home, date=rfc2822(date) if date else None,
                   valid_until=rfc2822(valid_until) if valid_until else None)

    def repo(self, verify: bool = True, **options: str) -> Repository:
        return Repository("main", "apt", self.server.url, "bookworm", ("main",), (str(self.keyring),),
                          verify=verify, options=tuple(options.items()))


@pytest.fixture()
def mirror(parts: tuple[list[Path], Path, Path], tmp_path: Path):
    m = Mirror(parts, tmp_path / "mirror")
    with m.server:
        yield m


def load(mirror: Mirror, cache: Path, **kw: object) -> list[str]:
    verify = bool(kw.pop("verify", True))
    repo = mirror.repo(verify, **{k: str(v) for k, v in kw.items()})
    return [p.name for p in load_apt_repository(repo, "amd64", Fetcher(cache), print)]


def test_expired_release_is_refused(mirror: Mirror, tmp_path: Path) -> None:
    mirror.publish(date=days(-10), valid_until=days(-3))
    with pytest.raises(StaleIndex, match=r"^Release file for http://127\.0\.0\.1:\d+/dists/bookworm/ is expired "
                                         r"\(invalid since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)$") as err:
        load(mirror, tmp_path / "cache")
    assert "check_valid_until = no" in (err.value.hint or "")
    assert load(mirror, tmp_path / "cache", check_valid_until="no") == ["hello"]
    mirror.publish(date=days(-10), valid_until=days(3))  # still valid: read
    assert load(mirror, tmp_path / "cache2") == ["hello"]


def test_release_dated_ahead_of_the_clock_is_refused(mirror: Mirror, tmp_path: Path) -> None:
    mirror.publish(date=days(2))
    with pytest.raises(StaleIndex, match=r"is not valid yet \(its Date, .* UTC, is 1d 23h ahead of this "
                                         r"machine's clock\)$") as err:
        load(mirror, tmp_path / "cache")
    assert "check_date = no" in (err.value.hint or "")
    assert not (tmp_path / "cache" / "seen").exists() or not any((tmp_path / "cache" / "seen").glob("*.json"))
    assert load(mirror, tmp_path / "cache", check_date="no") == ["hello"]
    assert not list((tmp_path / "cache" / "seen").glob("*.json"))  # never recorded: it would lock out
    # Within apt's 10 s (Acquire::Max-FutureTime): a mirror whose clock is a little ahead.
    mirror.publish(date=datetime.now(UTC) + timedelta(seconds=5))
    assert load(mirror, tmp_path / "cache3") == ["hello"]


def test_an_older_release_than_this_cache_saw_is_refused(mirror: Mirror, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    mirror.publish(date=days(-1))
    assert load(mirror, cache) == ["hello"]
    mirror.publish(date=days(-1))  # the same Date again: not a rollback
    assert load(mirror, cache) == ["hello"]
    old = tmp_path / "old"
    shutil.copytree(mirror.top, old)
    mirror.publish(date=days(-5))  # the mirror rolled back to an older, validly signed Release
    with pytest.raises(StaleIndex, match=r"^the Release of http://127\.0\.0\.1:\d+/dists/bookworm/ is older than "
                                         r"the one this cache saw \(Date .* UTC < .* UTC\)$") as err:
        load(mirror, cache)
    state = Seen(cache).path(mirror.server.url + "/" + DIST)
    assert str(state) in (err.value.hint or "") and state.is_file()
    assert load(mirror, tmp_path / "fresh-cache") == ["hello"]  # another cache never saw the newer one
    state.unlink()  # the hint's way to accept the rollback
    assert load(mirror, cache) == ["hello"]


def test_release_gpg_replay_is_refused_too(mirror: Mirror, tmp_path: Path) -> None:
    """No InRelease: the older Release and its own valid Release.gpg."""
    cache = tmp_path / "cache"
    mirror.publish(date=days(-1))
    (mirror.top / DIST / "InRelease").unlink()
    assert load(mirror, cache) == ["hello"]
    mirror.publish(date=days(-30))
    (mirror.top / DIST / "InRelease").unlink()
    with pytest.raises(StaleIndex, match="older than the one this cache saw"):
        load(mirror, cache)


def test_source_date_epoch_changes_no_check(mirror: Mirror, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """SOURCE_DATE_EPOCH says when the output is dated, not what time it is."""
    for epoch in ("0", "4102444800"):  # 1970 and 2100
        monkeypatch.setenv("SOURCE_DATE_EPOCH", epoch)
        mirror.publish(date=days(-10), valid_until=days(-3))
        with pytest.raises(StaleIndex, match="is expired"):
            load(mirror, tmp_path / f"a{epoch}")
        mirror.publish(date=days(2))
        with pytest.raises(StaleIndex, match="not valid yet"):
            load(mirror, tmp_path / f"b{epoch}")
        mirror.publish(date=days(-1))
        assert load(mirror, tmp_path / f"c{epoch}") == ["hello"]
        mirror.publish(date=days(-2))
        with pytest.raises(StaleIndex, match="older"):
            load(mirror, tmp_path / f"c{epoch}")


def test_no_verify_neither_checks_nor_records(mirror: Mirror, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    mirror.publish(date=days(-1))
    assert load(mirror, cache, verify=False) == ["hello"]
    assert not list((cache / "seen").glob("*.json"))  # an unverified Date raises no bar
    assert load(mirror, cache) == ["hello"]
    mirror.publish(date=days(-3))
    assert load(mirror, cache, verify=False) == ["hello"]  # --no-verify: the user's call
    with pytest.raises(StaleIndex):
        load(mirror, cache)


def test_stripped_signatures_are_refused(mirror: Mirror, tmp_path: Path) -> None:
    dist = mirror.top / DIST
    mirror.publish(date=days(-1))
    (dist / "InRelease").unlink()
    (dist / "Release.gpg").unlink()
    with pytest.raises(VerificationError, match=r"Release is not signed \(no InRelease, no Release\.gpg\)"):
        load(mirror, tmp_path / "cache")
    # InRelease replaced by the bare Release text: no signature at all.
    shutil.copy(dist / "Release", dist / "InRelease")
    with pytest.raises(VerificationError) as err:
        load(mirror, tmp_path / "cache")
    assert "\n" not in err.value.message
    # A Release.gpg left from an older Release: it does not cover this one.
    mirror.publish(date=days(-2))
    signature = (dist / "Release.gpg").read_bytes()
    mirror.publish(date=days(-1))
    (dist / "InRelease").unlink()
    (dist / "Release.gpg").write_bytes(signature)
    with pytest.raises(VerificationError, match=r"(?i)bad signature"):
        load(mirror, tmp_path / "cache")
