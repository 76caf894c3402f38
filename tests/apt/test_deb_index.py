"""apt index: Release/Packages parsers on real files, relations and versions, and the loader
against real signed trees (file://) and a repository built here with dpkg-deb, apt-ftparchive
and gpg, served on 127.0.0.1."""
from __future__ import annotations

import bz2
import gzip
import hashlib
import itertools
import lzma
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bootstrap.adapters.apt.index import (
    debian_version_scheme,
    load_apt_repository,
    parse_packages,
    parse_relations,
    parse_release,
)
from bootstrap.errors import ChecksumError, FetchError, RepositoryIndexError, RepositoryNotFound, VerificationError
from bootstrap.trust import strip_clearsign
from bootstrap.types import Checksum, Fetcher, FetchItem, Relation, Repository

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "apt"
DEBIAN_KEYS = (str(ROOT / "keys" / "debian" / "debian-archive-keyring.gpg"),)
UPDATES = DATA / "debian" / "dists" / "bookworm-updates"
INTREPID = DATA / "ubuntu" / "dists" / "intrepid"
needs_gpg = pytest.mark.skipif(shutil.which("gpgv") is None, reason="gpgv is needed")


class UrlFetcher:
    """The Fetcher interface (get_bytes, try_get_bytes) over urllib, recording each URL asked."""

    def forget(self, item: FetchItem) -> None:
        """Nothing is cached here: nothing to forget."""

    def __init__(self) -> None:
        self.requested: list[str] = []

    def _open(self, url: str) -> bytes | None:
        self.requested.append(url)
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                return resp.read()
        except urllib.error.HTTPError as exc:
            if exc.code in (404, 410):
                return None
            raise FetchError(f"{url}: HTTP {exc.code}") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, FileNotFoundError):
                return None
            raise FetchError(f"{url}: {exc.reason}") from None

    def try_get_bytes(self, url: str) -> bytes | None:
        return self._open(url)

    def get_bytes(self, url: str, checksums: Sequence[Checksum] = (), size: int = 0) -> bytes:
        data = self._open(url)
        if data is None:
            raise FetchError(f"{url}: not found")
        if size and len(data) != size:
            raise ChecksumError(f"{url}: size {len(data)} != {size}")
        for c in checksums:
            if hashlib.new(c.algo, data).hexdigest() != c.hexdigest:
                raise ChecksumError(f"{url}: {c.algo} mismatch")
        return data

    def get_file(self, item: FetchItem) -> Path:
        """get_bytes, kept in a temporary file (the index loader never asks for one)."""
        data = self.get_bytes(item.url, item.checksums, item.size)
        with tempfile.NamedTemporaryFile(delete=False, prefix="urlfetcher-") as out:
            out.write(data)
        return Path(out.name)

    def get_many(self, items: Sequence[FetchItem],
                 on_done: Callable[[int, Path], None] | None = None) -> list[Path]:
        paths = []
        for i, item in enumerate(items):
            paths.append(self.get_file(item))
            if on_done is not None:
                on_done(i, paths[-1])
        return paths


def _repo(url: str, suite: str, components: tuple[str, ...] = ("main",), **kw: object) -> Repository:
    return Repository(id="test", family="apt", url=url, suite=suite, components=components, **kw)  # type: ignore[arg-type]


# --- Release -------------------------------------------------------------------------------

def test_parse_release_bookworm() -> None:
    release = parse_release(strip_clearsign((DATA / "debian/dists/bookworm/InRelease").read_bytes()))
    assert (release.origin, release.suite, release.codename, release.version) == \
        ("Debian", "oldstable", "bookworm", "12.15")
    assert release.date == datetime(2026, 7, 11, 10, 16, 37, tzinfo=UTC)
    assert release.valid_until is None and release.acquire_by_hash
    assert release.components == ("main", "contrib", "non-free-firmware", "non-free")
    assert "amd64" in release.architectures and release.arch_all_in_arch_indexes
    entry = release.files["main/binary-amd64/Packages.xz"]
    assert set(entry.digests) == {"md5", "sha256"} and entry.strongest()[0] == "sha256"


