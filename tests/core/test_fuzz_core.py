"""Hypothesis fuzzing of the shared readers (tests/fuzzing.py says what is damaged and what each
test checks): profiles/ and repos.d/ files, mirror URLs, the archive headers the unpacker reads
through libarchive (tar in its ustar, GNU and pax forms, cpio newc from real rpms, ar from real
.debs, gzip around them), decompression by suffix, gpg's status lines and PEM keys.

Lock files are not fuzzed: the tool has none yet.
"""
from __future__ import annotations

import configparser
import gzip
import io
import lzma
import os
import tarfile
from pathlib import Path

import pytest
import zstandard
from hypothesis import example, given
from hypothesis import strategies as st

from bootstrap import compression
from bootstrap.adapters.yum.header import read_rpm
from bootstrap.config import Overrides, check_mirror, list_profiles, load_profile
from bootstrap.errors import ConfigError, UnpackError
from bootstrap.trust import rsa
from bootstrap.trust.gpgstatus import describe_failure, parse_status
from bootstrap.unpack import Unpacker, read_archive_members
from tests.fuzzing import bounded_memory, fuzz, mutants, nasty_text, scratch, seed_files, typed

PROJECT = Path(__file__).resolve().parents[2]


def _profile_cases() -> list[tuple[str, str, str]]:
    """(profile file, the repos.d file its profiles name, a profile name): two names for each
    pair of the project's data files."""
    cases: dict[tuple[str, str], list[str]] = {}
    for path in sorted((PROJECT / "profiles").glob("*.ini")):
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(path)
        for section in parser.sections():
            vendor = f"repos.d/{parser[section].get('vendor', path.stem)}.ini"
            cases.setdefault((f"profiles/{path.name}", vendor), []).append(section)
    return [(profile, vendor, name) for (profile, vendor), names in cases.items() for name in names[:2]]


# (profile file, repos.d file, profile name, which of the two files is damaged)
PROFILE_CASES = [(*case, damaged) for case in _profile_cases() for damaged in case[:2]]


def _load(case: tuple[str, str, str, str], data: bytes, mirror: bool) -> None:
    """The profiles of a data root holding one profile file and its vendor's repos.d file, one
    of them replaced by `data`: all listed, one loaded."""
    profile, vendor, name, damaged = case
    with scratch() as root:
        for rel in (profile, vendor):
            (root / rel).parent.mkdir(exist_ok=True)
            (root / rel).write_bytes(data if rel == damaged else (PROJECT / rel).read_bytes())
        list_profiles(root)
        overrides = Overrides(mirror="http://mirror.example/os" if mirror else None)
        load_profile(name, overrides, data_root=root, environ={})


@example((PROFILE_CASES[1], (PROJECT / PROFILE_CASES[1][3]).read_bytes().replace(b"gpgcheck = 1", b"priority = +-1"),
          True))
@example((PROFILE_CASES[0], "[alma9]\nrelease = 9\n# \xe9\n".encode("latin-1"), True))
@example((PROFILE_CASES[0], b"[alma9]\nvendor = ustar\x0000\n", True))
@given(st.sampled_from(PROFILE_CASES).flatmap(lambda case: st.tuples(
    st.just(case), mutants([(PROJECT / case[3]).read_bytes()]), st.booleans())))
@fuzz(150)
def test_profiles_and_repos_d(case: tuple[tuple[str, str, str, str], bytes, bool]) -> None:
    typed(_load, *case)


@given(nasty_text() | st.from_regex(r"\A(https?|file|ftp)://[^/]{0,20}(:[0-9a-z]{0,8})?(/.{0,20})?\Z"))
@fuzz(200)
def test_mirror_urls(url: str) -> None:
    typed(check_mirror, url, "--mirror")


