"""Hostile index content (the signature and digests are valid, only the content is hostile),
one class of attack at a time, through each family's real parsers:

1. decompression bombs (gzip, bzip2, xz, zstd) refused at the size the signed index states, or
   at the ceiling, with bounded memory;
2. XML entities (billion laughs, external SYSTEM entities) refused;
3. absurd sizes and counts refused before anything is allocated for them;
4. 10,000-entry inputs parsed in linear time;
5. resolve failures print one bounded line;
6. names, versions and arches that would become paths refused;
7. malformed mirror URLs refused with a hint.
"""
from __future__ import annotations

import bz2
import gzip
import io
import lzma
import struct
import tarfile
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import pytest
import zstandard

from bootstrap import compression
from bootstrap.adapters.apk.index import parse_apkindex, parse_depends, read_index
from bootstrap.adapters.apt import index as apt_index
from bootstrap.adapters.apt.packages import parse_packages, parse_relations
from bootstrap.adapters.apt.payload import load_deb
from bootstrap.adapters.apt.release import parse_release
from bootstrap.adapters.yum.header import parse_header
from bootstrap.adapters.yum.primary import parse_filelists, parse_primary
from bootstrap.adapters.yum.repo import RepoState, load_packages
from bootstrap.adapters.yum.repomd import decompress_stream, parse_comps, parse_repomd
from bootstrap.adapters.yum.richdep import requirement
from bootstrap.config import Overrides, check_mirror, load_profile
from bootstrap.errors import ConfigError, RepositoryIndexError, ResolveError, UnpackError
from bootstrap.resolve import resolve
from bootstrap.types import Checksum, FetchItem, Package, Relation, Repository

T = TypeVar("T")
MiB = 1 << 20
MAX_GROWTH = 200 * MiB  # what a refused bomb may cost in memory


# ---------------------------------------------------------------------------------------------
# helpers


