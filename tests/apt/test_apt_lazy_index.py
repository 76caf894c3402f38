"""The fast pass over Packages (adapters/apt/fastindex.py) against the full reader
(packages.parse_packages): every field of every package the same, on real indexes and on
every layout deb822 allows; and the parsed-index cache as a build sees it: a second build reads
no index, a changed index is read again, a damaged entry is rebuilt with a notice, and the
image is byte for byte the one the full reader gives."""
from __future__ import annotations

import dataclasses
import glob
import gzip
import hashlib
import lzma
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bootstrap.adapters.apt import fastindex
from bootstrap.adapters.apt import index as apt_index
from bootstrap.adapters.apt.packages import parse_packages
from bootstrap.indexcache import new_entry
from bootstrap.types import Package, Repository
from tests.apt.aptrepo import Deb, build_deb, build_repo, make_key
from tests.server import Server

REALDATA = Path(__file__).resolve().parents[2].parent / "shared" / "realdata" / "apt"
BASE = "http://m/debian/"


def _scan(data: bytes, piece: int = 1 << 16) -> tuple[dict, Callable[[int, int], bytes]]:
    scanner = fastindex.Scanner("test index")
    with new_entry(None, "test", "", "") as out:
        for start in range(0, len(data), piece):
            out.add_text(scanner.feed(data[start:start + piece]))
        rest, meta = scanner.finish()
        out.add_text(rest)
        out.finish(meta)
    entry = out.entry()
    return entry.meta, entry.text


def _lazy(*indexes: bytes, piece: int = 1 << 16) -> list[Package]:
    numbering = fastindex.Numbering()
    out: list[Package] = []
    for data in indexes:
        meta, text = _scan(data, piece)
        out += fastindex.packages(meta, text, base_url=BASE, repo_id="main", numbering=numbering)
    return out


def _eager(*indexes: bytes) -> list[Package]:
    order: dict[str, int] = {}
    return [p for data in indexes for p in parse_packages(data, base_url=BASE, repo_id="main", order=order)]


def assert_same(lazy: list[Package], eager: list[Package]) -> None:
    assert len(lazy) == len(eager)
    for a, b in zip(lazy, eager, strict=True):
        for f in dataclasses.fields(Package):
            assert getattr(a, f.name) == getattr(b, f.name), (b.name, f.name)


def _real_indexes() -> Iterator[Path]:
    yield from sorted(REALDATA.glob("debian-bookworm-live/dists/*/main/binary-amd64/Packages"))
    # The host's own lists: the whole bookworm main when apt has fetched it (make install does).
    yield from sorted(Path(p) for p in glob.glob("/var/lib/apt/lists/*_dists_bookworm*_binary-amd64_Packages*"))


def _read(path: Path) -> bytes:
    if path.suffix in (".lz4", ".gz", ".xz", ".zst"):
        return subprocess.run(["/usr/lib/apt/apt-helper", "cat-file", str(path)], check=True,
                              capture_output=True).stdout
    return path.read_bytes()


@pytest.mark.parametrize("path", list(_real_indexes()), ids=lambda p: p.name[-60:])
def test_fast_pass_equals_full_reader_on_real_indexes(path: Path) -> None:
    data = _read(path)
    assert_same(_lazy(data, piece=1 << 20), _eager(data))


def test_real_indexes_are_there() -> None:
    """The test above must have something to judge (the realdata copy at least)."""
    assert any("realdata" in str(p) for p in _real_indexes())