_ENTRIES = (("etc", tarfile.DIRTYPE, ""), ("etc/passwd", tarfile.REGTYPE, ""), ("etc/link", tarfile.SYMTYPE, "passwd"),
            ("etc/hard", tarfile.LNKTYPE, "etc/passwd"), ("d" * 120 + "/long", tarfile.REGTYPE, ""),
            ("dev/null", tarfile.CHRTYPE, ""))


def _tar_seeds() -> list[bytes]:
    """Small tars of every entry kind, in the three header dialects libarchive reads."""
    found = []
    for fmt in (tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT):
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
            for name, kind, extra in _ENTRIES:
                info = tarfile.TarInfo(name)
                info.type, info.linkname, info.mtime, info.uname = kind, extra, 1700000000, "root"
                body = b"root:x:0:0::/root:/bin/sh\n" if kind == tarfile.REGTYPE else b""
                info.size = len(body)
                if fmt == tarfile.PAX_FORMAT:
                    info.pax_headers = {"SCHILY.xattr.user.x": "1", "mtime": "1700000000.5"}
                tar.addfile(info, io.BytesIO(body))
        found.append(out.getvalue())
    return found


def _real_archive_seeds() -> list[bytes]:
    """cpio payloads of real rpms (decompressed), .debs (ar), the head of a minirootfs tar."""
    found = []
    for name, data in seed_files("yum/rpm-payload-variants-go-rpmutils/*gzdio*.rpm",
                                 "yum/centos-release-legacy/centos-release-5*x86_64.rpm"):
        offset = read_rpm(io.BytesIO(data)).payload_offset
        found.append(compression.decompress(data[offset:], name + ".gz"))
    found += [d for _, d in seed_files("apt/aptly/debs/libboost*.deb")]
    for name, data in seed_files("apk/minirootfs/alpine-minirootfs-3.6.5-x86.tar.gz"):
        found.append(compression.decompress(data, name)[:40960])
    return found


ARCHIVES = _tar_seeds() + _real_archive_seeds()


def _unpack(data: bytes) -> None:
    """An archive extracted into a fresh root, and read as members; nothing lands beside
    the root."""
    with scratch() as tmp:
        (tmp / "root").mkdir()
        try:
            Unpacker(tmp / "root").extract(data, "p")
        finally:
            assert sorted(os.listdir(tmp)) == ["root"], "an entry landed outside the root"
        read_archive_members(data)


