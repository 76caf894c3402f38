"""Hypothesis fuzzing of the apk family's parsers, seeded from real repositories
(tests/fuzzing.py says what is damaged and what each test checks).

Seeds: the signed APKINDEX.tar.gz files of Alpine 3.16 and 3.17 (4,929 and 5,004 packages,
sampled), apko's RSA-256, three-signature and melange test repositories, their .apk packages
(the real alpine-baselayout among them) and `.PKGINFO` files, and the /lib/apk/db/installed of
the Alpine 3.6 and 3.16 minirootfs tarballs. Without ../shared/realdata, tests/data's copies.
"""
from __future__ import annotations

import dataclasses
import gzip
import io
import marshal
import tarfile

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bootstrap.adapters.apk import fastindex
from bootstrap.adapters.apk.db import header_lines, parse_installed
from bootstrap.adapters.apk.index import iter_stanzas, package_from_stanza, parse_apkindex, parse_relation, read_index
from bootstrap.adapters.apk.package import parse_pkginfo, read_apk, split_signed
from bootstrap.adapters.apk.seed import choose_minirootfs, parse_latest_releases
from bootstrap.adapters.apk.version import compare_versions, valid_version, version_matches
from bootstrap.errors import RepositoryIndexError
from bootstrap.indexcache import Entry
from bootstrap.trust import rsa
from bootstrap.types import Package
from bootstrap.unpack import Unpacker
from tests.conftest import REALDATA
from tests.fuzzing import (
    DATA,
    bounded_memory,
    chunks,
    data_files,
    fuzz,
    mutants,
    nasty_text,
    scratch,
    seed_files,
    typed,
)

_INDEXES = ("apk/*/APKINDEX.tar.gz", "apk/*/*/APKINDEX.tar.gz")
_APKS = ("apk/*/*.apk", "apk/*/*/*.apk")
TARBALLS = seed_files(*_INDEXES) or data_files(*_INDEXES)
SMALL_TARBALLS = [d for _, d in TARBALLS if len(d) < 20000]
TEXTS = [c for name, d in TARBALLS for c in chunks(read_index(d, None, name).text.encode(), b"\n\n", 15)]
APKS = [d for _, d in seed_files(*_APKS) or data_files(*_APKS)]
PKGINFOS = [split_signed(d, "seed").control[".PKGINFO"] for d in APKS]
KEYS = rsa.load_keys(sorted({str(p.parent) for base in (REALDATA, DATA) if base.is_dir()
                             for p in base.glob("apk/**/*.rsa.pub")}))
RELEASES_YAML = (b"---\n-\n  title: \"Mini root filesystem\"\n  desc: \"Minimal root filesystem.\"\n"
                 b"  branch: v3.16\n  arch: x86_64\n  version: 3.16.9\n  flavor: alpine-minirootfs\n"
                 b"  file: alpine-minirootfs-3.16.9-x86_64.tar.gz\n  iso: alpine-minirootfs-3.16.9-x86_64.tar.gz\n"
                 b"  date: 2024-01-26\n  size: 2722681\n  sha256: 0123456789abcdef\n")


def _installed_seeds() -> list[bytes]:
    """/lib/apk/db/installed of each minirootfs tarball, sampled; a made-up one otherwise."""
    found = []
    for _, data in seed_files("apk/minirootfs/*.tar.gz"):
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(data))) as tar:
            member = tar.extractfile("./lib/apk/db/installed")
            if member is not None:
                found += chunks(member.read(), b"\n\n", 4)
    return found or [b"C:Q1abc=\nP:musl\nV:1.2.3-r0\nA:x86_64\nS:1\nI:2\nF:lib\nR:ld-musl.so.1\na:0:0:755\nZ:Q1x=\n"]


INSTALLED = _installed_seeds()


def _index_text(text: str) -> None:
    """An APKINDEX text, and what the resolver then does with it: versions validated,
    compared, matched against the dependencies."""
    pkgs = parse_apkindex(text, "http://mirror.example/alpine/v3.16/main", "x86_64", "main")
    for pkg in pkgs:
        valid_version(pkg.version)
        compare_versions(pkg.version, pkgs[0].version)
        for dep in pkg.depends:
            for rel in dep:
                if rel.op is not None and rel.version is not None:
                    version_matches(pkg.version, rel.op, rel.version)


