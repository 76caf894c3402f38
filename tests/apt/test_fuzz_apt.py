"""Hypothesis fuzzing of the apt family's parsers, seeded from real archives (tests/fuzzing.py
says what is damaged and what each test checks: a BootstrapError or a result, in bounded time).

Seeds: Debian bookworm's three InRelease files, Ubuntu 8.10's Release files, Packages indexes
(bookworm-updates; chunks of Ubuntu 8.10's 1,310-stanza main and its debian-installer index),
the control files and the .debs themselves (ar + control.tar + data.tar), and host apt
sources. Without ../shared/realdata the copies in tests/data and embedded samples are used.
"""
from __future__ import annotations

import lzma
from datetime import UTC, datetime

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bootstrap import compression
from bootstrap.adapters import Installed
from bootstrap.adapters.apt import dpkg_db, fastindex, hostapt, index
from bootstrap.adapters.apt.packages import compare_versions, parse_packages, parse_relations, split_stanzas
from bootstrap.adapters.apt.payload import extract_deb, load_deb
from bootstrap.adapters.apt.release import parse_release
from bootstrap.adapters.apt.status import normalize_relations, parse_conffiles, parse_control, stanza_map, status_stanza
from bootstrap.errors import ConfigError, ConfigureError, RepositoryIndexError
from bootstrap.indexcache import new_entry
from bootstrap.root import Root
from bootstrap.trust import strip_clearsign
from bootstrap.types import Package, Repository
from bootstrap.unpack import Unpacker
from tests.fuzzing import (
    DictFetcher,
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

_DEBIAN = "apt/debian-bookworm-live/"
_UBUNTU = "apt/ubuntu-8.10-intrepid-cdrom/dists/intrepid/"


def _trimmed(data: bytes, keep: int = 25) -> bytes:
    """A Release with only the first `keep` lines of each hash section (bookworm's lists
    thousands): the same shape, fuzzed ten times faster."""
    out, count = [], 0
    for line in data.split(b"\n"):
        if line.startswith((b"MD5Sum:", b"SHA1:", b"SHA256:", b"SHA512:")):
            count = 0
        elif line.startswith(b" "):
            count += 1
            if count > keep:
                continue
        out.append(line)
    return b"\n".join(out)


RELEASES = [(name, _trimmed(data)) for name, data in
            seed_files(f"{_DEBIAN}dists/*/InRelease", f"{_UBUNTU}Release", f"{_UBUNTU}*/binary-amd64/Release")
            or data_files("apt/debian/dists/*/InRelease", "apt/ubuntu/dists/intrepid/Release")]


def _packages_seeds() -> list[bytes]:
    plain = [d for _, d in seed_files(f"{_DEBIAN}dists/bookworm-updates/main/binary-amd64/Packages")
             or data_files("apt/debian/dists/bookworm-updates/main/binary-amd64/Packages")]
    for name, raw in (seed_files(f"{_UBUNTU}main/binary-amd64/Packages.gz",
                                 f"{_UBUNTU}main/debian-installer/binary-amd64/Packages.gz")
                      or data_files("apt/ubuntu/dists/intrepid/restricted/binary-amd64/Packages.gz")):
        plain += chunks(compression.decompress(raw, name), b"\n\n", 12)
    return [c for seed in plain for c in chunks(seed, b"\n\n", 12, 2)]


PACKAGES = _packages_seeds()
DEBS = seed_files("apt/aptly/debs/*.deb", "apt/aptly/debs/*i386.udeb", f"{_DEBIAN}pool/main/s/samba/samba-ad-dc*")
CONTROLS = [b"Package: synth\nVersion: 1:2.0-1\nArchitecture: all\nMaintainer: A <a@b>\nDepends: a (>= 1) | b,"
            b" c:any\nConffiles:\n /etc/synth.conf 0123456789abcdef\nDescription: x\n y\n .\n z\n"]
SOURCES = (b"deb [arch=amd64 signed-by=/usr/share/keyrings/debian.gpg] http://deb.example/debian bookworm main\n"
           b"# deb http://off.example/debian bookworm main\ndeb-src http://deb.example/debian bookworm main\n"
           b"deb http://security.example/debian-security bookworm-security main\n")
DEB822_SOURCES = (b"Types: deb\nURIs: http://deb.example/debian\nSuites: bookworm bookworm-updates\n"
                  b"Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
                  b"Types: deb deb-src\nURIs: http://security.example/debian-security\nSuites: bookworm-security\n")
REPO = Repository("debian", "apt", "http://mirror.example/debian", suite="bookworm", components=("main", "contrib"),
                  verify=False)
DIST = index.suite_url(REPO)
NOW = datetime(2026, 11, 1, tzinfo=UTC)


def _control_seeds() -> list[bytes]:
    found = list(CONTROLS)
    for name, data in DEBS:
        with scratch() as tmp:
            (tmp / "p.deb").write_bytes(data)
            found.append(load_deb(tmp / "p.deb", name).control.get("control", b""))
    return found


CONTROLS = _control_seeds()


def _release(data: bytes) -> None:
    """What the index loader reads of a Release: every field, every file's strongest digest."""
    release = parse_release(strip_clearsign(data))
    for entry in release.files.values():
        entry.strongest()
    release.index_candidates("main/binary-amd64/Packages")
    _ = (release.arch_all_in_arch_indexes, release.date, release.valid_until, release.field("Suite"))


@given(mutants(RELEASES))
@fuzz(300)
def test_release_and_inrelease(data: bytes) -> None:
    typed(_release, data)


@example([("Date", "Sat, 11 Jul 99999999999 10:16:37 UTC"), ("Valid-Until", "Sat, 11 Jul 99999999999 10:16:37 UTC")])
@given(st.lists(st.tuples(st.sampled_from(["Date", "Valid-Until", "SHA256", "MD5Sum", "Architectures",
                                           "Acquire-By-Hash", "Components"]), nasty_text()), min_size=1))
@fuzz(150)
def test_release_fields(fields: list[tuple[str, str]]) -> None:
    text = "".join(f"{k}: {v}\n".replace("\n\n", "\n") for k, v in fields)
    typed(_release, text.encode("utf-8", "surrogatepass"))


def _load(release: bytes, packages: bytes) -> None:
    """The whole index loader (verification off) over a damaged Release or Packages."""
    text = strip_clearsign(release)
    files = {DIST + "InRelease": text, DIST + "main/binary-amd64/Packages": packages,
             DIST + "main/binary-amd64/Packages.xz": lzma.compress(packages)}
    index.load_apt_repository(REPO, "amd64", DictFetcher(files), lambda _: None, now=NOW)


@given(mutants(RELEASES[:3] or RELEASES), st.sampled_from(PACKAGES))
@fuzz(100)
def test_index_loader_damaged_release(release: bytes, packages: bytes) -> None:
    typed(_load, release, packages)


def _packages(data: bytes) -> None:
    """A Packages index, and what the resolver then does with it: relations for an
    architecture, versions compared."""
    pkgs = parse_packages(data, base_url="http://mirror.example/debian", repo_id="debian")
    for pkg in pkgs:
        parse_relations(dict(pkg.fields).get("Depends", ""), arch="amd64")
        compare_versions(pkg.version, pkgs[0].version)
        for dep in pkg.depends:
            for rel in dep:
                if rel.version is not None:
                    compare_versions(pkg.version, rel.version)


@example(b"Package: a\nVersion: 1.0 beta\nArchitecture: all\n\nPackage: b\nVersion: 1\nArchitecture: all\n")
@example(b"Package: a\nVersion: 1\nArchitecture: all\nDepends: b (>= :1)\n")
@given(mutants(PACKAGES))
@fuzz(300)
def test_packages_index(data: bytes) -> None:
    typed(_packages, data)


@given(mutants([lzma.compress(p) for p in PACKAGES[:4]], text=False))
@fuzz(100)
def test_compressed_packages_index(data: bytes) -> None:
    def read() -> None:
        """As a build reads it: inflated piece by piece through the fast pass, then every
        package's deferred fields (its stanza read again)."""
        with new_entry(None, "fuzz", "", "") as out:
            index._scan(data, "main/binary-amd64/Packages.xz", DIST, 1 << 24, None, out)
        entry = out.entry()
        pkgs = fastindex.packages(entry.take_meta(), entry.text, base_url="http://mirror.example/debian",
                                  repo_id="debian", numbering=fastindex.Numbering())
        for pkg in pkgs:
            parse_relations(pkg.field("Depends"), arch="amd64")
            compare_versions(pkg.version, pkgs[0].version)
    typed(read)


@example("1.0 beta", "1")
@example("9" * 5000, "1")
@example("a" * 70000, "")
@given(nasty_text(), nasty_text())
@fuzz(300)
def test_version_comparison(a: str, b: str) -> None:
    """dpkg's ordering: a version the index could carry either compares (antisymmetrically)
    or is refused as a RepositoryIndexError, never a ValueError out of the resolver."""
    forward = typed(compare_versions, a, b)
    if forward is not None:
        backward = compare_versions(b, a)
        assert (forward > 0) - (forward < 0) == -((backward > 0) - (backward < 0))


@given(st.lists(st.tuples(st.from_regex(r"\A[A-Za-z][A-Za-z0-9-]{0,12}\Z"),
                          st.lists(st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")),
                                           max_size=20), min_size=1, max_size=3)),
                min_size=1, max_size=8))