def _zeros(total: int, fill: bytes = b"\0") -> Iterator[bytes]:
    chunk = fill * MiB
    for _ in range(total // MiB):
        yield chunk


def gz_bomb(total: int, prefix: bytes = b"", fill: bytes = b"\0") -> bytes:
    """A gzip member inflating to `prefix` + `total` bytes of `fill` (about 1/1000 of that)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    out = [comp.compress(prefix)] + [comp.compress(c) for c in _zeros(total, fill)]
    return b"".join(out) + comp.flush()


def bz2_bomb(total: int) -> bytes:
    comp = bz2.BZ2Compressor(9)
    return b"".join(comp.compress(c) for c in _zeros(total)) + comp.flush()


def xz_bomb(total: int) -> bytes:
    comp = lzma.LZMACompressor(preset=0)
    return b"".join(comp.compress(c) for c in _zeros(total)) + comp.flush()


def zst_bomb(total: int) -> bytes:
    comp = zstandard.ZstdCompressor(level=3).compressobj()
    return b"".join(comp.compress(c) for c in _zeros(total)) + comp.flush()


BOMBS: dict[str, Callable[[int], bytes]] = {".gz": gz_bomb, ".bz2": bz2_bomb, ".xz": xz_bomb, ".zst": zst_bomb}


def bounded(action: Callable[[], object], *, seconds: float = 5.0) -> BaseException:
    """Run `action`, which must raise; returns the exception after checking that it came
    within `seconds` and that Python's allocations peaked below MAX_GROWTH meanwhile."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        action()
    except BaseException as exc:  # returned to the test, which checks its type
        caught = exc
    else:
        raise AssertionError("no error raised")
    finally:
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < MAX_GROWTH, f"peak {peak / MiB:.0f} MiB"
    assert elapsed < seconds, f"{elapsed:.1f} s"
    return caught


def one_line(exc: BaseException, limit: int = 1000) -> str:
    text = str(exc)
    assert "\n" not in text and len(text) <= limit, text[:200]
    return text


def timed(action: Callable[[], T]) -> T:
    """Run `action`. No clock is asserted here (speed targets live in `make bench`): the
    quadratic parsers these tests guard against took 25 s to 139 s on these inputs, so the
    tests' own timeout (LINEAR_TIMEOUT) is what fails a regression, whatever the load."""
    return action()


class FakeFetcher:
    """get_bytes by URL from a dict; records what was asked."""

    def forget(self, item: FetchItem) -> None:
        """Nothing is cached here: nothing to forget."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files, self.asked = files, []  # type: ignore[var-annotated]

    def get_bytes(self, url: str, checksums: Sequence[Checksum] = (), size: int = 0) -> bytes:
        self.asked.append(url)
        return self.files[url]


@pytest.fixture(scope="module")
def big_gz_bomb() -> bytes:
    """Inflates past the real ceiling (compression.INDEX_LIMIT, 1 GiB): ~1 MB."""
    return gz_bomb(compression.INDEX_LIMIT + 64 * MiB)


# ---------------------------------------------------------------------------------------------
# 1. decompression bombs


@pytest.mark.parametrize("suffix", sorted(BOMBS))
def test_one_shot_bomb_refused_at_the_limit(suffix: str) -> None:
    bomb = BOMBS[suffix](256 * MiB)
    assert len(bomb) < 2 * MiB
    exc = bounded(lambda: compression.decompress(bomb, "Packages" + suffix, 16 * MiB))
    assert isinstance(exc, compression.TooLarge)
    assert one_line(exc) == "inflates past 16 MiB; refusing"


@pytest.mark.parametrize("suffix", sorted(BOMBS))
def test_stream_bomb_refused_at_the_limit(suffix: str) -> None:
    bomb = BOMBS[suffix](256 * MiB)

    def drain() -> None:
        with compression.decompress_stream(bomb, "primary.xml" + suffix, 16 * MiB) as stream:
            while stream.read(MiB):
                pass

    assert isinstance(bounded(drain), compression.TooLarge)


@pytest.mark.parametrize("suffix", sorted(BOMBS))
def test_content_exactly_at_the_limit_is_accepted(suffix: str) -> None:
    data = BOMBS[suffix](4 * MiB)
    assert compression.decompress(data, "x" + suffix, 4 * MiB) == bytes(4 * MiB)
    with compression.decompress_stream(data, "x" + suffix, 4 * MiB) as stream:
        assert stream.read() == bytes(4 * MiB)


def test_plain_data_is_bounded_too() -> None:
    with pytest.raises(compression.TooLarge):
        compression.decompress(b"x" * 100, "Packages", 99)


def test_stream_at_the_real_ceiling_stays_small(big_gz_bomb: bytes) -> None:
    """No stated size: the 1 GiB ceiling; a stream never holds more than a read's worth."""
    def drain() -> None:
        with decompress_stream(big_gz_bomb, "primary.xml.gz") as stream:
            while stream.read(MiB):
                pass

    exc = bounded(drain, seconds=20)
    assert isinstance(exc, RepositoryIndexError)
    assert one_line(exc) == "primary.xml.gz inflates past 1024 MiB; refusing"


def _release(entries: dict[str, tuple[bytes | None, int]]) -> str:
    """A Release whose SHA256 section lists each path with the given data's digest and size."""
    import hashlib

    lines = [f" {hashlib.sha256(data or b'').hexdigest()} {size} {path}" for path, (data, size) in entries.items()]
    return "Suite: stable\nArchitectures: amd64\nComponents: main\nSHA256:\n" + "\n".join(lines) + "\n"


def test_apt_packages_bomb_refused_at_the_size_the_release_states() -> None:
    bomb = gz_bomb(256 * MiB, b"Package: a\nVersion: 1\n\n")
    release = parse_release(_release({"main/binary-amd64/Packages.gz": (bomb, len(bomb)),
                                      "main/binary-amd64/Packages": (None, 4000)}))
    fetcher = FakeFetcher({"http://m/dists/stable/main/binary-amd64/Packages.gz": bomb})
    exc = bounded(lambda: apt_index._read_index(release, "http://m/dists/stable/", "main/binary-amd64/Packages",
                                                 fetcher, None))  # type: ignore[arg-type]
    assert isinstance(exc, RepositoryIndexError)
    assert one_line(exc) == "http://m/dists/stable/main/binary-amd64/Packages.gz inflates past 4000 bytes; refusing"


def test_apt_packages_bomb_refused_at_the_ceiling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compression, "INDEX_LIMIT", 32 * MiB)
    bomb = xz_bomb(256 * MiB)
    release = parse_release(_release({"main/binary-amd64/Packages.xz": (bomb, len(bomb))}))
    fetcher = FakeFetcher({"http://m/d/main/binary-amd64/Packages.xz": bomb})
    exc = bounded(lambda: apt_index._read_index(release, "http://m/d/", "main/binary-amd64/Packages",
                                                 fetcher, None))  # type: ignore[arg-type]
    assert isinstance(exc, RepositoryIndexError) and "inflates past 32 MiB; refusing" in one_line(exc)