@given(mutants(TEXTS))
@fuzz(300)
def test_apkindex_text(data: bytes) -> None:
    typed(_index_text, data.decode("utf-8", "replace"))


@given(st.lists(st.lists(st.tuples(st.sampled_from("CPVASITULomtcDpirk"), nasty_text()), min_size=1, max_size=10),
                min_size=1, max_size=4))
@fuzz(150)
def test_generated_apkindex(stanzas: list[list[tuple[str, str]]]) -> None:
    """Stanzas built letter by letter, any value."""
    text = "\n\n".join("\n".join(f"{k}:{v}" for k, v in stanza) for stanza in stanzas) + "\n"
    typed(_index_text, text)


def _lazy_as_eager(text: str) -> None:
    """The fast pass and its lazy packages (fastindex.py) against parse_apkindex: the same
    packages, every field, or the same refusal (type, message, hint) when the index is read,
    never later. The meta goes through marshal, as the parsed-index cache keeps it."""
    url, arch, where = "http://mirror.example/alpine/v3.16/main", "x86_64", "APKINDEX of main"
    try:
        eager = parse_apkindex(text, url, arch, "main")
    except RepositoryIndexError as exc:
        with pytest.raises(RepositoryIndexError) as refused:
            fastindex.Scanner(where).scan(text)
        assert (type(refused.value), refused.value.message, refused.value.hint) == (type(exc), exc.message, exc.hint)
        return
    kept, meta = fastindex.Scanner(where).scan(text)
    meta = marshal.loads(marshal.dumps(meta))
    lazy = fastindex.packages(meta, Entry(meta, kept, 0).text, repo_url=url, arch=arch, repo_id="main")
    assert len(lazy) == len(eager)
    for one, other in zip(lazy, eager, strict=True):
        for field in dataclasses.fields(Package):
            assert getattr(one, field.name) == getattr(other, field.name), field.name


# Texts iter_stanzas reads otherwise than as `X:` lines and empty lines (the fast pass
# rewrites them first), and fields the token pattern does not vouch for.
_IRREGULAR = ("P:a\r\nV:1-r0\r\np:x=1 y\r\n\r\nP:b\r\nV:2-r0\r\n",
              "P:a\nV:1-r0\n  \t\nP:b\nV:2\n", "# comment\nP:a\nnot a field\nV:1\n\n\n\nP:b\nV:1\n",
              "P:a\u2028V:1\x85p:z\x1cq:1\n", "\nP:é\nV:1\ni:!x y@tag>=2 z><Q1a=\nD:!c d=~1 e<~2\n",
              "P:a\nV:1\nD:b>= c\n", "P:a\nV:1\np:b=" + "1" * 1025 + "\n", "P:a\nV:1\nr:!!b\n",
              "P:a\nV:1\np:b>\n", "P:a\nV:1\nS:" + "9" * 30 + "\n", "P:a\nV:\n", "V:1\n",
              "P:a\nV:1\nA:x/y\n", "P:a\nV:1\nk:10\nk:x\np:one\np:two=2\n",
              "P:a\nV:1\np:!b=1 c\n", "P:a\nV:1\nD:\u3000b\u3000!c\n")


@example(_IRREGULAR[0])
@given(st.one_of(st.sampled_from(_IRREGULAR), mutants([t.encode() for t in _IRREGULAR] + TEXTS).map(
    lambda data: data.decode("utf-8", "replace"))))
@fuzz(300)
def test_lazy_index_reads_as_the_eager_parser(text: str) -> None:
    _lazy_as_eager(text)


@given(st.lists(st.lists(st.tuples(st.sampled_from("CPVASITULomtcDpirk"), nasty_text()), min_size=1, max_size=10),
                min_size=1, max_size=4))
@fuzz(150)
def test_lazy_generated_index_reads_as_the_eager_parser(stanzas: list[list[tuple[str, str]]]) -> None:
    _lazy_as_eager("\n\n".join("\n".join(f"{k}:{v}" for k, v in stanza) for stanza in stanzas) + "\n")


