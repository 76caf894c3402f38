"""The apk adapter's lazy index and its parsed-index cache (issue 11): the real Alpine indexes
read by the fast pass (bootstrap/adapters/apk/fastindex.py) give, field for field, what the
eager parser gives; an unchanged index is served from the cache (its signature still checked),
a changed one is read again, a damaged entry is noticed, dropped and rebuilt. Real signed
indexes (../shared/realdata/apk), and indexes made and signed here as abuild makes them
(tests/apk/apkrepo.py), read with the project's fetcher over file://."""
from __future__ import annotations

import dataclasses
import random
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from bootstrap.adapters.apk import fastindex, loader
from bootstrap.adapters.apk.adapter import ApkAdapter
from bootstrap.adapters.apk.index import parse_apkindex, read_index
from bootstrap.adapters.apk.version import apk_version_scheme
from bootstrap.errors import BootstrapError, StaleIndex, UnknownSigner
from bootstrap.fetch import Fetcher
from bootstrap.indexcache import IndexCache, loaded
from bootstrap.resolve import resolve
from bootstrap.types import Package, Relation, Repository
from tests.apk.apkrepo import ApkSpec, Key, make_apk, make_index, make_key, real

ALPINE_KEYS = Path(__file__).resolve().parents[2] / "keys" / "alpine"
REAL = {"alpine-316": ("x86_64", 4929), "alpine-317": ("aarch64", 5004)}


def assert_same(lazy: Sequence[Package], eager: Sequence[Package]) -> None:
    """Every field of every package, one by one (a lazy package reads its stanza for some)."""
    assert len(lazy) == len(eager)
    for one, other in zip(lazy, eager, strict=True):
        for field in dataclasses.fields(Package):
            assert getattr(one, field.name) == getattr(other, field.name), (one.name, field.name)


def mirror(tmp_path: Path, name: str) -> tuple[Repository, str, Path]:
    """(repository, arch, its APKINDEX.tar.gz) for the real index `name`, laid out as a mirror."""
    arch, _ = REAL[name]
    top = tmp_path / name
    (top / arch).mkdir(parents=True)
    index = top / arch / "APKINDEX.tar.gz"
    shutil.copyfile(real(f"{name}/APKINDEX.tar.gz"), index)
    return Repository("main", "apk", top.as_uri(), keyrings=(str(ALPINE_KEYS),)), arch, index


def load(repo: Repository, arch: str, cache: Path, log: list[str] | None = None) -> list[Package]:
    lines = log if log is not None else []
    return ApkAdapter().load(repo, arch, Fetcher(cache), lines.append).packages


def eager(repo: Repository, arch: str, index: Path) -> list[Package]:
    return parse_apkindex(read_index(index.read_bytes(), None, "x").text, repo.url, arch, repo.id)


def entries(cache: Path) -> list[Path]:
    return sorted((cache / "parsed").glob("*.idx"))