def _repomd(entries: str) -> bytes:
    return (b'<?xml version="1.0"?><repomd xmlns="http://linux.duke.edu/metadata/repo">'
            b"<revision>1</revision>" + entries.encode() + b"</repomd>")


def _data(kind: str, href: str, size: int, open_size: int | None) -> str:
    opened = f"<open-size>{open_size}</open-size>" if open_size is not None else ""
    return f'<data type="{kind}"><location href="{href}"/><size>{size}</size>{opened}</data>'


@pytest.mark.parametrize("suffix", [".gz", ".xz", ".zst"])
def test_yum_primary_bomb_refused_at_open_size(suffix: str) -> None:
    bomb = BOMBS[suffix](256 * MiB)
    repomd = parse_repomd(_repomd(_data("primary", f"repodata/primary.xml{suffix}", len(bomb), 5000)))
    assert repomd.files["primary"].limit == 5000
    state = RepoState(Repository("base", "yum", "http://m/"), "http://m/", repomd, (), False)
    fetcher = FakeFetcher({f"http://m/repodata/primary.xml{suffix}": bomb})
    exc = bounded(lambda: load_packages(state, fetcher, print))  # type: ignore[arg-type]
    assert isinstance(exc, RepositoryIndexError)
    assert one_line(exc) == f"repodata/primary.xml{suffix} inflates past 5000 bytes; refusing"


def test_yum_filelists_and_comps_bombs_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compression, "INDEX_LIMIT", 16 * MiB)
    bomb = gz_bomb(128 * MiB, b'<filelists xmlns="http://linux.duke.edu/metadata/filelists">', b" ")
    exc = bounded(lambda: parse_filelists(decompress_stream(bomb, "filelists.xml.gz"), {"/bin/sh"}))
    assert isinstance(exc, RepositoryIndexError) and "inflates past 16 MiB" in one_line(exc)
    from bootstrap.adapters.yum.repomd import decompress

    exc = bounded(lambda: parse_comps(decompress(zst_bomb(128 * MiB), "comps.xml.zst")))
    assert isinstance(exc, RepositoryIndexError) and "inflates past 16 MiB" in one_line(exc)


def _tar_gz(members: dict[str, bytes]) -> bytes:
    """One gzip stream of a tar fragment without end blocks (as apk writes them)."""
    raw = b""
    for name, data in members.items():
        info = tarfile.TarInfo(name)
        info.size = len(data)
        raw += info.tobuf(format=tarfile.USTAR_FORMAT) + data + bytes(-len(data) % 512)
    return gzip.compress(raw)


def test_apkindex_bomb_refused_at_the_real_ceiling(big_gz_bomb: bytes) -> None:
    exc = bounded(lambda: read_index(big_gz_bomb, None, "APKINDEX of http://m/main"), seconds=20)
    assert isinstance(exc, RepositoryIndexError)
    assert one_line(exc) == "APKINDEX of http://m/main: gzip stream 1 inflates past 1024 MiB; refusing"


def test_apkindex_control_bomb_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compression, "INDEX_LIMIT", 16 * MiB)
    signature = _tar_gz({".SIGN.RSA.key.rsa.pub": b"x" * 256})
    header = tarfile.TarInfo("APKINDEX")
    header.size = 128 * MiB
    control = gz_bomb(128 * MiB, header.tobuf(format=tarfile.USTAR_FORMAT))
    exc = bounded(lambda: read_index(signature + control, None, "APKINDEX of http://m/main"))
    assert isinstance(exc, RepositoryIndexError) and "inflates past 16 MiB; refusing" in one_line(exc)


