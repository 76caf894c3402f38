"""Hypothesis fuzzing of the yum family's parsers, seeded from real repositories
(tests/fuzzing.py says what is damaged and what each test checks). tests/yum/test_malformed.py
is the older, seeded-random fuzz of the same readers; its small documents are seeds here too.

Seeds: every repomd.xml of ../shared/realdata (CentOS Stream 9, Fedora 16 and 26, openSUSE
10.2-11.1, createrepo_c outputs), primary/filelists/comps in gzip and zstd (samples of CentOS
Stream 9's 1,125 packages and openSUSE 11.0's 2,430), primary.sqlite databases, and rpms from
CentOS 2.1 to 7, Fedora 16, RHEL 8, openSUSE 15.1 and every payload compressor. other.xml,
updateinfo and the like are never read by the tool, so they are not fuzzed.
"""
from __future__ import annotations

import gzip
import io
import sqlite3
import struct

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bootstrap.adapters.yum import header as h
from bootstrap.adapters.yum.header import read_rpm
from bootstrap.adapters.yum.payload import extract_rpm
from bootstrap.adapters.yum.primary import parse_filelists, parse_primary, parse_primary_db
from bootstrap.adapters.yum.repomd import decompress, decompress_stream, expand_groups, parse_comps, parse_repomd
from bootstrap.adapters.yum.richdep import RichDepError, conflict_atoms, requirement
from bootstrap.adapters.yum.spec import buildrequires
from bootstrap.adapters.yum.version import compare_evr, evr_satisfies, rpmvercmp, split_evr
from bootstrap.errors import ChecksumError, RepositoryIndexError
from bootstrap.unpack import Unpacker
from tests.fuzzing import bounded_memory, data_files, fuzz, mutants, nasty_text, scratch, seed_files, typed, xml_sample
from tests.yum import synthrpm
from tests.yum.test_malformed import COMPS, FILELISTS, PRIMARY, REPOMD, URL, _database, _read_everything

_REPODATA = "yum/*/repodata/"


def _thin(doc: bytes, files: int = 200) -> bytes:
    """`doc` with only its first `files` `<file>` lines (Fedora 16's filesystem package
    lists thousands): the same shape, fuzzed much faster."""
    lines = doc.split(b"\n")
    listed = [i for i, line in enumerate(lines) if line.lstrip().startswith(b"<file")]
    drop = set(listed[files:])
    return b"\n".join(line for i, line in enumerate(lines) if i not in drop)


def _opened(patterns: tuple[str, ...], marker: bytes, size: int) -> list[bytes]:
    """The decompressed documents matching `patterns` (zchunk left out), big ones sampled."""
    found = []
    for name, raw in seed_files(*(_REPODATA + p for p in patterns)):
        if not name.endswith(".zck"):
            found += [_thin(doc) for doc in xml_sample(decompress(raw, name), marker, size)]
    return found


REPOMDS = [REPOMD, *(d for _, d in seed_files(_REPODATA + "repomd.xml") + data_files("apt/expired-key/repomd.xml"))]
PRIMARIES = [PRIMARY, *_opened(("*primary.xml.gz", "*primary.xml.zst"), b"<package ", 4)]
FILELISTS_XML = [FILELISTS, *_opened(("*filelists.xml.gz", "*filelists.xml.zst"), b"<package ", 6)]
COMPSES = [COMPS, *_opened(("*comps*.xml", "*comps*.xml.gz"), b"<group>", 6)]
DATABASES = [decompress(raw, name) for name, raw in seed_files(_REPODATA + "*primary.sqlite.bz2")]
COMPRESSED = [raw for _, raw in seed_files(_REPODATA + "*primary.xml.gz", _REPODATA + "*primary.xml.zst")
              if len(raw) < 20000] or [gzip.compress(PRIMARY, mtime=0)]
RPMS = [synthrpm.rpm_bytes(), *(d for _, d in seed_files("yum/*/*.rpm"))]
SMALL_RPMS = [d for d in RPMS if len(d) < 40000]
SPECS = [d for _, d in data_files("rpm-spec/*.spec")]
WANTED = ("/usr/bin/bash", "/bin/sh", "/etc/fstab", "/usr/share/fonts", "/etc/fonts/fonts.conf")