def test_parse_release_ubuntu_810_old_date() -> None:
    release = parse_release((INTREPID / "Release").read_bytes())
    assert release.date == datetime(2008, 9, 30, 9, 45, 1, tzinfo=UTC)
    assert release.components == ("main", "restricted") and not release.acquire_by_hash
    entry = release.files["main/binary-amd64/Packages.gz"]
    assert entry.size == 432986 and set(entry.digests) == {"md5", "sha1", "sha256"}
    assert [f.path for f in release.index_candidates("main/binary-amd64/Packages")] == \
        ["main/binary-amd64/Packages.gz", "main/binary-amd64/Packages"]


def test_parse_release_flat_minimal() -> None:
    text = ("Date: Mon, 13 Feb 2012 13:05:39 UTC\nMD5Sum:\n d41d8cd98f00b204e9800998ecf8427e 0 Release\n"
            " 0123456789abcdef0123456789abcdef 1049 Packages\nSHA1:\n"
            " da39a3ee5e6b4b0d3255bfef95601890afd80709 0 Release\n")
    release = parse_release(text)
    assert release.suite == "" and release.architectures == () and release.date is not None \
        and release.date.year == 2012
    assert release.files["Packages"].size == 1049 and release.files["Release"].digests["sha1"]
    with pytest.raises(RepositoryIndexError):
        parse_release("Valid-Until: someday\n")


# --- Packages ------------------------------------------------------------------------------

def test_bookworm_updates_indexes_match_inrelease() -> None:
    release = parse_release(strip_clearsign((UPDATES / "InRelease").read_bytes()))
    for name in ("Packages", "Packages.xz"):
        raw = (UPDATES / "main/binary-amd64" / name).read_bytes()
        entry = release.files[f"main/binary-amd64/{name}"]
        assert len(raw) == entry.size and hashlib.sha256(raw).hexdigest() == entry.digests["sha256"]
    plain = (UPDATES / "main/binary-amd64/Packages").read_bytes()
    assert lzma.decompress((UPDATES / "main/binary-amd64/Packages.xz").read_bytes()) == plain
    pkgs = parse_packages(plain, base_url="http://m.invalid/debian", repo_id="updates")
    assert len(pkgs) == 38 and sum(p.arch == "all" for p in pkgs) == 7
    tz = next(p for p in pkgs if p.name == "tzdata")
    assert tz.location == "http://m.invalid/debian/pool/main/t/tzdata/" + tz.filename
    assert tz.checksums[0].algo == "sha256" and tz.fields[0] == ("Package", "tzdata")
    assert tz.provider_priority == 5 and tz.priority == "required" and tz.repo == "updates"


def test_parse_packages_fields() -> None:
    stanza = ("Package: libc6\nVersion: 2.36-9\nArchitecture: amd64\nMulti-Arch: same\n"
              "Pre-Depends: libgcc-s1\nDepends: libcrypt1 (>= 1:4.4.10-10~) | foo\n"
              "Breaks: nscd (<< 2.36)\nConflicts: old\nProvides: libc6-x (= 2.36), virt\n"
              "Essential: yes\nPriority: optional\nSection: libs\nInstalled-Size: 12\nSize: 99\n"
              "Filename: ./pool/libc6.deb\nMD5sum: AB\nSHA256: CD\nDescription: C\n library\n .\n more\n\n"
              "Package: b\nVersion: 1\nArchitecture: all\n")
    a, b = parse_packages(stanza.encode(), base_url="file:///r", repo_id="r")
    assert a.depends[0] == (Relation("libgcc-s1"),) and a.pre_depends == (a.depends[0],)
    assert a.depends[1] == (Relation("libcrypt1", ">=", "1:4.4.10-10~"), Relation("foo"))
    assert {r.name for r in a.conflicts} == {"nscd", "old"} and a.provides[0] == Relation("libc6-x", "=", "2.36")
    assert a.essential and a.multi_arch == "same" and (a.size, a.installed_size) == (99, 12)
    assert a.location == "file:///r/pool/libc6.deb" and a.provider_priority == 2
    assert [c.algo for c in a.checksums] == ["sha256", "md5"] and a.checksums[0].hexdigest == "cd"
    assert a.field("description") == "C\n library\n .\n more"
    assert b.arch == "all" and b.location == "" and b.depends == ()
    with pytest.raises(RepositoryIndexError):
        parse_packages(b"Version: 1\n", base_url="x", repo_id="r")