@fuzz(100)
def test_generated_deb822_round_trip(fields: list[tuple[str, list[str]]]) -> None:
    """Stanzas built field by field read back as written (first line stripped, continuation
    lines kept verbatim minus trailing blanks)."""
    lines = []
    for key, (first, *more) in fields:
        lines.append(f"{key}: {first}")
        lines += [" " + (m.rstrip() or ".") for m in more]
    text = "\n".join(lines) + "\n"
    parsed = typed(lambda: list(split_stanzas(text.encode())))
    if parsed is None:
        return
    assert [k for stanza in parsed for k, _ in stanza] == [k for k, _ in fields]
    assert [v.split("\n")[0] for stanza in parsed for _, v in stanza] == [f[0].strip() for _, f in fields]


def _control(data: bytes) -> None:
    """A control file into a dpkg status stanza (what dpkg_db writes), and back."""
    text = data.decode("utf-8", "replace")
    fields = parse_control(text, source="control")
    stanza = status_stanza(fields, "install ok unpacked", [("/etc/x", "newconffile", "")])
    stanza_map(stanza + text)
    parse_conffiles(dict(fields).get("Conffiles", ""))
    normalize_relations(dict(fields).get("Depends", ""))


@given(mutants(CONTROLS))
@fuzz(200)
def test_control_and_status(data: bytes) -> None:
    typed(_control, data)


