"""Malformed input ends as a BootstrapError with a one-line message, never a raw exception.

Deterministic fuzzing (fixed seeds, a few hundred cases per reader, all of it in about a second)
of what a mirror or a user hands the yum family: compressed repodata, repomd.xml, primary.xml,
filelists.xml, primary.sqlite, rich dependencies, .rpm headers (and everything read from a
header that parsed), file capabilities, and spec %if expressions. A failure names the seed and
case, so it replays exactly.
"""
from __future__ import annotations

import bz2
import gzip
import io
import lzma
import random
import re
import sqlite3
from collections.abc import Callable, Collection, Iterator
from pathlib import Path

import pytest
import zstandard

from bootstrap.adapters.yum.caps import CapsError, capability_xattr
from bootstrap.adapters.yum.expr import evaluate
from bootstrap.adapters.yum.header import read_rpm
from bootstrap.adapters.yum.primary import parse_filelists, parse_primary, parse_primary_db
from bootstrap.adapters.yum.repomd import decompress, decompress_stream, parse_comps, parse_repomd
from bootstrap.adapters.yum.richdep import RichDepError, conflict_atoms, requirement
from bootstrap.adapters.yum.signature import check_digests
from bootstrap.adapters.yum.spec import buildrequires
from bootstrap.errors import BootstrapError, ConfigError, RepositoryIndexError, UnpackError
from tests.yum.synthrpm import rpm_bytes

URL = "http://mirror.example/os/"
PRIMARY = b"""<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="2">
<package type="rpm"><name>bash</name><arch>x86_64</arch>
  <version epoch="0" ver="5.1.8" rel="6.el9"/><checksum type="sha256" pkgid="YES">abcd</checksum>
  <summary>shell</summary><time file="1" build="2"/><size package="1800" installed="7000" archive="7100"/>
  <location xml:base="http://other.example/" href="Packages/bash-5.1.8-6.el9.x86_64.rpm"/>
  <format><rpm:license>GPLv3+</rpm:license><rpm:sourcerpm>bash.src.rpm</rpm:sourcerpm>
    <rpm:header-range start="4504" end="80000"/>
    <rpm:provides><rpm:entry name="/bin/sh"/><rpm:entry name="bash" flags="EQ" epoch="0" ver="5.1.8" rel="6"/>
    </rpm:provides>
    <rpm:requires><rpm:entry name="filesystem" flags="GE" ver="3" pre="1"/>
      <rpm:entry name="rpmlib(PayloadIsZstd)" flags="LE" ver="5.4.18-1"/>
      <rpm:entry name="(glibc if glibc-common else musl)"/><rpm:entry name="libc.so.6()(64bit)"/></rpm:requires>
    <rpm:conflicts><rpm:entry name="(zsh or ksh)"/></rpm:conflicts>
    <rpm:obsoletes><rpm:entry name="oldbash" flags="LT" epoch="1" ver="2"/></rpm:obsoletes>
    <rpm:recommends><rpm:entry name="(bash-doc and man)"/></rpm:recommends>
    <file>/usr/bin/bash</file><file type="dir">/etc/skel</file></format></package>
<package type="rpm"><name>filesystem</name><arch>noarch</arch><version ver="3.16" rel="2"/>
  <checksum type="sha">ef01</checksum><location href="Packages/filesystem-3.16-2.noarch.rpm"/>
  <format/></package>
</metadata>
"""
FILELISTS = b"""<?xml version="1.0"?>
<filelists xmlns="http://linux.duke.edu/metadata/filelists" packages="1">
<package pkgid="abcd" name="bash" arch="x86_64"><version epoch="0" ver="5.1.8" rel="6"/>
<file>/usr/bin/bash</file><file>/usr/share/doc/bash</file></package></filelists>
"""
REPOMD = b"""<?xml version="1.0"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo"><revision>1700000000</revision>
<data type="primary"><checksum type="sha256">00ff</checksum><open-checksum type="sha">11ee</open-checksum>
<location xml:base="http://base.example/" href="repodata/p-primary.xml.gz"/><size>1234</size></data>
<data type="primary_db"><checksum type="sha1">22dd</checksum><location href="repodata/p.sqlite.bz2"/>
<database_version>10</database_version></data>
<data type="group"><location href="repodata/comps.xml"/></data></repomd>
"""
COMPS = b"""<comps><group><id>core</id><packagelist><packagereq type="mandatory">bash</packagereq>
<packagereq>filesystem</packagereq></packagelist></group>
<environment><id>minimal</id><grouplist><groupid>core</groupid></grouplist></environment></comps>"""
# Values a hostile or broken mirror could put in any attribute or text of its XML.
NASTY = ["", "²", "-1", "9" * 40, "(a or", "((((((a))))))", "(a if b else c)", "(a or b or", "rpmlib(x)",
         "GE", "LT", "14", "sha999", "src", "\u00e9t\u00e9", "&amp;", "((a and b) or (c and d))", " 5 "]