def test_intrepid_main_1310_packages(realdata: Path) -> None:
    raw = (realdata / "apt/ubuntu-8.10-intrepid-cdrom/dists/intrepid/main/binary-amd64/Packages.gz").read_bytes()
    pkgs = parse_packages(gzip.decompress(raw), base_url="http://m.invalid/ubuntu", repo_id="main")
    assert len(pkgs) == 1310 and len({p.name for p in pkgs}) == 1310
    assert all(p.location.startswith("http://m.invalid/ubuntu/pool/") and p.checksums for p in pkgs)


def test_parse_relations_edge_cases() -> None:
    deps = parse_relations("a (>= 1) | b:any, c [amd64], d(<<2.0),e (>>1), f (< 3), g (> 4),\n"
                           " h:native (= 1:2.0-1~bpo1) <!nocheck>, ,i [!i386]")
    assert deps[0] == (Relation("a", ">=", "1"), Relation("b", arch="any"))
    assert deps[2:6] == ((Relation("d", "<", "2.0"),), (Relation("e", ">", "1"),),
                         (Relation("f", "<=", "3"),), (Relation("g", ">=", "4"),))
    assert deps[6] == (Relation("h", "=", "1:2.0-1~bpo1", "native"),) and len(deps) == 8
    filtered = parse_relations("c [amd64], i [!i386], j [i386] | k", arch="i386")
    assert filtered == ((Relation("j"), Relation("k")),)
    assert parse_relations("j [amd64] | k", arch="i386") == ((Relation("k"),),)
    assert parse_relations("") == ()
    with pytest.raises(RepositoryIndexError):
        parse_relations("a (>= )")


def test_version_ordering() -> None:
    scheme = debian_version_scheme("amd64")
    ordered = ["1.0~rc1", "1.0", "1.0-1", "1.0-1+b1", "1.0a", "1.1~~", "1.1~", "1.1", "1:0.1", "2:0~"]
    for low, high in itertools.pairwise(ordered):
        assert scheme.compare(low, high) < 0 < scheme.compare(high, low), (low, high)
    assert scheme.compare("0:1.0", "1.0") == 0 and scheme.matches("1:1.0", ">", "9.9")
    assert scheme.matches("2.36-9+deb12u10", ">", "2.36-9+deb12u4")
    assert (scheme.arch_rank("amd64"), scheme.arch_rank("all"), scheme.arch_rank("i386")) == (2, 1, None)


# --- loader on real signed trees (file://) -------------------------------------------------

@needs_gpg
def test_load_bookworm_updates_by_hash_fallback() -> None:
    fetcher = UrlFetcher()
    notes: list[str] = []
    pkgs = load_apt_repository(_repo((DATA / "debian").as_uri(), "bookworm-updates", keyrings=DEBIAN_KEYS),
                               "amd64", fetcher, notes.append, now=datetime(2026, 11, 22, tzinfo=UTC))
    assert len(pkgs) == 38 and notes == []
    asked = [u.split("/dists/bookworm-updates/")[1] for u in fetcher.requested]
    assert asked[0] == "InRelease" and asked[1].startswith("main/binary-amd64/by-hash/SHA256/")
    assert "main/binary-amd64/Packages.xz" in asked and not any("binary-all" in u for u in asked)


def test_binary_all_only_where_the_release_lists_all() -> None:
    """Debian's security suite lists no `all` architecture yet ships a stale binary-all index;
    apt does not read it, neither do we. bookworm says its arch:all packages are in binary-amd64."""
    from bootstrap.adapters.apt.index import _index_paths, parse_release

    for suite in ("bookworm-security", "bookworm-updates"):
        text = strip_clearsign((DATA / "debian" / "dists" / suite / "InRelease").read_bytes())
        release = parse_release(text)
        assert release.index_candidates("main/binary-all/Packages")
        paths = _index_paths(release, _repo("http://m.invalid/debian", suite), "amd64", "d/")
        assert paths == ["main/binary-amd64/Packages"], suite
    listed = parse_release(b"Architectures: all amd64\nComponents: main\nSHA256:\n"
                           b" 00 1 main/binary-amd64/Packages\n 00 1 main/binary-all/Packages\n")
    assert _index_paths(listed, _repo("http://m.invalid/d", "x"), "amd64", "d/") == [
        "main/binary-amd64/Packages", "main/binary-all/Packages"]