STANZAS = (
    b"Package: a\nVersion: 1.0\nArchitecture: amd64\nPriority: required\nEssential: yes\n"
    b"Depends: libc6 (>= 2.36), b | c:any\nProvides: va (= 1), vb\nBreaks: old (<< 1)\n"
    b"Filename: pool/a_1.0_amd64.deb\nSize: 1234\nInstalled-Size: 20\nSHA256: " + b"ab" * 32 + b"\n"
    b"Description: first\n line two\n .\n line four\n\n"
    b"Package: b\nVersion: 2:3.4-5~bpo1\nArchitecture: all\nMulti-Arch: foreign\n"
    b"Pre-Depends: d\nConflicts: e [amd64], f:i386\nRecommends: g\nSuggests: h\nEnhances: i\nReplaces: j\n"
    b"Filename: ./pool/b.deb\n\n"
)
ODD = {
    "crlf": STANZAS.replace(b"\n", b"\r\n"),
    "blank lines with spaces": STANZAS.replace(b"\n\nPackage: b", b"\n \t\nPackage: b"),
    "three newlines": STANZAS.replace(b"\n\nPackage: b", b"\n\n\nPackage: b"),
    "lowercase fields": STANZAS.replace(b"Package: b", b"package: b").replace(b"Provides:", b"provides:"),
    "continued relations": STANZAS.replace(b"Depends: libc6 (>= 2.36), b", b"Depends: libc6 (>= 2.36),\n b"),
    "trailing blanks": STANZAS.replace(b"Version: 1.0\n", b"Version: 1.0  \n"),
    "comment between field and continuation": STANZAS.replace(b"Provides: va (= 1), vb",
                                                              b"Provides: va (= 1),\n# note\n vb"),
    "latin-1": STANZAS.replace(b"Description: first", b"Maintainer: J\xf6rg\nDescription: first"),
    "utf-8": STANZAS.replace(b"Description: first", "Maintainer: Jörg\nDescription: first".encode()),
    "no final newline": STANZAS.rstrip(b"\n"),
    "comment stanza": b"# only a comment\n\n" + STANZAS,
}


@pytest.mark.parametrize("name", list(ODD))
@pytest.mark.parametrize("piece", [1, 7, 1 << 16])
def test_fast_pass_equals_full_reader_on_every_layout(name: str, piece: int) -> None:
    assert_same(_lazy(ODD[name], piece=piece), _eager(ODD[name]))


def test_numbering_continues_across_the_indexes_of_a_repository() -> None:
    """apt numbers a name where the first index mentions it: a package of the second index
    named in a relation of the first keeps that number."""
    first = b"Package: x\nVersion: 1\nArchitecture: all\nDepends: late-one, other\n\n"
    second = b"Package: other\nVersion: 1\nArchitecture: all\n\nPackage: late-one\nVersion: 1\nArchitecture: all\n\n"
    lazy = _lazy(first, second)
    assert_same(lazy, _eager(first, second))
    assert [p.index_order for p in lazy] == [1, 3, 2]


@pytest.mark.parametrize("stanza, words", [
    (b"Package: a\nArchitecture: all\n\n", "without Package/Version"),
    (b"Package: a/../b\nVersion: 1\n\n", "refusing package name"),
    (b"Package: a\nVersion: 1\nSize: 99999999999999999\n\n", "claims"),
    (b"Package: a\nVersion: 1\nnot a field\n\n", "malformed index line"),
])
def test_a_bad_stanza_fails_as_with_the_full_reader(stanza: bytes, words: str) -> None:
    from bootstrap.errors import RepositoryIndexError

    with pytest.raises(RepositoryIndexError) as fast:
        _lazy(stanza)
    with pytest.raises(RepositoryIndexError) as full:
        _eager(stanza)
    assert words in fast.value.message and words in full.value.message


# --- through the repository loader and the command line ----------------------------------

BUSYBOX = Path("/bin/busybox")