def _schema_not_utf8() -> bytes:
    """A primary.sqlite whose schema holds a byte that is not UTF-8 (as a flipped bit leaves
    it): sqlite's message about it names the text, which Python decodes."""
    con = sqlite3.connect(":memory:")
    try:
        con.deserialize(_database())
        con.execute("CREATE INDEX pkgx ON requires (pkgKey)")
        con.execute("PRAGMA writable_schema=ON")
        bad = b"CREATE I\xceDEX pkgx ON requires (pkgKey)".hex()
        con.execute(f"UPDATE sqlite_master SET sql = CAST(x'{bad}' AS TEXT) WHERE name = 'pkgx'")
        con.commit()
        return con.serialize()
    finally:
        con.close()


def _primary(data: bytes) -> None:
    for pkg in parse_primary(io.BytesIO(data), URL, "base"):
        for dep in pkg.depends:
            for rel in dep:
                if rel.version is not None and rel.op is not None:
                    evr_satisfies(pkg.version, rel.op, rel.version)


# A mutant once turned the encoding into one Python has no codec for: LookupError escaped.
@example(b'<?xml version="1.0" encoding="bogus-enc"?><repomd/>')
@given(mutants(REPOMDS))
@fuzz(250)
def test_repomd(data: bytes) -> None:
    def read() -> None:
        repomd = parse_repomd(data)
        for entry in repomd.files.values():
            _ = (entry.url(URL), entry.limit)
        repomd.best("primary_db", "primary")
    typed(read)


@example(b'<?xml version="1.0" encoding="bogus-enc"?><metadata/>')
@example(PRIMARY.replace(b'package="1800"', b'package="' + b"9" * 5000 + b'"'))
@example(PRIMARY.replace(b'package="1800"', b'package="' + b"9" * 400 + b'"'))
@given(mutants(PRIMARIES))
@fuzz(300)
def test_primary_xml(data: bytes) -> None:
    typed(_primary, data)


@given(mutants(FILELISTS_XML))
@fuzz(150)
def test_filelists_xml(data: bytes) -> None:
    typed(parse_filelists, io.BytesIO(data), WANTED)


@given(mutants(COMPSES))
@fuzz(200)
def test_comps(data: bytes) -> None:
    def read() -> None:
        comps = parse_comps(data)
        expand_groups([f"@{gid}" for gid in list(comps.groups)[:3]] + ["bash"], comps)
        comps.merged(comps)
    typed(read)


@given(mutants(COMPRESSED, text=False))
@fuzz(100)
def test_compressed_primary(data: bytes) -> None:
    """Damaged gzip and zstd streams of real primaries, read as the loader reads them."""
    for name in ("repodata/x-primary.xml.gz", "repodata/x-primary.xml.zst", "repodata/x-primary.xml.xz"):
        typed(lambda n=name: parse_primary(decompress_stream(data, n, 1 << 24), URL))


@example(b"")
@example(_schema_not_utf8())
@given(mutants(DATABASES or [_database()], text=False))
@fuzz(100)
def test_primary_sqlite(data: bytes) -> None:
    typed(parse_primary_db, data, URL)


def _rpm_headers(data: bytes) -> int | None:
    try:
        return read_rpm(io.BytesIO(data)).payload_offset
    except Exception:
        return None


@given(mutants(RPMS, text=False, region=_rpm_headers))
@fuzz(300)
def test_rpm_lead_signature_and_header(data: bytes) -> None:
    """Damage inside the lead, signature header and main header of real rpms, then everything
    the pipeline reads from a header that parsed (test_malformed._read_everything)."""
    typed(_read_everything, data)


_TYPES = st.sampled_from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0xFFFFFFFF])
_TAGS = st.sampled_from([h.NAME, h.VERSION, h.RELEASE, h.EPOCH, h.ARCH, h.DIRINDEXES, h.BASENAMES, h.DIRNAMES,
                         h.FILEMODES, h.FILEFLAGS, h.FILESIZES, h.FILEUSERNAME, h.FILECAPS, h.OLDFILENAMES,
                         h.PREIN, h.PREINPROG, h.PAYLOADCOMPRESSOR, h.PAYLOADDIGEST, h.PAYLOADDIGESTALGO])
_ENTRY = st.tuples(_TAGS, _TYPES, st.binary(max_size=24), st.sampled_from([0, 1, 2, 3, 0xFFFF, 0x7FFFFFFF]))


@given(st.lists(_ENTRY, max_size=12), st.lists(_ENTRY, max_size=4))
@fuzz(200)
def test_generated_rpm_headers(main: list[tuple[int, int, bytes, int]], sig: list[tuple[int, int, bytes, int]]) -> None:
    """Headers built entry by entry (any tag, type, data and count), in a well-formed lead."""
    lead = synthrpm.rpm_bytes()[:h.LEAD_SIZE]
    signature = synthrpm.header(sig)
    data = lead + signature + b"\0" * (-len(signature) % 8) + synthrpm.header(main) + b"payload"
    typed(_read_everything, data)