@needs_gpg
def test_valid_until() -> None:
    url = (DATA / "debian").as_uri()
    later = datetime(2026, 12, 1, tzinfo=UTC)
    with pytest.raises(VerificationError, match="is expired \\(invalid since 2026-11-28 00:53:02 UTC\\)") as err:
        load_apt_repository(_repo(url, "bookworm-security", keyrings=DEBIAN_KEYS), "amd64",
                            UrlFetcher(), print, now=later)
    assert err.value.hint
    # Within its validity (or told not to check), it goes on to the index, absent from the copy.
    for now, options in ((datetime(2026, 11, 22, tzinfo=UTC), ()), (later, (("check_valid_until", "no"),))):
        with pytest.raises(FetchError):
            load_apt_repository(_repo(url, "bookworm-security", keyrings=DEBIAN_KEYS, options=options),
                                "amd64", UrlFetcher(), print, now=now)


@needs_gpg
def test_load_intrepid_release_gpg_and_errors() -> None:
    url, keys = (DATA / "ubuntu").as_uri(), (str(DATA / "ubuntu" / "mvo.gpg"),)
    pkgs = load_apt_repository(_repo(url, "intrepid", ("restricted",), keyrings=keys), "amd64", UrlFetcher(), print)
    assert len(pkgs) == 7 and all(p.location.startswith(url + "/pool/") for p in pkgs)
    with pytest.raises(RepositoryIndexError, match="universe"):
        load_apt_repository(_repo(url, "intrepid", ("universe",), keyrings=keys), "amd64", UrlFetcher(), print)
    with pytest.raises(RepositoryIndexError, match="architecture i386"):
        load_apt_repository(_repo(url, "intrepid", ("restricted",), keyrings=keys), "i386", UrlFetcher(), print)
    with pytest.raises(VerificationError, match="unknown key"):
        load_apt_repository(_repo(url, "intrepid", ("restricted",), keyrings=DEBIAN_KEYS), "amd64", UrlFetcher(), print)
    with pytest.raises(RepositoryNotFound):
        load_apt_repository(_repo(url, "jaunty", keyrings=keys), "amd64", UrlFetcher(), print)


def test_no_verify_warns() -> None:
    notes: list[str] = []
    pkgs = load_apt_repository(_repo((DATA / "debian").as_uri(), "bookworm-updates", verify=False),
                               "amd64", UrlFetcher(), notes.append)
    assert len(pkgs) == 38 and notes and notes[0].startswith("WARNING: not verifying")


# --- loader over HTTP against a repository made here with the real tools ---------------------

def _http_fetcher(tmp_path: Path) -> Fetcher:
    """The project's own fetcher, with a cache of the test's own."""
    from bootstrap.fetch import Fetcher as HttpFetcher

    return HttpFetcher(tmp_path / "cache")