def _typed(what: str, call: Callable[..., object], *args: object,
           allowed: type[Exception] = BootstrapError) -> None:
    """Run `call(*args)`; returning or raising `allowed` (one-line message) passes, all else fails."""
    try:
        call(*args)
    except allowed as exc:
        message = exc.message if isinstance(exc, BootstrapError) else str(exc)
        assert "\n" not in message, f"{what}: {message!r}"
    except Exception as exc:  # the point of the test: name the input that let it escape
        pytest.fail(f"{what}: {type(exc).__name__} escaped: {exc}")


def _mutants(data: bytes, rnd: random.Random, count: int, region: int = 0) -> Iterator[bytes]:
    """`count` damaged copies of `data`: cut short, bits flipped, a run overwritten, a 32-bit
    field rewritten (where counts, types and offsets live), or random bytes; damage lands in
    data[:region] when `region` is given (the headers of an rpm, not its payload)."""
    span = region or len(data)
    for i in range(count):
        out = bytearray(data)
        kind = i % 5
        if kind == 0:
            out = out[:rnd.randrange(len(out))]
        elif kind == 1:
            for _ in range(rnd.randint(1, 4)):
                out[rnd.randrange(span)] ^= 1 << rnd.randrange(8)
        elif kind == 2:
            at = rnd.randrange(span)
            out[at:at + 8] = rnd.randbytes(rnd.randint(1, 8))
        elif kind == 3:
            at = rnd.randrange(span - 4) & ~3
            value = rnd.choice([0, 1, 2, 5, 6, 7, 8, 9, 10, 0x7FFFFFFF, 0xFFFFFFFF, rnd.getrandbits(32)])
            out[at:at + 4] = value.to_bytes(4, "big")
        else:
            out = bytearray(rnd.randbytes(rnd.randrange(300)))
        yield bytes(out)


def _xml_mutants(data: bytes, rnd: random.Random, count: int) -> Iterator[bytes]:
    """Well-formed-looking XML with one attribute value or text replaced by a NASTY value, or
    a few characters garbled."""
    slots = [m.span(1) for m in re.finditer(rb'="([^"]*)"', data)]
    slots += [m.span(1) for m in re.finditer(rb">([^<]+)<", data)]
    for i in range(count):
        if i % 4 == 3:
            out = bytearray(data)
            for _ in range(rnd.randint(1, 3)):
                out[rnd.randrange(len(out))] = rnd.choice(b'<>&"=/ x\xff\x00')
            yield bytes(out)
            continue
        start, end = rnd.choice(slots)
        value = rnd.choice(NASTY).replace("&amp;", "&amp;" if rnd.random() < 0.5 else "&").encode()
        yield data[:start] + value + data[end:]


COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    ".gz": lambda d: gzip.compress(d, mtime=0), ".bz2": bz2.compress, ".xz": lzma.compress,
    ".zst": zstandard.ZstdCompressor().compress, "": lambda d: d,
}


def _primary(data: bytes, name: str) -> object:
    return parse_primary(decompress_stream(data, name), URL)


def _filelists(data: bytes, name: str, wanted: Collection[str] = ("/usr/bin/bash",)) -> object:
    return parse_filelists(decompress_stream(data, name), wanted)


@pytest.mark.parametrize("suffix", sorted(COMPRESSORS))
def test_damaged_compressed_repodata(suffix: str) -> None:
    rnd = random.Random(f"compressed{suffix}")
    name = f"repodata/abc-primary.xml{suffix}"
    good = COMPRESSORS[suffix](PRIMARY)
    assert decompress(good, name) == PRIMARY
    assert [p.name for p in parse_primary(decompress_stream(good, name), URL)] == ["bash", "filesystem"]
    for i, data in enumerate(_mutants(good, rnd, 80)):
        what = f"{name} case {i}"
        _typed(what, decompress, data, name)
        _typed(what, _primary, data, name)
        _typed(what, _filelists, data, name)


def test_damaged_compression_names_the_file() -> None:
    cut = gzip.compress(PRIMARY, mtime=0)[:-20]
    with pytest.raises(RepositoryIndexError, match=r"^repodata/x-primary\.xml\.gz: cannot decompress") as info:
        parse_primary(decompress_stream(cut, "repodata/x-primary.xml.gz"), URL)
    assert info.value.hint and "mirror" in info.value.hint
    with pytest.raises(RepositoryIndexError, match=r"x\.zst: cannot decompress"):
        decompress(b"\x28\xb5\x2f\xfd" + b"not zstd at all" * 4, "x.zst")