def no_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading the index text or scanning it fails the test: a load must be served whole from
    the cache (the signature check reads only the signature stream)."""
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the index was parsed again")

    monkeypatch.setattr(fastindex.Scanner, "scan", refuse)
    monkeypatch.setattr(loader, "read_index", refuse)


@pytest.mark.parametrize("name", sorted(REAL))
def test_every_field_of_every_real_package_is_the_eager_parsers(name: str, tmp_path: Path) -> None:
    repo, arch, index = mirror(tmp_path, name)
    packages = load(repo, arch, tmp_path / "cache")
    assert len(packages) == REAL[name][1]
    assert not any(loaded(p) for p in packages)  # nothing read in full yet
    assert_same(packages, eager(repo, arch, index))


def test_a_resolution_reads_only_the_packages_it_visits(tmp_path: Path) -> None:
    repo, arch, index = mirror(tmp_path, "alpine-316")
    packages = load(repo, arch, tmp_path / "cache")
    scheme = apk_version_scheme(arch)
    chosen = resolve(packages, [(Relation("build-base"),)], scheme).packages
    expected = resolve(eager(repo, arch, index), [(Relation("build-base"),)], scheme).packages
    assert [p.key for p in chosen] == [p.key for p in expected]
    assert_same(chosen, expected)
    # 21 packages chosen from 4,929: the stanzas read are those of the names looked at.
    assert sum(loaded(p) for p in packages) < 100


def _outcome(universe: Sequence[Package], names: Sequence[str], arch: str) -> object:
    """What the resolver answers for `names`: the packages chosen (every field), the reasons
    and warnings, or the refusal."""
    try:
        result = resolve(universe, [(Relation(n),) for n in names], apk_version_scheme(arch))
    except BootstrapError as exc:
        return (type(exc).__name__, exc.message, exc.hint)
    fields = [tuple(getattr(p, f.name) for f in dataclasses.fields(Package)) for p in result.packages]
    return fields, sorted(result.reasons.items()), list(result.warnings)


def test_the_resolvers_answers_do_not_change(tmp_path: Path) -> None:
    """The named and seeded random requests of test_resolve_reference_apk's real-index case,
    on the lazy universe and on the eager one."""
    repo, arch, index = mirror(tmp_path, "alpine-316")
    lazy, whole = load(repo, arch, tmp_path / "cache"), eager(repo, arch, index)
    names = sorted({p.name for p in whole})
    rng = random.Random("apk-real-index")
    requests = [["alpine-base"], ["build-base"], ["python3"], ["busybox", "openrc"], ["bash", "coreutils", "curl"]]
    requests += [rng.sample(names, rng.choice((1, 2, 3, 5, 10))) for _ in range(60)]
    for wanted in requests:
        assert _outcome(lazy, wanted, arch) == _outcome(whole, wanted, arch), wanted
    assert sum(loaded(p) for p in lazy) < len(lazy) // 2


def test_an_unchanged_index_is_served_from_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo, arch, index = mirror(tmp_path, "alpine-316")
    cache = tmp_path / "cache"
    first = load(repo, arch, cache)
    assert len(entries(cache)) == 1
    no_parsing(monkeypatch)
    log: list[str] = []
    again = load(repo, arch, cache, log)
    assert_same(again, first)
    assert_same(again, eager(repo, arch, index))
    # The signature is checked on a hit too, as apk checks it on every run.
    assert any("signature by alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub verified" in line for line in log)
    assert not any("corrupt" in line for line in log)


def test_a_cache_hit_still_verifies_the_signature(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo, arch, _ = mirror(tmp_path, "alpine-316")
    cache = tmp_path / "cache"
    load(repo, arch, cache)
    no_parsing(monkeypatch)
    other = make_key(tmp_path / "keys")
    with pytest.raises(UnknownSigner, match="signed by no trusted key"):
        load(dataclasses.replace(repo, keyrings=(str(other.public),)), arch, cache)
    unverified = load(dataclasses.replace(repo, keyrings=(), verify=False), arch, cache)
    assert len(unverified) == REAL["alpine-316"][1]


def test_the_rollback_check_sees_a_cached_index(tmp_path: Path) -> None:
    """The signed build time comes from the entry on a hit, and is vetted before use."""
    data = real("alpine-316/APKINDEX.tar.gz").read_bytes()
    keys = {p.name: p.read_bytes() for p in real("alpine-keys").glob("*.pub")}
    cache = IndexCache(tmp_path / "parsed", lambda line: None)

    def read(vet: Callable[[int], None] | None = None) -> loader.LoadedIndex:
        return loader.load_index(data, keys, "APKINDEX", lambda line: None, where="APKINDEX of main",
                                 origin="file:///m/x86_64/APKINDEX.tar.gz", cache=cache, vet=vet)

    made = read()
    seen: list[int] = []
    hit = read(seen.append)
    assert seen == [made.built] == [1669068262] and hit.description == made.description == "v3.16.3-13-g4d933a1fa3"
    assert hit.signer == made.signer == "alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub"
    assert hit.entry.meta["rows"] == made.entry.meta["rows"]

    def stale(built: int) -> None:
        raise StaleIndex("older than seen")

    with pytest.raises(StaleIndex):
        read(stale)


@pytest.fixture()
def signed_repo(tmp_path: Path) -> tuple[Repository, Path, Key]:
    """A repository of one package, its index signed by a throwaway key."""
    key = make_key(tmp_path / "keys")
    top = tmp_path / "repo"
    make_apk(ApkSpec("tiny", "1.0-r0", files={"etc": ("dir",), "etc/tiny": b"tiny\n"}, provides=("cmd:tiny=1.0-r0",)),
             key, top / "x86_64")
    make_index(top / "x86_64", key)
    return Repository("main", "apk", top.as_uri(), keyrings=(str(key.public),)), top / "x86_64", key


def test_a_changed_index_is_read_again(signed_repo: tuple[Repository, Path, Key], tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    repo, directory, key = signed_repo
    cache = tmp_path / "cache"
    assert [p.name for p in load(repo, "x86_64", cache)] == ["tiny"]
    (old,) = entries(cache)
    scans: list[int] = []
    scan = fastindex.Scanner.scan

    def counted(self: fastindex.Scanner, text: str) -> object:
        scans.append(len(text))
        return scan(self, text)

    monkeypatch.setattr(fastindex.Scanner, "scan", counted)
    load(repo, "x86_64", cache)
    assert scans == []  # unchanged: from the cache
    make_apk(ApkSpec("other", "2.0-r1", depends=("tiny",), files={"etc": ("dir",)}), key, directory)
    make_index(directory, key, mtime=1700000001)  # another index, another digest
    packages = load(repo, "x86_64", cache)
    assert len(scans) == 1
    assert [p.name for p in packages] == ["other", "tiny"]
    assert_same(packages, eager(repo, "x86_64", directory / "APKINDEX.tar.gz"))
    assert old not in entries(cache) and len(entries(cache)) == 1  # the superseded entry is gone


@pytest.mark.parametrize("damage", ["truncated", "overwritten", "emptied"])
def test_a_damaged_cache_entry_is_noticed_and_rebuilt(damage: str, tmp_path: Path) -> None:
    repo, arch, index = mirror(tmp_path, "alpine-316")
    cache = tmp_path / "cache"
    load(repo, arch, cache)
    (entry,) = entries(cache)
    body = entry.read_bytes()
    if damage == "truncated":
        entry.write_bytes(body[:len(body) // 2])
    elif damage == "overwritten":  # same size, some text in the middle replaced
        middle = len(body) // 2
        entry.write_bytes(body[:middle] + b"P:evil\nV:6.6.6-r0\n" + body[middle + 18:])
    else:
        entry.write_bytes(b"")
    log: list[str] = []
    packages = load(repo, arch, cache, log)
    assert [line for line in log if "corrupt" in line], log
    assert_same(packages, eager(repo, arch, index))
    log.clear()
    assert_same(load(repo, arch, cache, log), packages)  # rebuilt: a sound entry again
    assert not [line for line in log if "corrupt" in line]


def test_without_a_cache_the_entry_is_held_in_memory(tmp_path: Path) -> None:
    from tests.apk.apkrepo import DirFetcher

    repo, arch, index = mirror(tmp_path, "alpine-317")
    packages = ApkAdapter().load(repo, arch, DirFetcher(), lambda line: None).packages
    assert_same(packages, eager(repo, arch, index))
