"""The parsed-index cache (bootstrap.indexcache.store) and lazy packages (indexcache.lazy):
an entry comes back as written; another key, kind or index is another entry; a damaged file
is never used (a notice, and it is gone); writers never leave half a file; and a lazy package
is a Package in every way that counts."""
from __future__ import annotations

import copy
import dataclasses
import gc
import multiprocessing
import os
from collections.abc import Mapping
from pathlib import Path

import pytest

from bootstrap.collector import paused
from bootstrap.indexcache import IndexCache, lazy_class, loaded, make
from bootstrap.indexcache.relations import RelationTable, relations
from bootstrap.types import Checksum, Package, Relation

KIND, KEY, ORIGIN = "test-index/1", "sha256:" + "ab" * 32, "http://m/dists/x/main/binary-amd64/Packages"


def _store(cache: IndexCache, text: bytes = b"Package: a\nVersion: 1\n\n", meta: object = None,
           key: str = KEY, origin: str = ORIGIN) -> None:
    with cache.writer(KIND, key, origin) as out:
        for start in range(0, len(text), 7):  # in pieces, as an index streams in
            out.add_text(text[start:start + 7])
        out.finish(meta if meta is not None else {"rows": [{"name": "a"}], "n": len(text)})


def _cache(tmp_path: Path, notes: list[str]) -> IndexCache:
    return IndexCache(tmp_path / "parsed", notes.append)