def test_garbled_primary_and_filelists_xml() -> None:
    rnd = random.Random("primary-xml")
    for i, data in enumerate(_xml_mutants(PRIMARY, rnd, 300)):
        _typed(f"primary case {i}", _primary, data, "primary.xml")
    for i, data in enumerate(_xml_mutants(FILELISTS, rnd, 100)):
        _typed(f"filelists case {i}", _filelists, data, "filelists.xml")


def test_garbled_repomd_and_comps() -> None:
    rnd = random.Random("repomd")
    assert parse_repomd(REPOMD).files["primary"].size == 1234
    for i, data in enumerate([*_xml_mutants(REPOMD, rnd, 200), *_mutants(REPOMD, rnd, 100)]):
        _typed(f"repomd case {i}", parse_repomd, data)
    for i, data in enumerate([*_xml_mutants(COMPS, rnd, 100), *_mutants(COMPS, rnd, 50)]):
        _typed(f"comps case {i}", parse_comps, data)


_SCHEMA = """
CREATE TABLE packages (pkgKey INTEGER PRIMARY KEY, pkgId TEXT, name TEXT, arch TEXT, epoch TEXT,
  version TEXT, release TEXT, checksum_type TEXT, location_href TEXT, location_base TEXT,
  size_package INTEGER, size_installed INTEGER, summary TEXT, rpm_sourcerpm TEXT);
CREATE TABLE requires (name TEXT, flags TEXT, epoch TEXT, version TEXT, release TEXT, pkgKey INTEGER,
  pre BOOLEAN DEFAULT FALSE);
CREATE TABLE provides (name TEXT, flags TEXT, epoch TEXT, version TEXT, release TEXT, pkgKey INTEGER);
CREATE TABLE conflicts (name TEXT, flags TEXT, epoch TEXT, version TEXT, release TEXT, pkgKey INTEGER);
CREATE TABLE obsoletes (name TEXT, flags TEXT, epoch TEXT, version TEXT, release TEXT, pkgKey INTEGER);
CREATE TABLE files (name TEXT, type TEXT, pkgKey INTEGER);
INSERT INTO packages VALUES (1, 'abcd', 'bash', 'x86_64', '0', '5.1', '6', 'sha256', 'P/bash.rpm', NULL,
  1800, 7000, 'shell', 'bash.src.rpm');
INSERT INTO packages VALUES (2, 'ef01', 'bash', 'src', '0', '5.1', '6', 'sha', 'S/bash.src.rpm', NULL, 1, 1, '', '');
INSERT INTO requires VALUES ('filesystem', 'GE', '0', '3', NULL, 1, 'TRUE');
INSERT INTO requires VALUES ('(a or b)', NULL, NULL, NULL, NULL, 1, 'FALSE');
INSERT INTO provides VALUES ('bash', 'EQ', '0', '5.1', '6', 1);
INSERT INTO conflicts VALUES ('(zsh or ksh)', NULL, NULL, NULL, NULL, 1);
INSERT INTO obsoletes VALUES ('oldbash', '2', '0', '1', NULL, 1);
INSERT INTO files VALUES ('/usr/bin/bash', 'file', 1);
"""
_COLUMNS = {"packages": ["pkgId", "name", "arch", "epoch", "version", "release", "checksum_type",
                         "location_href", "location_base", "size_package", "size_installed", "summary"],
            "requires": ["name", "flags", "epoch", "version", "pre"], "provides": ["name", "flags"],
            "conflicts": ["name"], "obsoletes": ["name", "flags"], "files": ["name"]}
_CELLS: list[object] = [None, 0, -1, 2**62, 1.5, b"\xff\xfe", "²", "(a or", "", "sha999"]


def _database(change: tuple[str, str, object] | None = None) -> bytes:
    con = sqlite3.connect(":memory:")
    try:
        con.executescript(_SCHEMA)
        if change is not None:
            table, column, value = change
            con.execute(f"UPDATE {table} SET {column} = ?", (value,))
        con.commit()
        return con.serialize()
    finally:
        con.close()


def test_odd_and_damaged_primary_sqlite() -> None:
    rnd = random.Random("primary-db")
    assert [p.key for p in parse_primary_db(_database(), URL)] == ["bash=5.1-6.x86_64"]
    for table, columns in _COLUMNS.items():  # every column, every odd value a writer could store
        for column in columns:
            for value in _CELLS:
                _typed(f"{table}.{column} = {value!r}", parse_primary_db, _database((table, column, value)), URL)
    for i, data in enumerate(_mutants(_database(), rnd, 150)):
        _typed(f"primary.sqlite case {i}", parse_primary_db, data, URL)
    _typed("not sqlite", parse_primary_db, b"SQLite format 3\0" + b"\xff" * 200, URL)