def _ar(members: list[tuple[str, bytes]]) -> bytes:
    out = [b"!<arch>\n"]
    for name, data in members:
        out.append(f"{name:<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(data):<10}`\n".encode())
        out.append(data + (b"\n" if len(data) % 2 else b""))
    return b"".join(out)


def test_deb_payload_bomb_refused_by_installed_size(tmp_path: Path) -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        control = b"Package: bomb\nVersion: 1\nArchitecture: all\nInstalled-Size: 10\n"
        info = tarfile.TarInfo("./control")
        info.size = len(control)
        tar.addfile(info, io.BytesIO(control))
    deb = tmp_path / "bomb_1_all.deb"
    deb.write_bytes(_ar([("debian-binary", b"2.0\n"), ("control.tar.gz", raw.getvalue()),
                         ("data.tar.xz", xz_bomb(256 * MiB))]))
    exc = bounded(lambda: load_deb(deb, "bomb"))
    assert isinstance(exc, UnpackError)
    assert one_line(exc) == "package bomb: its data.tar.xz inflates past 16 MiB; refusing"


# ---------------------------------------------------------------------------------------------
# 2. XML entities

LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
          + b"".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">'.encode()
                     for i in range(1, 10))
          + b"]>")
PASSWD = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
PRIMARY_BODY = (b'<metadata xmlns="http://linux.duke.edu/metadata/common" packages="1"><package type="rpm">'
                b"<name>&%s;</name><arch>x86_64</arch></package></metadata>")


def _docs(prolog: bytes, entity: bytes) -> dict[str, Callable[[], object]]:
    primary = prolog + PRIMARY_BODY % entity
    return {
        "primary": lambda: parse_primary(io.BytesIO(primary), "http://m/"),
        "primary.gz": lambda: parse_primary(decompress_stream(gzip.compress(primary), "primary.xml.gz"), "http://m/"),
        "filelists": lambda: parse_filelists(io.BytesIO(
            prolog + b'<filelists xmlns="http://linux.duke.edu/metadata/filelists"><package pkgid="x">'
            b"<file>&" + entity + b";</file></package></filelists>"), {"/etc/passwd"}),
        "repomd": lambda: parse_repomd(prolog + b'<repomd xmlns="http://linux.duke.edu/metadata/repo"><revision>&'
                                       + entity + b";</revision></repomd>"),
        "comps": lambda: parse_comps(prolog + b"<comps><group><id>&" + entity + b";</id></group></comps>"),
    }


@pytest.mark.parametrize("doc", ["primary", "primary.gz", "filelists", "repomd", "comps"])
def test_billion_laughs_refused(doc: str) -> None:
    exc = bounded(_docs(LAUGHS, b"lol9")[doc], seconds=1)
    assert isinstance(exc, RepositoryIndexError)
    assert "declares an XML entity; refusing" in one_line(exc)