TRIGGERS = b"interest-noawait foo-trig\ninterest /usr/lib/foo\nactivate-noawait ldconfig\ninterest bar # x\n"


def _register(triggers: bytes) -> None:
    """dpkg's database written for a package whose triggers control file is `triggers`."""
    with scratch() as tmp:
        root = Root(tmp)
        dpkg_db.prepare_root(root, arch="amd64")
        control = {"control": CONTROLS[0], "triggers": triggers}
        dpkg_db.register(root, [Installed(Package(name="synth", version="1", arch="all"), [], control)], "amd64")


@example(b"interest a\x00b\n")
@example(b"interest " + b"a" * 300 + b"\n")
@given(mutants([TRIGGERS]))
@fuzz(60)
def test_package_triggers(data: bytes) -> None:
    typed(_register, data)


def _deb(data: bytes) -> None:
    """A .deb read both ways the adapter reads one: loaded in memory, and streamed into a root."""
    with scratch() as tmp:
        path = tmp / "p.deb"
        path.write_bytes(data)
        load_deb(path, "p")
        (tmp / "root").mkdir()
        extract_deb(Unpacker(tmp / "root"), path, "p")


@given(mutants(DEBS or [b"!<arch>\n"], text=False, region=lambda d: 2048))
@fuzz(150)
def test_deb_files(data: bytes) -> None:
    typed(_deb, data)


def _sources(one_line: bytes, deb822: bytes) -> None:
    with scratch() as etc:
        (etc / "sources.list.d").mkdir()
        (etc / "sources.list").write_bytes(one_line)
        (etc / "sources.list.d" / "x.sources").write_bytes(deb822)
        hostapt.host_mirrors("debian", etc)


@example(b"deb [arch=amd64 http://deb.example/debian bookworm main\n", b"")
@given(mutants([SOURCES]), mutants([DEB822_SOURCES]))
@fuzz(150)
def test_host_apt_sources(one_line: bytes, deb822: bytes) -> None:
    typed(_sources, one_line, deb822)


def test_big_indexes_stay_bounded() -> None:
    """Ubuntu 8.10's whole main index (1,310 stanzas), a Depends of 10,000 continuation lines,
    a 100,000-line Description and a Release listing 30,000 files: parsed or refused, in
    an address space grown by less than 256 MiB."""
    whole = [compression.decompress(raw, name) for name, raw in seed_files(f"{_UBUNTU}main/binary-amd64/Packages.gz")]
    small = PACKAGES[0]
    cases = [*whole, small.replace(b"\nDepends:", b"\nDepends: a" + b",\n a" * 10000 + b",", 1),
             b"Package: a\nVersion: 1\nDescription: x\n" + b" line of a very long description\n" * 100000]
    for data in cases:
        bounded_memory(_packages, data)
    release = strip_clearsign(RELEASES[0][1])
    bounded_memory(_release, release + b"SHA256:\n" + b"".join(b" %064x 1 f%d\n" % (i, i) for i in range(30000)))


def test_found_regressions() -> None:
    """Inputs the fuzz found, each once an exception other than BootstrapError."""
    with pytest.raises(RepositoryIndexError, match=r"^invalid Debian version '1\.0 beta'$"):
        compare_versions("1.0 beta", "1")  # was ValueError, out of the resolver
    with pytest.raises(RepositoryIndexError, match=r"^invalid Debian version ':1'$"):
        compare_versions("1", ":1")  # was ValueError (from a relation: `b (>= :1)`)
    with pytest.raises(RepositoryIndexError, match=r"is 70000 characters long; refusing"):
        compare_versions("a" * 70000, "1")  # took 2.5 s per comparison (quadratic in python-debian)
    with pytest.raises(ConfigError, match=r"sources\.list: malformed line 'deb \[arch=amd64"):
        _sources(b"deb [arch=amd64 http://deb.example/debian bookworm main\n", b"")  # was StopIteration
    # was OverflowError from email.utils: a year past C's int is an unreadable Valid-Until
    with pytest.raises(RepositoryIndexError, match="Valid-Until"):
        parse_release(b"Valid-Until: Sat, 11 Jul 99999999999 10:16:37 UTC\n")
    assert parse_release(b"Date: Sat, 11 Jul 99999999999 10:16:37 UTC\n").date is None
    for name in (b"a\x00b", b"a" * 300):  # were ValueError (embedded null byte), OSError (name too long)
        with pytest.raises(ConfigureError, match=r"trigger name .* is not valid"):
            _register(b"interest " + name + b"\n")