def _debs(work: Path, version: str = "1.0") -> list[Path]:
    debs = [Deb("tiny-base", fields={"Priority": "required", "Essential": "yes"},
                files={"/bin/busybox": BUSYBOX.read_bytes()}, modes={"/bin/busybox": 0o755},
                symlinks={"/bin/sh": "busybox"}),
            Deb("hello", version, fields={"Depends": "libhello | libhello-alt", "Priority": "optional"},
                files={"/usr/bin/hello": b"#!/bin/sh\necho hello\n"}, modes={"/usr/bin/hello": 0o755}),
            Deb("libhello", files={"/usr/lib/libhello.so.1": b"v1"}, fields={"Provides": "libhello-alt"}),
            # minbase asks for apt too (the profile's list); a stand-in.
            Deb("apt", fields={"Priority": "important"}, files={"/usr/bin/apt-get": b"#!/bin/sh\n"})]
    return [build_deb(d, work) for d in debs]


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[tuple[Path, str, Path]]:
    """(mirror directory, its URL on 127.0.0.1, keyring)."""
    if shutil.which("apt-ftparchive") is None or not BUSYBOX.exists():
        raise RuntimeError("needs apt-ftparchive (apt-utils) and busybox-static: `make install`")
    keyring = make_key(tmp_path / "gnupg")
    build_repo(tmp_path / "mirror", _debs(tmp_path / "debs"), tmp_path / "gnupg")
    with Server(tmp_path / "mirror") as server:
        yield tmp_path / "mirror", server.url, keyring


def _load(url: str, keyring: Path, cache: Path, notes: list[str]) -> list[Package]:
    from bootstrap.fetch import Fetcher

    repo = Repository(id="main", family="apt", url=url, suite="bookworm", components=("main",),
                      keyrings=(str(keyring),))
    return apt_index.load_apt_repository(repo, "amd64", Fetcher(cache), notes.append)