def test_entry_comes_back_as_written(tmp_path: Path) -> None:
    notes: list[str] = []
    cache = _cache(tmp_path, notes)
    text = b"Package: a\nVersion: 1\n\nPackage: b\nVersion: 2\n\n"
    _store(cache, text, {"rows": [1, 2], "names": ("a", "b")})
    entry = cache.load(KIND, KEY, ORIGIN)
    assert entry is not None and entry.meta == {"rows": [1, 2], "names": ("a", "b")}
    assert entry.text(0, len(text)) == text and entry.text(23, 10) == text[23:33]
    assert notes == []
    assert [p.name for p in (tmp_path / "parsed").iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("other", [("other-kind/1", KEY, ORIGIN), (KIND, "sha256:" + "cd" * 32, ORIGIN),
                                   (KIND, KEY, ORIGIN + ".other")])
def test_another_kind_key_or_index_is_another_entry(tmp_path: Path, other: tuple[str, str, str]) -> None:
    cache = _cache(tmp_path, [])
    _store(cache)
    assert cache.load(*other) is None


def test_a_changed_index_supersedes_the_old_entry(tmp_path: Path) -> None:
    """A new digest of the same index is a new entry, and the old one is removed."""
    cache = _cache(tmp_path, [])
    _store(cache, key="sha256:old")
    _store(cache, key="sha256:new")
    assert cache.load(KIND, "sha256:old", ORIGIN) is None
    assert cache.load(KIND, "sha256:new", ORIGIN) is not None
    _store(cache, key="sha256:elsewhere", origin="http://m/other/Packages")  # another index stays apart
    assert cache.load(KIND, "sha256:new", ORIGIN) is not None
    assert len(list((tmp_path / "parsed").iterdir())) == 2


def _damage(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "flipped":
        data[len(data) // 3] ^= 0x40
        path.write_bytes(bytes(data))
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "garbage":
        path.write_bytes(os.urandom(len(data)))
    elif how == "appended":
        path.write_bytes(bytes(data) + b"x")


@pytest.mark.parametrize("how", ["truncated", "flipped", "empty", "garbage", "appended"])
def test_a_damaged_entry_is_dropped_with_a_notice(tmp_path: Path, how: str) -> None:
    notes: list[str] = []
    cache = _cache(tmp_path, notes)
    _store(cache)
    path = cache.path(KIND, KEY, ORIGIN)
    _damage(path, how)
    assert cache.load(KIND, KEY, ORIGIN) is None
    assert len(notes) == 1 and "corrupt" in notes[0] and ORIGIN in notes[0]
    assert not path.exists()
    _store(cache)  # made again by the next reading
    assert cache.load(KIND, KEY, ORIGIN) is not None and len(notes) == 1


def test_an_entry_renamed_to_another_key_is_not_trusted(tmp_path: Path) -> None:
    """The file name is only where to look: the entry says what it holds, and that is checked."""
    notes: list[str] = []
    cache = _cache(tmp_path, notes)
    _store(cache, key="sha256:one")
    cache.path(KIND, "sha256:one", ORIGIN).rename(cache.path(KIND, "sha256:two", ORIGIN))
    assert cache.load(KIND, "sha256:two", ORIGIN) is None
    assert "corrupt" in notes[0]


def test_a_failed_writer_leaves_nothing(tmp_path: Path) -> None:
    cache = _cache(tmp_path, [])
    with pytest.raises(RuntimeError), cache.writer(KIND, KEY, ORIGIN) as out:
        out.add_text(b"Package: a\n")
        raise RuntimeError("the index was corrupt halfway")
    assert cache.load(KIND, KEY, ORIGIN) is None
    assert list((tmp_path / "parsed").iterdir()) == []


def test_an_unwritable_cache_costs_the_cache_not_the_build(tmp_path: Path) -> None:
    notes: list[str] = []
    (tmp_path / "parsed").write_text("a file where the directory should be")
    cache = _cache(tmp_path, notes)
    with cache.writer(KIND, KEY, ORIGIN) as out:
        out.add_text(b"Package: a\n\n")
        out.finish({"n": 1})
    entry = out.entry()
    assert entry.meta == {"n": 1} and entry.text(0, 9) == b"Package: "
    assert len(notes) == 1 and "cannot write the parsed-index cache" in notes[0]


def _write_many(directory: str, n: int) -> None:
    cache = IndexCache(Path(directory), lambda line: None)
    text = b"".join(b"Package: p%d\nVersion: 1\n\n" % i for i in range(2000))
    for _ in range(n):
        _store(cache, text, {"n": len(text)})


def test_concurrent_writers_and_readers_share_one_entry(tmp_path: Path) -> None:
    """Four processes write the same entry over and over while this one reads it: every read
    is either a miss or the whole entry, never a damaged one."""
    directory = tmp_path / "parsed"
    notes: list[str] = []
    cache = IndexCache(directory, notes.append)
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_write_many, args=(str(directory), 15)) for _ in range(4)]
    for proc in procs:
        proc.start()
    seen = 0
    while any(p.is_alive() for p in procs) or not seen:
        entry = cache.load(KIND, KEY, ORIGIN)
        if entry is not None:
            seen += 1
            assert entry.meta["n"] == len(entry.text(0, entry.meta["n"]))
    for proc in procs:
        proc.join()
        assert proc.exitcode == 0
    assert notes == [] and seen
    assert [p.name for p in directory.iterdir()] == [cache.path(KIND, KEY, ORIGIN).name]


# --- relations and lazy packages ---------------------------------------------------------

def test_relation_table_round_trip() -> None:
    rels = [Relation("a"), Relation("b", ">=", "1:2.0-1"), Relation("c", arch="any"), Relation("a"),
            Relation("d", negated=True), Relation("e", narrow=(Relation("f", "=", "1"), Relation("g", negated=True)))]
    table = RelationTable()
    ids = table.add_all(rels)
    assert ids[0] == ids[3] and len(table.rows()) == 5
    made = relations(table.rows())
    assert [made[i] for i in ids] == rels
    assert [hash(made[i]) for i in ids] == [hash(r) for r in rels]


class _Detail:
    def __init__(self) -> None:
        self.calls = 0

    def detail(self, ref: object, eager: Mapping[str, object]) -> dict[str, object]:
        assert eager["name"] == "hello"
        self.calls += 1
        return {"depends": ((Relation("libc6", ">=", "2.36"),),), "location": f"http://m/{ref}.deb",
                "checksums": (Checksum("sha256", "00" * 32),)}


def _lazy(detail: _Detail) -> Package:
    cls = lazy_class(frozenset({"depends", "location", "checksums"}))
    return make(cls, detail, "hello", {"name": "hello", "version": "1.0", "arch": "amd64",
                                       "provides": (Relation("greeter"),)})


def test_a_lazy_package_reads_its_detail_once_and_only_when_asked() -> None:
    detail = _Detail()
    pkg = _lazy(detail)
    assert pkg.name == "hello" and pkg.provides == (Relation("greeter"),) and pkg.key == "hello=1.0.amd64"
    assert detail.calls == 0 and not loaded(pkg)
    assert pkg.location == "http://m/hello.deb"
    assert pkg.depends == ((Relation("libc6", ">=", "2.36"),),) and pkg.checksums[0].algo == "sha256"
    assert detail.calls == 1 and loaded(pkg)
    assert pkg.files == () and pkg.size == 0  # neither eager nor deferred: Package's defaults


def test_a_lazy_package_is_a_package() -> None:
    eager = Package("hello", "1.0", "amd64", depends=((Relation("libc6", ">=", "2.36"),),),
                    provides=(Relation("greeter"),), location="http://m/hello.deb",
                    checksums=(Checksum("sha256", "00" * 32),))
    pkg = _lazy(_Detail())
    assert isinstance(pkg, Package)
    assert pkg == eager and eager == pkg and hash(pkg) == hash(eager)
    assert dataclasses.replace(pkg, version="2.0") == dataclasses.replace(eager, version="2.0")
    assert copy.copy(_lazy(_Detail())) == eager
    assert repr(pkg) == repr(eager).replace("Package(", "LazyPackage(", 1)
    assert pkg != dataclasses.replace(eager, location="elsewhere")


def test_the_collector_is_paused_and_restored() -> None:
    assert gc.isenabled()
    with paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with paused():
            pass
        assert not gc.isenabled()  # left as it was
    finally:
        gc.enable()


@pytest.mark.parametrize("fail_at", [1, 3, "seal"])
def test_a_full_disk_costs_the_cache_not_the_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  fail_at: object) -> None:
    """The file stops taking writes partway (ENOSPC): what it holds is read back, the rest is
    kept in memory, a notice says so, and the entry handed back has the whole text."""
    import errno

    from bootstrap.indexcache import store

    notes: list[str] = []
    cache = _cache(tmp_path, notes)
    real, calls = os.pwrite, [0]

    def pwrite(fd: int, data: bytes | memoryview, at: int) -> int:
        calls[0] += 1
        if calls[0] == fail_at or (fail_at == "seal" and len(data) > 100 and calls[0] > 5):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd, data, at)

    monkeypatch.setattr(store.os, "pwrite", pwrite)
    text = b"".join(b"Package: p%d\nVersion: 1\n\n" % i for i in range(40))
    with cache.writer(KIND, KEY, ORIGIN) as out:
        for start in range(0, len(text), 100):
            out.add_text(text[start:start + 100])
        out.finish({"n": len(text), "pad": "x" * 200})
    entry = out.entry()
    assert entry.text(0, len(text)) == text and entry.meta["n"] == len(text)
    assert len(notes) == 1 and "no space left" in notes[0]
    monkeypatch.setattr(store.os, "pwrite", real)
    assert cache.load(KIND, KEY, ORIGIN) is None  # nothing half-written was stored
    assert [p for p in (tmp_path / "parsed").iterdir()] == []