@pytest.mark.parametrize("doc", ["primary", "primary.gz", "filelists", "repomd", "comps"])
def test_external_entity_refused_and_nothing_read(doc: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_open, opened = builtins.open, []

    def spy(file: object, *args: object, **kwargs: object) -> object:
        opened.append(str(file))
        return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(builtins, "open", spy)
    with pytest.raises(RepositoryIndexError) as info:
        _docs(PASSWD, b"e")[doc]()
    assert "declares an XML entity; refusing" in one_line(info.value)
    assert "root:" not in str(info.value) and "/etc/passwd" not in opened


def test_a_doctype_without_entities_is_fine() -> None:
    """comps.xml carries `<!DOCTYPE comps PUBLIC … "comps.dtd">`; it must still parse."""
    comps = parse_comps(b'<?xml version="1.0"?>\n<!DOCTYPE comps PUBLIC "-//Red Hat, Inc.//DTD Comps info//EN" '
                        b'"comps.dtd">\n<comps><group><id>core</id><packagelist>'
                        b'<packagereq type="mandatory">bash</packagereq></packagelist></group></comps>')
    assert comps.groups["core"].packages["mandatory"] == ("bash",)


# ---------------------------------------------------------------------------------------------
# 3. absurd sizes and counts


@pytest.mark.parametrize("tag", ["size", "open-size"])
def test_repomd_absurd_size_refused(tag: str) -> None:
    sizes = {"size": (10**15, None), "open-size": (1000, 10**15)}[tag]
    with pytest.raises(RepositoryIndexError) as info:
        parse_repomd(_repomd(_data("primary", "repodata/primary.xml.gz", *sizes)))
    assert f"claims 'primary' has {tag} 953674316 MiB; refusing" in one_line(info.value)


def test_apt_release_absurd_index_size_refused_unfetched() -> None:
    release = parse_release(_release({"main/binary-amd64/Packages.xz": (b"", 100),
                                      "main/binary-amd64/Packages": (None, 10**15)}))
    fetcher = FakeFetcher({})
    with pytest.raises(RepositoryIndexError) as info:
        apt_index._read_index(release, "http://m/d/", "main/binary-amd64/Packages",
                              fetcher, None)  # type: ignore[arg-type]
    assert "claims main/binary-amd64/Packages is 953674316 MiB; refusing" in one_line(info.value)
    assert fetcher.asked == []


@pytest.mark.parametrize("field", ["Size", "Installed-Size"])
def test_apt_stanza_absurd_size_refused(field: str) -> None:
    with pytest.raises(RepositoryIndexError) as info:
        parse_packages(f"Package: a\nVersion: 1\nArchitecture: all\n{field}: {10**18}\n",
                       base_url="http://m/", repo_id="main")
    assert f"{field} of a claims" in one_line(info.value)


@pytest.mark.parametrize("attr", ["package", "installed"])
def test_yum_primary_absurd_size_refused(attr: str) -> None:
    xml = (b'<metadata xmlns="http://linux.duke.edu/metadata/common"><package type="rpm"><name>a</name>'
           b'<arch>noarch</arch><version ver="1" rel="1"/><size ' + attr.encode() + b'="1000000000000000000"/>'
           b"</package></metadata>")
    with pytest.raises(RepositoryIndexError) as info:
        parse_primary(io.BytesIO(xml), "http://m/", "base")
    assert "of a claims 1000000000000000000 bytes; refusing" in one_line(info.value)


@pytest.mark.parametrize("letter", ["S", "I"])
def test_apk_absurd_size_refused(letter: str) -> None:
    with pytest.raises(RepositoryIndexError) as info:
        parse_apkindex(f"P:a\nV:1-r0\n{letter}:{10**18}\n", "http://m/main", "x86_64", "main")
    assert "claims 1000000000000000000 bytes; refusing" in one_line(info.value)


def test_rpm_header_claiming_2_31_entries_refused_unallocated() -> None:
    header = b"\x8e\xad\xe8\x01\0\0\0\0" + struct.pack(">II", 1 << 31, 1 << 31) + bytes(64)
    exc = bounded(lambda: parse_header(header), seconds=0.1)
    assert isinstance(exc, UnpackError) and "truncated rpm header" in one_line(exc)


# ---------------------------------------------------------------------------------------------
# 4. no quadratic parsers (10,000 entries: linear ones take milliseconds, the quadratic ones
# took 25 s and more)

N = 10_000
LINEAR_TIMEOUT = pytest.mark.timeout(20)


@LINEAR_TIMEOUT
@pytest.mark.parametrize("count", [N, 2 * N])
def test_yum_primary_many_requires_linear(count: int) -> None:
    entries = "".join(f'<rpm:entry name="lib{i}.so()(64bit)"/>' for i in range(count))
    xml = ('<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm">'
           '<package type="rpm"><name>a</name><arch>x86_64</arch><version ver="1" rel="1"/><format>'
           f'<rpm:requires>{entries}{entries}</rpm:requires></format></package></metadata>').encode()
    (pkg,) = timed(lambda: parse_primary(io.BytesIO(xml), "http://m/"))
    assert len(pkg.depends) == count and pkg.depends[0] == (Relation("lib0.so()(64bit)"),)


@LINEAR_TIMEOUT
def test_yum_rich_dependency_many_alternatives_linear() -> None:
    text = "(" + " or ".join(f"p{i}" for i in range(N)) + ")"
    (clause,) = timed(lambda: requirement(text))
    assert len(clause) == N and clause[-1] == Relation(f"p{N - 1}")


def test_yum_rich_dependency_mixed_still_distributes() -> None:
    assert requirement("((a and b) or c or (d and e))") == [
        (Relation("a"), Relation("c"), Relation("d")), (Relation("a"), Relation("c"), Relation("e")),
        (Relation("b"), Relation("c"), Relation("d")), (Relation("b"), Relation("c"), Relation("e"))]


@LINEAR_TIMEOUT
def test_apt_relations_many_entries_linear() -> None:
    alternatives = " | ".join(f"p{i} (>= 1.{i})" for i in range(N))
    groups = ", ".join(f"q{i} (>= 1.{i})" for i in range(N))
    assert len(timed(lambda: parse_relations(alternatives))[0]) == N
    assert len(timed(lambda: parse_relations(groups))) == N


@LINEAR_TIMEOUT
def test_apt_stanza_many_continuation_lines_linear() -> None:
    depends = ",\n ".join(f"p{i}" for i in range(N))
    (pkg,) = timed(lambda: parse_packages(f"Package: a\nVersion: 1\nDepends: {depends}\n",
                                          base_url="http://m/", repo_id="main"))
    assert len(pkg.depends) == N


@LINEAR_TIMEOUT
def test_apk_depends_many_entries_linear() -> None:
    tokens = " ".join(f"so:lib{i}.so.1" for i in range(N)) + " " + " ".join(f"!c{i}" for i in range(N))
    depends, conflicts = timed(lambda: parse_depends(tokens))
    assert len(depends) == N and len(conflicts) == N
    text = f"P:a\nV:1-r0\nD:{tokens}\np:" + " ".join(f"cmd:x{i}" for i in range(N)) + "\n"
    (pkg,) = timed(lambda: parse_apkindex(text, "http://m/main", "x86_64"))
    assert len(pkg.provides) == N


# ---------------------------------------------------------------------------------------------
# 5. bounded error messages


@LINEAR_TIMEOUT
def test_resolve_failure_with_10000_alternatives_is_one_short_line() -> None:
    from bootstrap.adapters.apt.packages import debian_version_scheme

    top = Package(name="top", version="1", arch="amd64",
                  depends=(tuple(Relation(f"missing-{i}", ">=", "1") for i in range(N)),))
    with pytest.raises(ResolveError) as info:
        timed(lambda: resolve([top], [(Relation("top"),)], debian_version_scheme("amd64")))
    text = one_line(info.value)
    assert "… and 9995 more" in text and "missing-9999" not in text
    assert len(info.value.hint or "") <= 1000


def test_index_text_in_messages_is_clipped() -> None:
    with pytest.raises(RepositoryIndexError) as info:
        parse_relations("a (" + "x" * 100_000)
    assert len(one_line(info.value)) < 200


# ---------------------------------------------------------------------------------------------
# 6. names, versions and arches that would become paths

BAD_NAMES = ["a/b", "../etc", "a..b", "a\0b", "a\nb", ".."]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_apt_bad_package_name_refused(name: str) -> None:
    value = name.replace("\n", "\n ")  # a newline in a deb822 value is a continuation line
    with pytest.raises(RepositoryIndexError) as info:
        parse_packages(f"Package: {value}\nVersion: 1\nArchitecture: all\n", base_url="http://m/", repo_id="main")
    text = one_line(info.value)
    assert text.startswith("index of main: refusing package name ") and "\0" not in text


def test_apt_empty_name_refused() -> None:
    with pytest.raises(RepositoryIndexError):
        parse_packages("Package:\nVersion: 1\n", base_url="http://m/", repo_id="main")


@pytest.mark.parametrize(("field", "value"), [("Version", "1/../../x"), ("Architecture", "amd64/../x"),
                                              ("Architecture", "..")])
def test_apt_bad_version_or_arch_refused(field: str, value: str) -> None:
    fields = {"Package": "a", "Version": "1", "Architecture": "all", field: value}
    with pytest.raises(RepositoryIndexError) as info:
        parse_packages("".join(f"{k}: {v}\n" for k, v in fields.items()), base_url="http://m/", repo_id="main")
    assert f"refusing {field.lower()} of a" in one_line(info.value)


def _primary_with(name: str, arch: str = "x86_64", ver: str = "1") -> bytes:
    from xml.sax.saxutils import escape, quoteattr

    return ('<metadata xmlns="http://linux.duke.edu/metadata/common"><package type="rpm">'
            f"<name>{escape(name).replace(chr(10), '&#10;')}</name><arch>{escape(arch)}</arch>"
            f"<version ver={quoteattr(ver)} rel=\"1\"/></package></metadata>").encode()


@pytest.mark.parametrize("name", BAD_NAMES + [""])
def test_yum_bad_package_name_refused(name: str) -> None:
    with pytest.raises(RepositoryIndexError) as info:
        parse_primary(io.BytesIO(_primary_with(name)), "http://m/", "base")
    text = one_line(info.value)  # NUL is no XML at all: refused as corrupt metadata
    assert "refusing package name" in text or ("\0" in name and "is corrupt" in text)


@pytest.mark.parametrize(("arch", "ver"), [("x86_64/..", "1"), ("x86_64", "1/../x"), ("..", "1")])
def test_yum_bad_version_or_arch_refused(arch: str, ver: str) -> None:
    with pytest.raises(RepositoryIndexError) as info:
        parse_primary(io.BytesIO(_primary_with("a", arch, ver)), "http://m/", "base")
    assert "refusing" in one_line(info.value)


@pytest.mark.parametrize("name", [n for n in BAD_NAMES if "\n" not in n] + [""])
def test_apk_bad_package_name_refused(name: str) -> None:
    with pytest.raises(RepositoryIndexError) as info:
        parse_apkindex(f"P:{name}\nV:1-r0\n", "http://m/main", "x86_64", "main")
    assert one_line(info.value).startswith("APKINDEX of main: refusing package name ")


def test_apk_newline_in_name_cannot_smuggle_a_field() -> None:
    """APKINDEX is line based: a newline ends the P: line, and the rest is no field."""
    (pkg,) = parse_apkindex("P:a\nb\nV:1-r0\n", "http://m/main", "x86_64", "main")
    assert pkg.name == "a"


@pytest.mark.parametrize(("letter", "value"), [("V", "1/../../x"), ("V", ".."), ("A", "x86_64/.."), ("V", "")])
def test_apk_bad_version_or_arch_refused(letter: str, value: str) -> None:
    fields = {"P": "a", "V": "1-r0", letter: value}
    with pytest.raises(RepositoryIndexError):
        parse_apkindex("".join(f"{k}:{v}\n" for k, v in fields.items()), "http://m/main", "x86_64", "main")


def test_good_names_still_pass() -> None:
    (deb,) = parse_packages("Package: libstdc++6\nVersion: 1:12.2.0-14+deb12u1~a\nArchitecture: amd64\n",
                            base_url="http://m/", repo_id="main")
    (apk,) = parse_apkindex("P:so:libc.musl-x86_64.so.1\nV:1.2.3_git20230101-r0\n", "http://m/main", "x86_64")
    (rpm,) = parse_primary(io.BytesIO(_primary_with("perl-Data-Dumper.x", ver="2.183")), "http://m/")
    assert (deb.name, apk.name, rpm.name) == ("libstdc++6", "so:libc.musl-x86_64.so.1", "perl-Data-Dumper.x")


# ---------------------------------------------------------------------------------------------
# 7. mirror URLs

BAD_MIRRORS = ["not a url at all", "http://[::1", "http://", "https:///x", "ftp://m/debian", "mirror.example/debian",
               "http://m:port/", "file://host/x", "http://m/\n", ""]


@pytest.mark.parametrize("url", BAD_MIRRORS)
def test_malformed_mirror_refused_with_a_hint(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        check_mirror(url, "--mirror")
    assert one_line(info.value).startswith("--mirror: ")
    assert "http" in (info.value.hint or "") and info.value.exit_code == 2


@pytest.mark.parametrize("url", ["not a url at all", "http://[::1"])
def test_load_profile_refuses_a_malformed_mirror(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_profile("debian-bookworm", Overrides(mirror=url), environ={})
    assert "is not a mirror URL" in one_line(info.value)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8/deb/", "https://[::1]:8443/x", "file:///srv/mirror",
                                 "/srv/mirror", "HTTP://Mirror.Example/debian"])
def test_good_mirrors_pass(url: str) -> None:
    assert check_mirror(url, "--mirror") == url