def _extract(data: bytes) -> None:
    with scratch() as tmp:
        (tmp / "p.rpm").write_bytes(data)
        (tmp / "root").mkdir()
        extract_rpm(Unpacker(tmp / "root"), tmp / "p.rpm", "p")


@given(mutants(SMALL_RPMS, text=False))
@fuzz(150)
def test_rpm_payload_cpio(data: bytes) -> None:
    """The cpio payload as the unpacker reads it (libarchive's rpm reader), damaged anywhere."""
    typed(_extract, data)


@example("1:" + "9" * 5000, "1")
@example("9" * 5000 + ":1", "0:1")
@given(nasty_text(), nasty_text())
@fuzz(300)
def test_evr_comparison(a: str, b: str) -> None:
    """rpm's ordering never raises and is antisymmetric, whatever an index calls a version."""
    forward = typed(compare_evr, a, b)
    if forward is not None:
        assert compare_evr(b, a) == -forward
        assert rpmvercmp(a, a) == 0
        split_evr(a)
        for op in ("<", "<=", "=", ">=", ">"):
            evr_satisfies(a, op, b)


_RICH = st.sampled_from(["(", ")", "and", "or", "if", "else", "unless", "with", "without", "a", "b", ">=", "=",
                         "<", "1.0", "2:3-4", "(a", "b)", "\x00", "²"])


@given(st.lists(_RICH, max_size=16).map(" ".join) | nasty_text())
@fuzz(200)
def test_rich_dependencies(text: str) -> None:
    typed(requirement, text, allowed=RichDepError)
    typed(conflict_atoms, text, allowed=RichDepError)


@given(mutants(SPECS or [b"Name: x\nVersion: 1\nRelease: 1\nBuildRequires: a\n"]))
@fuzz(150)
def test_spec_buildrequires(data: bytes) -> None:
    typed(buildrequires, data.decode("utf-8", "surrogateescape"), {"rhel": "9"}, source="x.spec")


def test_big_metadata_stays_bounded() -> None:
    """CentOS Stream 9's whole primary (1,125 packages, 8 MB of XML) and filelists (6 MB), a
    package with 20,000 requires, and an rpm header claiming 2^20 entries: parsed or refused,
    in an address space grown by less than 256 MiB."""
    for name, raw in seed_files("yum/cs9-baseos-x86_64-2022/repodata/*.xml.gz"):
        if "comps" not in name:
            bounded_memory(lambda r=raw, n=name: parse_primary(decompress_stream(r, n), URL)
                           if "primary" in n else parse_filelists(decompress_stream(r, n), WANTED))
    many = PRIMARY.replace(b"<rpm:requires>", b"<rpm:requires>" + b'<rpm:entry name="a" flags="GE" ver="1"/>' * 20000)
    bounded_memory(_primary, many)
    entries = struct.pack(">II", 1 << 20, 1 << 30)
    bounded_memory(_read_everything, RPMS[0][:h.LEAD_SIZE] + h.HEADER_MAGIC + b"\0" * 4 + entries)


def test_found_regressions() -> None:
    """Inputs the fuzz found, each once an exception other than BootstrapError."""
    for digits in (400, 5000):  # were OverflowError (describe_size) and ValueError (int())
        with pytest.raises(RepositoryIndexError, match="past any real size or count"):
            parse_repomd(REPOMD.replace(b"<size>1234</size>", b"<size>" + b"9" * digits + b"</size>"))
        with pytest.raises(RepositoryIndexError, match="past any real size or count"):
            _primary(PRIMARY.replace(b'package="1800"', b'package="' + b"9" * digits + b'"'))
    assert compare_evr("9" * 5000 + ":1", "1:2") == 1  # was ValueError (int()'s digit limit)
    assert compare_evr("0009:1", "9:1") == 0 and compare_evr("10:1", "9:1") == 1
    with pytest.raises(RepositoryIndexError, match="is empty"):
        parse_primary_db(b"", URL)  # was MemoryError from sqlite's deserialize
    with pytest.raises(RepositoryIndexError, match="not UTF-8"):
        parse_primary_db(_schema_not_utf8(), URL)  # was UnicodeDecodeError
    # a header's name holding a newline made a two-line ChecksumError
    damaged = synthrpm.rpm_bytes(synthrpm.SynthRpm(name="fake\nbash"))[:-1] + b"!"
    with pytest.raises(ChecksumError, match=r"^package fake\\nbash-2:1\.0-1\.noarch: header\+payload MD5"):
        _read_everything(damaged)