_RICH = ["(", "(", ")", ")", "and", "or", "if", "else", "unless", "with", "without", "a", "b",
         "c", ">=", "=", "<", "==", "1.0", "2:3-4"]


def test_random_rich_dependencies() -> None:
    rnd = random.Random("richdep")
    for i in range(600):
        text = " ".join(rnd.choice(_RICH) for _ in range(rnd.randrange(14)))
        _typed(f"rich case {i}: {text!r}", requirement, text, allowed=RichDepError)
        _typed(f"rich case {i}: {text!r}", conflict_atoms, text, allowed=RichDepError)
    for text in ("(" * 5000 + "a" + ")" * 5000, "(" + " or ".join(f"(a{i} and b{i})" for i in range(30)) + ")"):
        _typed("deep or wide", requirement, text, allowed=RichDepError)


def _read_everything(data: bytes) -> None:
    """Read an rpm's headers and everything the pipeline reads from them."""
    rpm = read_rpm(io.BytesIO(data))
    _ = (rpm.name, rpm.evr, rpm.arch, rpm.nevra, rpm.payload_compressor, rpm.payload_format)
    rpm.scripts()
    for info in rpm.files():
        if info.caps:
            capability_xattr(info.caps)
    check_digests(rpm, data[rpm.payload_offset:])


def test_damaged_rpm_headers() -> None:
    good = rpm_bytes()
    rpm = read_rpm(io.BytesIO(good))
    assert rpm.nevra == "synth-2:1.0-1.noarch"
    assert check_digests(rpm, good[rpm.payload_offset:]) == ["header-sha1", "md5"]
    rnd = random.Random("rpm-header")
    for i, data in enumerate(_mutants(good, rnd, 600, region=rpm.payload_offset)):
        _typed(f"rpm case {i}", _read_everything, data)


_CAPS = ["cap_", "chown", "net_raw", "sys_admin", "all", "63", "64", "99999999999", "²", "=", "=",
         "+", "-", "e", "p", "i", "ep", "x", "E", ",", " ", "cap_setfcap"]


def test_random_file_capabilities() -> None:
    assert capability_xattr("cap_net_raw=ep") == bytes.fromhex("0100000200200000000000000000000000000000")
    assert capability_xattr("cap_63+p") == bytes.fromhex("0000000200000000000000000000008000000000")
    rnd = random.Random("caps")
    for i in range(600):
        text = "".join(rnd.choice(_CAPS) for _ in range(rnd.randrange(10)))
        _typed(f"caps case {i}: {text!r}", capability_xattr, text)
    with pytest.raises(CapsError, match="unknown flag 'x'"):
        capability_xattr("cap_chown=ex")


def test_bad_capabilities_name_package_and_file(tmp_path: Path) -> None:
    from bootstrap.adapters.yum.adapter import _apply_header
    from bootstrap.adapters.yum.header import RpmFileInfo
    from bootstrap.root import Root
    from bootstrap.types import FileEntry

    entry = FileEntry("usr/bin/ping", "file", 0o755, 0, 0, 0)
    info = RpmFileInfo("/usr/bin/ping", 0o100755, "root", "root", 0, caps="cap_bogus=ep")
    with pytest.raises(UnpackError, match=r"^package iputils: /usr/bin/ping: file capabilities") as err:
        _apply_header(Root(tmp_path), "iputils", entry, info, {}, {})
    assert err.value.hint


_EXPR = ["(", ")", "!", "-", "+", "*", "/", "&&", "||", "==", "!=", "<", ">=", "0", "1", "42", '"a"',
         '""', "9" * 30, "word", "%{?x}", "%{rhel}"]
SPEC = "Name: x\nVersion: 1\nRelease: 1\nSummary: s\nLicense: l\n%if EXPR\nBuildRequires: a\n%endif\n" \
       "BuildRequires: b\n%description\nd\n"


def test_random_spec_conditions() -> None:
    assert evaluate("10 / -3") == -3 and evaluate("9" * 400 + " / 1") == int("9" * 400)
    rnd = random.Random("expr")
    for i in range(300):
        text = " ".join(rnd.choice(_EXPR) for _ in range(rnd.randrange(10)))
        _typed(f"expr case {i}: {text!r}", evaluate, text, allowed=ValueError)
        _typed(f"spec case {i}: {text!r}", buildrequires, SPEC.replace("EXPR", text), {"rhel": "9"},
               allowed=ConfigError)
    for text in ("(" * 3000 + "1" + ")" * 3000, "!" * 3000 + "1"):
        _typed("deep", evaluate, text, allowed=ValueError)