def _latin1_names() -> bytes:
    """A ustar archive whose entry name and link target are Latin-1 bytes, not UTF-8."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT, encoding="latin-1") as tar:
        tar.addfile(tarfile.TarInfo("caf\xe9"))
    return out.getvalue()


@example(_latin1_names())
@given(mutants(ARCHIVES, text=False, region=lambda d: 4096))
@fuzz(300)
def test_archive_headers(data: bytes) -> None:
    """Damage in the first 4 KiB: where the headers of the first entries are."""
    typed(_unpack, data)


COMPRESSED_ARCHIVES = [gzip.compress(a, mtime=0) for a in ARCHIVES[:3]] + [lzma.compress(ARCHIVES[0])] + \
    [zstandard.ZstdCompressor().compress(ARCHIVES[1])]


@given(mutants(COMPRESSED_ARCHIVES, text=False))
@fuzz(100)
def test_compressed_archives(data: bytes) -> None:
    """Damaged gzip, xz and zstd streams around tars, as libarchive detects and reads them."""
    typed(_unpack, data)


_SUFFIXES = (".gz", ".bz2", ".xz", ".lzma", ".zst", "")


@given(mutants([compression.decompress(a, "") for a in ARCHIVES[:2]], text=False), st.sampled_from(_SUFFIXES))
@fuzz(150)
def test_decompression(data: bytes, suffix: str) -> None:
    """compression's contract: the content, or ValueError (TooLarge among them), never another
    exception; the stream form, on read, what its decompressor raises (module docstring)."""
    typed(compression.decompress, data, "x" + suffix, 1 << 22, allowed=ValueError)

    def stream() -> bytes:
        try:
            return compression.decompress_stream(data, "x" + suffix, 1 << 22).read()
        except (OSError, EOFError, lzma.LZMAError, zstandard.ZstdError) as exc:  # the stream's contract
            raise ValueError(str(exc)) from None
    typed(stream, allowed=ValueError)


_STATUS = st.sampled_from(["NEWSIG", "GOODSIG", "EXPKEYSIG", "EXPSIG", "REVKEYSIG", "BADSIG", "ERRSIG",
                           "VALIDSIG", "KEYEXPIRED", "NO_PUBKEY", "TRUST_UNDEFINED"])


@example([("VALIDSIG", ["F00", "2026-01-01", "²"]), ("KEYEXPIRED", ["99999999999999999999"])])
@given(st.lists(st.tuples(_STATUS, st.lists(nasty_text(12), max_size=7)), max_size=6))
@fuzz(120)
def test_gpg_status_lines(lines: list[tuple[str, list[str]]]) -> None:
    """gpg's status output (keys' user ids and signature times come from the files checked)."""
    text = "\n".join(f"[GNUPG:] {tag} {' '.join(args)}" for tag, args in lines)

    def read() -> None:
        describe_failure(parse_status(text), "InRelease", [Path("/k.gpg")])
    typed(read)


KEYS = [d for _, d in seed_files("apk/alpine-keys/*6165ee59.rsa.pub", "apk/apko-rsa256/*.rsa.pub")]


@given(mutants(KEYS or [b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"]))
@fuzz(100)
def test_pem_keys(pem: bytes) -> None:
    """A damaged trusted key: a check with it fails as a VerificationError, never a
    cryptography exception."""
    class Sig:
        algo, key_name, signature = "sha256", "k.rsa.pub", b"\x01" * 256

    typed(rsa.verify, b"signed", [Sig()], {"k.rsa.pub": pem}, "index")


def test_big_archive_stays_bounded() -> None:
    """The whole Alpine 3.16 minirootfs extracted: in an address space grown by less than
    256 MiB (libarchive streams it)."""
    for _, data in seed_files("apk/minirootfs/alpine-minirootfs-3.16.9-x86_64.tar.gz"):
        bounded_memory(_unpack, data)


def test_found_regressions() -> None:
    """Inputs the fuzz found, each once an exception other than BootstrapError."""
    profile, vendor, name, _ = PROFILE_CASES[0]
    cases = [((profile, vendor, name, profile), "[alma9]\nrelease = 9\n# caf\xe9\n".encode("latin-1"),
              "not UTF-8 text"),  # was UnicodeDecodeError
             ((profile, vendor, name, profile), b"[alma9]\nvendor = ustar\x0000\n",
              "no file name in repos.d"),  # was ValueError: embedded null byte
             ((profile, vendor, name, vendor),
              (PROJECT / vendor).read_bytes().replace(b"gpgcheck = 1", b"priority = high"),
              "priority 'high' is not a number")]  # was ValueError from int()
    for case, data, message in cases:
        with pytest.raises(ConfigError, match=message):
            _load(case, data, True)
    with pytest.raises(UnpackError, match=r"an entry's name b'caf\\xe9' is not UTF-8 text"):
        _unpack(_latin1_names())  # was TypeError in the path check (libarchive-c gave bytes)
    # were ValueError from int() (its 4,300-digit limit, `²`) and from datetime (past 9999)
    sigs = parse_status("[GNUPG:] NEWSIG\n[GNUPG:] KEYEXPIRED " + "9" * 5000 + "\n[GNUPG:] VALIDSIG F 2026 ²\n"
                        "[GNUPG:] EXPKEYSIG AB uid\n[GNUPG:] KEYEXPIRED 999999999999\n")
    assert [(s.kind, s.key_expired, s.sig_time) for s in sigs] == [("EXPKEYSIG", (), None)]
    assert "expired on some time" in describe_failure(sigs, "InRelease", [])[0]