@pytest.fixture(scope="module")
def local_archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(archive root, its key, another key): two debs, signed InRelease + Release.gpg."""
    for tool in ("dpkg-deb", "apt-ftparchive", "gpg", "gpgv"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is needed to build the test archive")
    from tests.apt.aptrepo import Deb, build_deb, build_repo, make_key

    work = tmp_path_factory.mktemp("archive")
    debs = [build_deb(Deb("hello", "2.10-3", fields={"Depends": "libc6 (>= 2.34)", "Priority": "optional"},
                          files={"usr/bin/hello": b"#!/bin/sh\necho hello\n"}), work),
            build_deb(Deb("base-files", "12.4", arch="all", fields={"Essential": "yes", "Priority": "required"},
                          files={"etc/debian_version": b"12.4\n"}), work)]
    key = make_key(work / "gnupg")
    other = make_key(work / "other-gnupg", name="Someone Else")
    root = work / "mirror"
    build_repo(root, debs, work / "gnupg", suite="bookworm")
    return root, key, other


def test_http_good_signature(local_archive: tuple[Path, Path, Path], tmp_path: Path) -> None:
    from tests.server import Server

    root, key, _ = local_archive
    with Server(root) as server:
        pkgs = load_apt_repository(_repo(server.url, "bookworm", keyrings=(str(key),)), "amd64",
                                   _http_fetcher(tmp_path), print)
        by_name = {p.name: p for p in pkgs}
        assert set(by_name) == {"hello", "base-files"}
        hello = by_name["hello"]
        assert hello.depends == ((Relation("libc6", ">=", "2.34"),),) and hello.version == "2.10-3"
        payload = urllib.request.urlopen(hello.location, timeout=10).read()
        assert hashlib.sha256(payload).hexdigest() == dict((c.algo, c.hexdigest) for c in hello.checksums)["sha256"]
        assert by_name["base-files"].essential and by_name["base-files"].arch == "all"


def test_http_wrong_key(local_archive: tuple[Path, Path, Path], tmp_path: Path) -> None:
    from tests.server import Server

    root, _, other = local_archive
    with Server(root) as server, pytest.raises(VerificationError, match="unknown key"):
        load_apt_repository(_repo(server.url, "bookworm", keyrings=(str(other),)), "amd64",
                            _http_fetcher(tmp_path), print)


def test_http_release_gpg_when_no_inrelease(local_archive: tuple[Path, Path, Path], tmp_path: Path) -> None:
    from tests.server import Server

    root, key, _ = local_archive
    copy = tmp_path / "mirror"
    shutil.copytree(root, copy)
    (copy / "dists/bookworm/InRelease").unlink()
    with Server(copy) as server:
        fetcher = UrlFetcher()
        pkgs = load_apt_repository(_repo(server.url, "bookworm", keyrings=(str(key),)), "amd64", fetcher, print)
        assert len(pkgs) == 2 and any(u.endswith("/Release.gpg") for u in fetcher.requested)


def test_http_packages_checksum_mismatch(local_archive: tuple[Path, Path, Path], tmp_path: Path) -> None:
    from tests.server import Server

    root, key, _ = local_archive
    copy = tmp_path / "mirror"
    shutil.copytree(root, copy)
    folder = copy / "dists/bookworm/main/binary-amd64"
    # Every variant tampered with: whichever the reader prefers must be caught.
    for index, codec in ((folder / "Packages.xz", lzma), (folder / "Packages.gz", gzip)):
        index.write_bytes(codec.compress(codec.decompress(index.read_bytes()).replace(b"2.10-3", b"9.99-9")))
    with Server(copy) as server, pytest.raises(ChecksumError):
        load_apt_repository(_repo(server.url, "bookworm", keyrings=(str(key),)), "amd64",
                            _http_fetcher(tmp_path), print)


@pytest.mark.parametrize("compression", ["zst", "bz2"])
def test_http_flat_repository(local_archive: tuple[Path, Path, Path], tmp_path: Path, compression: str) -> None:
    """`deb <url> sub/`: Packages and Release in sub/, Filename relative to <url>."""
    from tests.server import Server

    root, key, _ = local_archive
    flat = tmp_path / "flat"
    shutil.copytree(root / "pool", flat / "pool")
    sub = flat / "sub"
    sub.mkdir()
    packages = subprocess.run(["apt-ftparchive", "packages", "pool"], cwd=flat, check=True,
                              capture_output=True).stdout
    if compression == "zst":
        import zstandard

        (sub / "Packages.zst").write_bytes(zstandard.ZstdCompressor().compress(packages))
    else:
        (sub / "Packages.bz2").write_bytes(bz2.compress(packages))
    release = subprocess.run(["apt-ftparchive", "release", "."], cwd=sub, check=True, capture_output=True).stdout
    (sub / "Release").write_bytes(release)
    subprocess.run(["gpg", "--batch", "--homedir", str(key.parent), "--detach-sign", "--armor", "-o",
                    str(sub / "Release.gpg"), str(sub / "Release")], check=True, capture_output=True)
    with Server(flat) as server:
        pkgs = load_apt_repository(_repo(server.url, "sub/", (), keyrings=(str(key),)), "amd64",
                                   _http_fetcher(tmp_path), print)
    assert sorted(p.name for p in pkgs) == ["base-files", "hello"]
    assert all(p.location.startswith(server.url + "/pool/main/") for p in pkgs)