def test_a_second_load_reads_no_index(mirror: tuple[Path, str, Path], tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    _, url, keyring = mirror
    notes: list[str] = []
    first = _load(url, keyring, tmp_path / "cache", notes)

    def no_scan(*args: object) -> None:
        raise AssertionError("the index was read again")

    monkeypatch.setattr(fastindex, "Scanner", no_scan)
    monkeypatch.setattr(apt_index, "_fetch_variant", no_scan)
    again = _load(url, keyring, tmp_path / "cache", notes)
    assert_same(again, first)
    assert sorted(p.name for p in again) == ["apt", "hello", "libhello", "tiny-base"]
    assert not any("corrupt" in n for n in notes)


def test_a_changed_index_is_read_again(mirror: tuple[Path, str, Path], tmp_path: Path) -> None:
    root, url, keyring = mirror
    notes: list[str] = []
    assert {p.version for p in _load(url, keyring, tmp_path / "cache", notes) if p.name == "hello"} == {"1.0"}
    shutil.rmtree(root)
    build_repo(root, _debs(tmp_path / "debs2", "2.0"), tmp_path / "gnupg")
    assert {p.version for p in _load(url, keyring, tmp_path / "cache", notes) if p.name == "hello"} == {"2.0"}
    assert len(list((tmp_path / "cache" / "parsed").iterdir())) == 1  # the old entry is gone


def test_an_entry_cut_short_under_a_running_build_is_an_error_not_a_crash(
        mirror: tuple[Path, str, Path], tmp_path: Path) -> None:
    """Deferred fields are read from the entry as they are asked for: an entry that someone
    truncates under a live build reads short, a one-line error (a mapping would be SIGBUS)."""
    from bootstrap.errors import RepositoryIndexError

    _, url, keyring = mirror
    packages = _load(url, keyring, tmp_path / "cache", [])
    (entry,) = (tmp_path / "cache" / "parsed").iterdir()
    with open(entry, "r+b") as live:
        live.truncate(64)
    with pytest.raises(RepositoryIndexError, match="changed while in use"):
        [p.depends for p in packages]


@pytest.mark.parametrize("how", ["truncate", "scribble"])
def test_a_damaged_entry_is_rebuilt_with_a_notice(mirror: tuple[Path, str, Path], tmp_path: Path, how: str) -> None:
    _, url, keyring = mirror
    notes: list[str] = []
    first = [dataclasses.replace(p) for p in _load(url, keyring, tmp_path / "cache", notes)]  # read in full
    (entry,) = (tmp_path / "cache" / "parsed").iterdir()
    data = bytearray(entry.read_bytes())
    if how == "truncate":
        entry.write_bytes(data[:100])
    else:
        data[len(data) // 2: len(data) // 2 + 8] = b"XXXXXXXX"
        entry.write_bytes(bytes(data))
    again = _load(url, keyring, tmp_path / "cache", notes)
    assert any("corrupt" in n and "reading the index again" in n for n in notes), notes
    assert_same(again, first)
    third: list[str] = []
    assert_same(_load(url, keyring, tmp_path / "cache", third), first)
    assert not any("corrupt" in n for n in third)


def _build(url: str, keyring: Path, cache: Path, out: Path) -> str:
    from click.testing import CliRunner

    from bootstrap.cli import cli

    result = CliRunner().invoke(cli, ["debian-bookworm", "--mirror", url, "--keyring", str(keyring),
                                      "--cache-dir", str(cache), "--variant", "minbase", "--include", "hello",
                                      "--mode", "extract", "-o", str(out), "-q"],
                                env={"SOURCE_DATE_EPOCH": "1700000000"}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return hashlib.sha256(out.read_bytes()).hexdigest()


def _eager_packages(meta: dict, text: Callable[[int, int], bytes], *, base_url: str, repo_id: str,
                    numbering: fastindex.Numbering) -> list[Package]:
    """What the full reader makes of the same index text (the way before the fast pass)."""
    end = max((o + n for o, n in zip(_offsets(meta, "offset"), _offsets(meta, "length"), strict=True)), default=0)
    return parse_packages(text(0, end), base_url=base_url, repo_id=repo_id)


def _offsets(meta: dict, key: str) -> list[int]:
    from array import array

    return list(array("Q", meta[key]))


def test_the_image_is_the_one_the_full_reader_gives(mirror: tuple[Path, str, Path], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Cold cache, warm cache, and the full reader: one tarball, byte for byte."""
    _, url, keyring = mirror
    cold = _build(url, keyring, tmp_path / "cache", tmp_path / "cold.tar.gz")
    warm = _build(url, keyring, tmp_path / "cache", tmp_path / "warm.tar.gz")
    monkeypatch.setattr(apt_index.fastindex, "packages", _eager_packages)
    full = _build(url, keyring, tmp_path / "other-cache", tmp_path / "full.tar.gz")
    assert cold == warm == full


def test_gzip_is_read_before_xz(mirror: tuple[Path, str, Path]) -> None:
    """The index variant read is the quickest to decode that the Release lists."""
    root, _, _ = mirror
    folder = root / "dists/bookworm/main/binary-amd64"
    plain = gzip.decompress((folder / "Packages.gz").read_bytes())
    assert plain == lzma.decompress((folder / "Packages.xz").read_bytes())
    release = apt_index.parse_release((root / "dists/bookworm/Release").read_bytes())
    assert [f.path.rsplit(".", 1)[-1] for f in release.index_candidates("main/binary-amd64/Packages")][:2] == \
        ["gz", "xz"]


REQUESTS = [["apt", "usr-is-merged"], ["build-essential"], ["python3", "git", "curl"], ["default-mta"],
            ["awk", "www-browser"], ["nonexistent-package"]]


@pytest.mark.parametrize("path", [p for p in _real_indexes() if "_dists_bookworm_main_" in p.name or
                                  "realdata" in str(p)][:2], ids=lambda p: p.name[-50:])
def test_resolutions_on_lazy_and_full_readings_agree(path: Path) -> None:
    """The same answers (or the same error) from the lazy universe as from the full one."""
    from bootstrap.adapters.apt.packages import debian_version_scheme
    from bootstrap.errors import ResolveError
    from bootstrap.resolve import resolve
    from bootstrap.types import Relation

    data = _read(path)
    lazy, eager = _lazy(data, piece=1 << 20), _eager(data)
    scheme = debian_version_scheme("amd64")
    required = sorted({p.name for p in eager if p.priority == "required"})
    for names in [required, *REQUESTS]:
        answers = []
        for universe in (lazy, eager):
            try:
                result = resolve(universe, [(Relation(n),) for n in names], scheme)
                answers.append(([p.key for p in result.packages], sorted(result.reasons.items())))
            except ResolveError as exc:
                answers.append(([str(exc)], []))
        assert answers[0] == answers[1], names
