"""A frozen or replaying Alpine mirror: a validly signed APKINDEX built before the one this cache
saw (its signed tar entries' mtime, which `apk index` sets), an index or a package with its
signature stream stripped. Indexes and packages made and signed here as abuild makes them
(tests/apk/apkrepo.py), read through the adapter with the project's fetcher over file://."""
from __future__ import annotations

from pathlib import Path

import pytest

from bootstrap.adapters.apk.adapter import ApkAdapter
from bootstrap.adapters.apk.index import read_index
from bootstrap.adapters.apk.package import split_gzip_streams
from bootstrap.errors import ChecksumError, StaleIndex, UnknownSigner
from bootstrap.fetch import Fetcher
from bootstrap.freshness import Seen
from bootstrap.types import RepoIndex, Repository
from tests.apk.apkrepo import ApkSpec, Key, make_apk, make_index, make_key


def test_the_signed_build_time_of_real_indexes(realdata: Path) -> None:
    """Alpine's `apk index` dates its entries; apko's write 0 (nothing to compare there)."""
    built = {name: read_index((realdata / "apk" / name / "APKINDEX.tar.gz").read_bytes(), None, name).built
             for name in ("alpine-316", "alpine-317", "apko-multisig", "apko-rsa256")}
    assert built == {"alpine-316": 1669068262, "alpine-317": 1685173753, "apko-multisig": 0, "apko-rsa256": 0}


@pytest.fixture()
def repo(tmp_path: Path) -> tuple[Path, Key, Path]:
    """(repository dir holding x86_64/, key, the one package) with a signed package."""
    key = make_key(tmp_path / "keys")
    top = tmp_path / "repo"
    apk = make_apk(ApkSpec("tiny", "1.0-r0", files={"etc": ("dir",), "etc/tiny": b"tiny\n"}), key, top / "x86_64")
    return top, key, apk


def load(top: Path, key: Key, cache: Path, log: list[str] | None = None, verify: bool = True) -> RepoIndex:
    repository = Repository("main", "apk", top.as_uri(), keyrings=(str(key.public),), verify=verify)
    return ApkAdapter(log=(log.append if log is not None else None)).load(
        repository, "x86_64", Fetcher(cache), lambda line: None)


def test_an_index_built_before_the_one_seen_is_refused(repo: tuple[Path, Key, Path], tmp_path: Path) -> None:
    top, key, _ = repo
    cache = tmp_path / "cache"
    make_index(top / "x86_64", key, mtime=1685173753)
    assert [p.name for p in load(top, key, cache).packages] == ["tiny"]
    make_index(top / "x86_64", key, mtime=1685173753)  # the same again
    load(top, key, cache)
    make_index(top / "x86_64", key, mtime=1669068262)  # rolled back, validly signed
    url = (top / "x86_64" / "APKINDEX.tar.gz").as_uri()
    with pytest.raises(StaleIndex, match=r"^the APKINDEX at file://.*/x86_64/APKINDEX\.tar\.gz is older than the one "
                                         r"this cache saw \(build time 2022-11-21 22:04:22 UTC < "
                                         r"2023-05-27 07:49:13 UTC\)$") as err:
        load(top, key, cache)
    assert str(Seen(cache).path(url)) in (err.value.hint or "")
    load(top, key, tmp_path / "other-cache")
    load(top, key, cache, verify=False)  # --no-verify: neither checked nor recorded
    make_index(top / "x86_64", key, mtime=1700000000)  # newer: read, and recorded
    load(top, key, cache)
    assert Seen(cache).recorded(url)["build time"].value == 1700000000  # type: ignore[index]


def test_an_undated_index_is_not_compared(repo: tuple[Path, Key, Path], tmp_path: Path) -> None:
    top, key, _ = repo
    cache = tmp_path / "cache"
    make_index(top / "x86_64", key, mtime=1700000000)
    load(top, key, cache)
    make_index(top / "x86_64", key, mtime=0)  # as apko writes it: nothing to compare
    load(top, key, cache)
    assert not list((tmp_path / "cache2" / "seen").glob("*.json"))
    load(top, key, tmp_path / "cache2")
    assert not list((tmp_path / "cache2" / "seen").glob("*.json"))


def test_an_index_with_its_signature_stripped_is_refused(repo: tuple[Path, Key, Path], tmp_path: Path) -> None:
    top, key, _ = repo
    index = make_index(top / "x86_64", key)
    index.write_bytes(b"".join(split_gzip_streams(index.read_bytes(), "x")[1:]))
    with pytest.raises(UnknownSigner, match=r"^APKINDEX of file://.* is not signed$"):
        load(top, key, tmp_path / "cache")


def test_a_package_with_its_signature_stripped(repo: tuple[Path, Key, Path], tmp_path: Path) -> None:
    """Accepted, with a notice, only as apk-tools accepts it: the verified index's C: vouches for
    the very control stream (and that stream's datahash for the files); altered, refused."""
    top, key, apk = repo
    make_index(top / "x86_64", key)
    notices: list[str] = []
    adapter = ApkAdapter(log=notices.append)
    index = adapter.load(Repository("main", "apk", top.as_uri(), keyrings=(str(key.public),)), "x86_64",
                         Fetcher(tmp_path / "cache"), lambda line: None)
    (pkg,) = index.packages
    streams = split_gzip_streams(apk.read_bytes(), "x")
    stripped = tmp_path / "stripped.apk"
    stripped.write_bytes(b"".join(streams[1:]))
    adapter.check_payload(pkg, stripped, index.trust)
    assert notices == [f"notice: package {pkg.filename} is not signed; accepted: the verified index vouches "
                       f"for it (C: {pkg.field('C')})"]
    # Another package under the same name, its signature stream gone too: the C: tells.
    other = make_apk(ApkSpec("tiny", "1.0-r0", files={"etc": ("dir",), "etc/tiny": b"evil\n"}), key, tmp_path / "o")
    (tmp_path / "evil.apk").write_bytes(b"".join(split_gzip_streams(other.read_bytes(), "x")[1:]))
    with pytest.raises(ChecksumError, match=r"control checksum .* is not the index's"):
        adapter.check_payload(pkg, tmp_path / "evil.apk", index.trust)
    # The control stream kept, the files swapped: the datahash tells.
    (tmp_path / "spliced.apk").write_bytes(streams[1] + split_gzip_streams(other.read_bytes(), "x")[2])
    with pytest.raises(ChecksumError, match="datahash"):
        adapter.check_payload(pkg, tmp_path / "spliced.apk", index.trust)