def test_lazy_irregular_texts() -> None:
    for text in _IRREGULAR:
        _lazy_as_eager(text)


def _tarball(data: bytes) -> None:
    """An APKINDEX.tar.gz read unverified and verified (any key we hold), then parsed."""
    index = read_index(data, None, "APKINDEX.tar.gz")
    _index_text(index.text)
    read_index(data, KEYS, "APKINDEX.tar.gz")


@given(mutants(SMALL_TARBALLS, text=False))
@fuzz(200)
def test_apkindex_tarball(data: bytes) -> None:
    typed(_tarball, data)


def _apk(data: bytes) -> None:
    """A .apk as the adapter reads one: split, its datahash checked, its files extracted."""
    apk = read_apk(data, "p.apk")
    with scratch() as root:
        Unpacker(root).extract(apk.data_stream, "p")
    header_lines(apk.checksum, apk.pkginfo, len(data))


@given(mutants(APKS, text=False))
@fuzz(200)
def test_apk_packages(data: bytes) -> None:
    typed(_apk, data)


@given(mutants(PKGINFOS))
@fuzz(100)
def test_pkginfo(data: bytes) -> None:
    fields = typed(parse_pkginfo, data.decode("utf-8", "replace"))
    if fields is not None:
        header_lines("Q1x=", fields, 1)


def _installed(data: bytes) -> None:
    """A minirootfs's package database: as the seed reads it (index stanzas), and as the
    database writer keeps it (every line in place)."""
    text = data.decode("utf-8", "replace")
    for stanza in iter_stanzas(text):
        package_from_stanza([(k, v) for k, v in stanza if k not in "FMRaZ"], "", "x86_64", "minirootfs")
    for kept in parse_installed(text):
        kept.format()


@given(mutants(INSTALLED))
@fuzz(150)
def test_installed_database(data: bytes) -> None:
    typed(_installed, data)


@given(mutants([RELEASES_YAML]))
@fuzz(100)
def test_latest_releases_yaml(data: bytes) -> None:
    def read() -> None:
        choose_minirootfs(parse_latest_releases(data.decode("utf-8", "replace")), "x86_64")
    typed(read)


@example("1.2.3" + ".1" * 8000, "1.2.3" + ".1" * 8000 + "_rc1")
@example("9" * 5000, "1")
@example("1.²", "1.2")
@given(nasty_text(), nasty_text())
@fuzz(300)
def test_version_comparison(a: str, b: str) -> None:
    """apk's ordering never raises and is antisymmetric, whatever an index calls a version."""
    forward = typed(compare_versions, a, b)
    if forward is not None:
        assert compare_versions(b, a) == -forward
        assert compare_versions(a, a) == 0
        valid_version(a)
        for op in ("<", "<=", "=", ">=", ">", "~"):
            version_matches(a, op, b)


def test_big_indexes_stay_bounded() -> None:
    """Alpine 3.16's whole signed index (4,929 packages), verified and parsed, and a package
    with 20,000 dependencies: in an address space grown by less than 256 MiB."""
    for name, data in TARBALLS:
        if len(data) > 500000 and "316" in name:
            bounded_memory(_tarball, data)
    bounded_memory(_index_text, "P:p\nV:1.0-r0\nD:" + " ".join(f"so:lib{i}.so.1>=1.{i}" for i in range(20000)) + "\n")


def test_found_regressions() -> None:
    """Inputs the fuzz found, each once an exception other than BootstrapError, or slow."""
    assert compare_versions("9" * 5000, "1") == -1  # was ValueError (int()'s digit limit): malformed
    assert compare_versions("1.²", "1.2") == -1 and not valid_version("1.²")  # was ValueError from int("²")
    assert compare_versions("1.2.3" + ".1" * 8000, "1.2.3" + ".1" * 8000 + "_rc1") == 1  # was quadratic
    with pytest.raises(RepositoryIndexError, match="is 2000 characters long; refusing"):
        package_from_stanza([("P", "a"), ("V", "1" * 2000)], "", "x86_64")
    with pytest.raises(RepositoryIndexError, match="is 2000 characters long; refusing"):
        parse_relation("a>=" + "1" * 2000)
